"""`voice-triage transcribe` as a user runs it: a real process, real audio, the bundled engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

AUDIO = Path(__file__).parent / "fixtures" / "audio"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_triage", *args], capture_output=True, text=True,
                          timeout=120)


def clip(voice: str, value: str) -> str:
    return str(AUDIO / voice / f"{value}.wav")


@pytest.mark.slow
def test_one_file_one_object() -> None:
    r = run("transcribe", clip("piper_joe", "yes"), "--question", "nerve_sensations", "--json", "--engine", "sphinx")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert set(obj) >= {"text", "answer", "confidence"} and "file" not in obj
    assert obj["answer"] == "yes"
    assert 0.0 <= obj["confidence"] <= 1.0
    assert r.stdout.count("\n") == 1            # only the JSON object on stdout


@pytest.mark.slow
def test_several_files_results_in_order() -> None:
    files = [clip("flite_kal16", "groin"), clip("flite_awb", "lower_back"), clip("flite_slt", "stop")]
    r = run("transcribe", *files, "--question", "pain_location", "--json", "--engine", "sphinx")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)["results"]
    assert [x["file"] for x in results] == files
    assert [x["answer"] for x in results] == ["groin", "lower_back", "stop"]
    for x in results:
        assert set(x) >= {"file", "text", "answer", "confidence"}


@pytest.mark.slow
def test_plain_output_without_json() -> None:
    r = run("transcribe", clip("flite_kal16", "no"), "--question", "cough_sneeze", "--engine", "sphinx")
    assert r.returncode == 0, r.stderr
    assert "no" in r.stdout and not r.stdout.lstrip().startswith("{")


def test_bad_wav_is_exit_2_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "song.wav"
    bad.write_bytes(b"ID3\x03\x00" + bytes(100))
    r = run("transcribe", str(bad), "--question", "nerve_sensations", "--json", "--engine", "sphinx")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(bad) in lines[0] and "MP3" in lines[0]


def test_missing_wav_is_exit_2(tmp_path: Path) -> None:
    r = run("transcribe", str(tmp_path / "gone.wav"), "--question", "pain_spread", "--engine", "sphinx")
    assert r.returncode == 2
    assert "gone.wav" in r.stderr and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_unknown_question_is_exit_2() -> None:
    r = run("transcribe", clip("espeak", "yes"), "--question", "favourite_colour", "--json", "--engine", "sphinx")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "favourite_colour" in lines[0] and "Traceback" not in r.stderr
