"""Shared fixtures. `audio_server`: tests marked @pytest.mark.audio_server take it, and it
skips them, with the reason, when the virtual audio devices are not running. `count_decodes`: the
decodes a pocketsphinx recogniser runs, counted."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest


@dataclass(frozen=True)
class AudioServer:
    """The PulseAudio daemon of scripts/audio_server.sh and its two null sinks."""

    speaker_sink: str = "vt_sink"            # the program plays here ...
    speaker_monitor: str = "vt_sink.monitor"  # ... and tests record this
    mic_sink: str = "vt_mic"                 # tests play answers here ...
    mic_source: str = "vt_mic.monitor"       # ... and the program's microphone records this
    env: dict[str, str] = field(default_factory=dict)   # for subprocesses of the program


def _why_not_running() -> str | None:
    for tool in ("pactl", "paplay", "parec"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (Debian: pulseaudio-utils)"
    try:
        info = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=10)
        sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pactl does not answer ({exc})"
    if info.returncode != 0:
        return "no PulseAudio server is running"
    names = {line.split("\t")[1] for line in sinks.stdout.splitlines() if "\t" in line}
    missing = sorted({"vt_sink", "vt_mic"} - names)
    if missing:
        return f"the PulseAudio server has no null sink {missing[0]}"
    return None


@pytest.fixture(scope="session")
def audio_server() -> AudioServer:
    reason = _why_not_running()
    if reason is not None:
        pytest.skip(f"needs the virtual audio devices: run `bash scripts/audio_server.sh` ({reason})")
    server = AudioServer()
    # The program's default devices are the virtual ones, whatever started the server.
    subprocess.run(["pactl", "set-default-sink", server.speaker_sink], capture_output=True, timeout=10)
    subprocess.run(["pactl", "set-default-source", server.mic_source], capture_output=True, timeout=10)
    env = dict(os.environ, PULSE_SINK=server.speaker_sink, PULSE_SOURCE=server.mic_source)
    return AudioServer(env=env)


@pytest.fixture(scope="session")
def latency_rig(audio_server: AudioServer):
    """scripts/bench_latency.py as a module: its VirtualRoom plays into the virtual microphone
    and records the virtual speaker, for the tests and the latency benchmark alike."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "bench_latency.py"
    spec = importlib.util.spec_from_file_location("bench_latency", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def count_decodes(monkeypatch):
    """count_decodes(rec) -> a list that gets "decode" for each pocketsphinx decode of a stretch
    (SphinxRecognizer._engine_evidence) and "moonshine" for each Moonshine opinion rec runs from
    then on, in order. Skips, with the reason, where moonshine-cpp is not installed."""

    def count(rec) -> list[str]:
        calls: list[str] = []
        engine, judge = rec._engine_evidence, rec.judge
        if judge is None:
            pytest.skip("moonshine-cpp is not installed on this platform")
        opinion = judge.opinion
        monkeypatch.setattr(rec, "_engine_evidence", lambda *a: calls.append("decode") or engine(*a))
        monkeypatch.setattr(judge, "opinion", lambda *a, **k: calls.append("moonshine") or opinion(*a, **k))
        return calls

    return count
