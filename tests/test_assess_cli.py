"""`voice-triage assess --answers FILE --json`, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_triage.model import CAUSES, RED_FLAGS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_triage", *args], capture_output=True, text=True,
                          timeout=60)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GTPS_YAML = """\
pain_location: outer_hip
pain_spread: none
lying_on_side: yes
tender_side: yes
single_leg_stance: yes
"""


def test_json_shape(tmp_path: Path) -> None:
    answers = write(tmp_path, "a.yaml", GTPS_YAML + "".join(f"{f}: no\n" for f in RED_FLAGS))
    done = run("assess", "--answers", str(answers), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {"urgency", "red_flags", "likely_group", "causes", "explanation"}
    assert out["urgency"] == "routine" and out["red_flags"] == [] and out["likely_group"] == "glute"
    assert sorted(c["id"] for c in out["causes"]) == sorted(CAUSES)
    scores = [c["score"] for c in out["causes"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    for c in out["causes"]:
        assert set(c) == {"id", "group", "score", "reasons"} and isinstance(c["reasons"], list)
    assert out["causes"][0]["id"] == "gtps"
    assert "not a diagnosis" in out["explanation"]
    assert done.stdout.count("\n") == 1  # one JSON object, nothing else on stdout


def test_json_file_with_booleans_and_red_flag(tmp_path: Path) -> None:
    answers = write(tmp_path, "a.json", json.dumps({"rf_saddle": True, "rf_bladder_bowel": False,
                                                     "pain_location": "lower_back", "nerve_sensations": True}))
    done = run("assess", "--answers", str(answers), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["urgency"] == "emergency" and out["red_flags"] == ["rf_saddle"]


def test_grouped_red_flag_id_is_accepted(tmp_path: Path) -> None:
    answers = write(tmp_path, "a.yaml", "rf_urgent_any: no\npain_location: groin\n")
    done = run("assess", "--answers", str(answers), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["urgency"] == "routine"


def test_empty_file_means_all_unknown(tmp_path: Path) -> None:
    answers = write(tmp_path, "a.yaml", "")
    done = run("assess", "--answers", str(answers), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["urgency"] == "routine" and len(out["causes"]) == len(CAUSES)


def test_without_json_prints_the_explanation(tmp_path: Path) -> None:
    answers = write(tmp_path, "a.yaml", GTPS_YAML)
    done = run("assess", "--answers", str(answers))
    assert done.returncode == 0 and "not a diagnosis" in done.stdout


BAD = [
    ("unknown question id", "a.yaml", "pain_where: outer_hip\n", ["a.yaml", "pain_where", "unknown question id"]),
    ("bad value", "a.yaml", "pain_location: knee\n", ["a.yaml", "pain_location", "knee", "not an answer"]),
    ("bad yes/no value", "a.json", '{"cough_sneeze": "sometimes"}', ["a.json", "cough_sneeze", "sometimes"]),
    ("number as answer", "a.yaml", "tender_side: 3\n", ["a.yaml", "tender_side", "not an answer"]),
    ("invalid YAML", "a.yaml", "pain_location: [outer_hip\n", ["a.yaml", "invalid YAML at line"]),
    ("invalid JSON", "a.json", '{"pain_location": ', ["a.json", "invalid YAML at line"]),
    ("not a mapping", "a.yaml", "- outer_hip\n- yes\n", ["a.yaml", "must map question ids"]),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_answers_file(tmp_path: Path, case: tuple) -> None:
    _, name, text, expected = case
    answers = write(tmp_path, name, text)
    done = run("assess", "--answers", str(answers), "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("voice-triage: ")
    for word in expected:
        assert word in lines[0], lines[0]


def test_missing_file(tmp_path: Path) -> None:
    done = run("assess", "--answers", str(tmp_path / "nowhere.yaml"), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert "nowhere.yaml" in done.stderr and "file not found" in done.stderr


def test_folder_instead_of_file(tmp_path: Path) -> None:
    done = run("assess", "--answers", str(tmp_path), "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr and str(tmp_path) in done.stderr
