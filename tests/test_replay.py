"""Whole recorded sessions: `voice-triage replay DIR --json` through the real bundled recogniser.

Each folder in tests/fixtures/sessions/ (and the demo in content/en/demo/) holds numbered turns and
an expected.yaml written by scripts/make_sessions.py: what the person meant, what each turn says,
and what the interview must conclude. One parametrized test replays every folder (slow: it loads
pocketsphinx); quick tests check that the folders are in step with the interview and that broken
input gets one clear line.
"""

from __future__ import annotations

import dataclasses
import filecmp
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voice_triage.yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = ROOT / "tests" / "fixtures" / "sessions"
DEMO = ROOT / "content" / "en" / "demo"
FOLDERS = sorted(p for p in SESSIONS.iterdir() if (p / "expected.yaml").is_file()) + [DEMO]
IDS = [p.name for p in FOLDERS]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voice_triage", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def expected(folder: Path) -> dict[str, Any]:
    return load_yaml(folder / "expected.yaml")


def one_json_object(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object (and a newline), nothing else."""
    decoder = json.JSONDecoder()
    text = stdout.lstrip()
    data, end = decoder.raw_decode(text)
    assert text[end:].strip() == "", f"more than one JSON value on stdout: {text[end:][:200]!r}"
    assert isinstance(data, dict)
    return data


def heard(data: dict[str, Any], turns: list[dict[str, Any]]) -> str:
    """The transcript next to the script, one turn a line, for failure messages."""
    lines = []
    for i, t in enumerate(data["transcript"]):
        meant = turns[i]["says"] if i < len(turns) else "(after the script)"
        lines.append(f"  {i + 1:2d} {t.get('kind', '?'):12s} {t['question'] or '-':18s} says {meant:14s} "
                     f"heard {t['heard']!r} -> {t['answer']} ({t['confidence']})")
    return "\n".join(lines)


def _turn_index(transcript: list[dict[str, Any]], pred) -> int:
    return next((i for i, t in enumerate(transcript) if pred(t)), -1)


# --- the folders are in step with the interview -------------------------------------------------

@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_session_folder_matches_its_expected_turns(folder):
    exp = expected(folder)
    files = sorted(p.name for p in folder.glob("*.wav"))
    width = max(2, len(str(len(exp["turns"]))))
    spoken = sorted(f"{t['n']:0{width}d}.wav" for t in exp["turns"] if t["says"] != "silence")
    assert files == spoken
    assert exp["expect"]["turns"] == len(exp["turns"])
    assert exp["expect"]["first_cause"] in exp["expect"]["top"]


def _make_sessions():
    """scripts/make_sessions.py as a module (registered first: dataclasses look their module up)."""
    if "make_sessions" not in sys.modules:
        spec = importlib.util.spec_from_file_location("make_sessions", ROOT / "scripts" / "make_sessions.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["make_sessions"] = module
        spec.loader.exec_module(module)
    return sys.modules["make_sessions"]


def test_sessions_are_up_to_date_with_the_interview(tmp_path):
    """The sessions follow today's interview flow: rebuilding them changes nothing. If this fails,
    the flow or the content changed: rerun `python scripts/make_sessions.py`."""
    ms = _make_sessions()
    content = ms.load_content("en")
    texts = ms._clip_texts()
    for script in (*ms.SCRIPTS, ms.DEMO_SCRIPT):
        committed = script.folder or ms.SESSIONS / script.name
        fresh = tmp_path / script.name
        ms.build(content, dataclasses.replace(script, folder=fresh), texts)
        names = sorted(p.name for p in fresh.iterdir())
        assert names == sorted(p.name for p in committed.iterdir() if p.suffix == ".wav"
                               or p.name == "expected.yaml"), f"{script.name}: rerun scripts/make_sessions.py"
        _, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
        assert not mismatch and not errors, f"{script.name}: {mismatch or errors} differ: rerun scripts/make_sessions.py"


# --- replay through the real recogniser -----------------------------------------------------------

# Sessions whose recording holds a plain clip the bundled recogniser still does not act on (it
# reads its guess back or asks again, and every later recorded turn then answers the wrong
# prompt). Measured, not excused: each scenario also has a "_2" session in another voice that
# must pass. Non-strict, so a better recogniser turns these into passes.
KNOWN_MISHEARD: dict[str, str] = {}
# (go_back was here until 2026-11-26 (fourth round): hibari's "no" is heard as "help" by pocketsphinx, with "no"
# a hair behind, and Moonshine's "no" led by 5 against the bar of 6 then; read back as a guess.
# Now a runner-up that close counts as the models not disagreeing, and the bar is 5.)
# (red_flag_confirmed and stop_halfway were here until 2026-11-26: pocketsphinx is only just sure of
# espeak's "nope" (0.68), so it was read back; now Moonshine backs it and it is taken as it is.)
# (The same weakness picked stop_halfway_2's voice: piper joe's and hibari's one-word "stop" are
# rejected too, at 0.18 and 0.44; flite rms's is heard.)
REPLAY_CASES = [pytest.param(f, id=f.name, marks=[pytest.mark.xfail(reason=KNOWN_MISHEARD[f.name], strict=False)])
                if f.name in KNOWN_MISHEARD else pytest.param(f, id=f.name) for f in FOLDERS]


@pytest.mark.slow
@pytest.mark.parametrize("folder", REPLAY_CASES)
def test_replay_reaches_the_expected_outcome(folder):
    exp = expected(folder)
    want = exp["expect"]
    proc = cli("replay", str(folder), "--json", "--engine", "sphinx")
    assert proc.returncode == 0, proc.stderr
    data = one_json_object(proc.stdout)
    transcript = data["transcript"]
    log = f"{folder.name} ({exp['voice']}): {exp['description']}\n{heard(data, exp['turns'])}"

    # Turn by turn, the interview heard what each file says (retries, back, repeat in place).
    got_turns = [(t["question"], t["answer"]) for t in transcript]
    want_turns = [(t.get("question"), None if t["says"] == "silence" else t["says"]) for t in exp["turns"]]
    assert got_turns == want_turns, log
    assert data["turns"] == want["turns"] == len(transcript), log

    # What it settled on and what it concluded.
    assert data["answers"] == want["answers"], log
    assert data["urgency"] == want["urgency"], log
    assert data["causes"][0]["id"] in want["top"], log
    assert data["causes"][0]["group"] == want["group"], log
    assert sorted(data["red_flags"]) == sorted(want["red_flags"]), log
    assert data["stopped"] is want["stopped"], log

    for check in want["checks"]:
        kind, _, qid = check.partition(":")
        if kind == "red_flag_confirmed":
            i = _turn_index(transcript, lambda t: t["question"] == qid and t["answer"] == "yes")
            assert i >= 0 and transcript[i + 1]["kind"] == "confirm" and transcript[i + 1]["answer"] == "yes", log
            assert qid in data["red_flags"] and data["answers"][qid] == "yes", log
        elif kind == "red_flag_corrected":
            i = _turn_index(transcript, lambda t: t["question"] == qid and t["answer"] == "yes")
            assert i >= 0 and transcript[i + 1]["kind"] == "confirm" and transcript[i + 1]["answer"] == "no", log
            assert (transcript[i + 2]["question"], transcript[i + 2]["answer"]) == (qid, "no"), log
            assert data["answers"][qid] == "no" and qid not in data["red_flags"], log
        elif kind == "silence":
            i = _turn_index(transcript, lambda t: t["question"] == qid)
            assert transcript[i]["heard"] == "" and transcript[i]["answer"] is None, log
            assert (transcript[i + 1]["question"], transcript[i + 1]["answer"]) == (qid, exp["intended"][qid]), log
        elif kind == "back":
            asked = [i for i, t in enumerate(transcript) if t["question"] == qid]
            assert len(asked) == 2, log
            first, second = (transcript[i]["answer"] for i in asked)
            assert first != second and transcript[asked[0] + 1]["answer"] == "back", log
            assert data["answers"][qid] == second == exp["intended"][qid], log
        elif kind == "repeat":
            i = _turn_index(transcript, lambda t: t["answer"] == "repeat")
            assert transcript[i]["question"] == qid, log
            assert (transcript[i + 1]["question"], transcript[i + 1]["answer"]) == (qid, exp["intended"][qid]), log
            assert transcript[i + 1]["prompt"] == transcript[i]["prompt"], log   # said again in full
        elif kind == "stopped":
            assert transcript[-1]["answer"] == "stop" and data["stopped"] is True, log
            # The answers given before "stop" are kept, and only those.
            assert all(data["answers"][q] == exp["intended"].get(q, data["answers"][q])
                       for q in data["answers"]), log
            assert 0 < len(data["answers"]) < len(exp["intended"]), log
        else:
            raise AssertionError(f"unknown check {check!r} in {folder / 'expected.yaml'}")


# --- broken input: one clear line, exit 2 -------------------------------------------------------

@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "folder not found"),
    (lambda d: d.mkdir(), "no numbered WAV files"),
    (lambda d: (d.mkdir(), (d / "01.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk")), "01.wav"),
    (lambda d: (d.mkdir(), (d / "01.wav").write_text("not audio at all")), "not a WAV file"),
], ids=["missing", "empty", "broken-header", "not-wav"])
def test_replay_bad_folder_is_one_clear_line(tmp_path, setup, message):
    folder = tmp_path / "session"
    setup(folder)
    proc = cli("replay", str(folder), "--json", "--engine", "sphinx")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("voice-triage: ") and message in lines[0] and "Traceback" not in proc.stderr
