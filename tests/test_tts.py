"""Speech out: pyttsx3/espeak-ng rendering, rate, the cache, saved audio, no audio left behind,
and prompts reaching the virtual speaker as speech the recogniser understands."""

from __future__ import annotations

import io
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_triage.errors import DeviceError
from voice_triage.tts import RATE_STEP, SpeechVoice, clamp_rate

LONG = ("Have you had any new numbness or tingling around your back passage, your genitals, or your "
        "inner thighs? That is the area you would sit on in a saddle.")


def seconds(audio: tuple[np.ndarray, int]) -> float:
    samples, rate = audio
    return samples.size / rate


def test_a_prompt_is_rendered_as_speech_of_the_right_length() -> None:
    with SpeechVoice(None, save_audio=None, out=None) as voice:
        samples, rate = voice.render("Does coughing or sneezing make the leg pain worse?")
    assert samples.dtype == np.int16 and rate > 8000
    assert 1.5 < samples.size / rate < 6.0
    assert np.abs(samples).max() > 3000


def test_a_long_prompt_is_rendered_whole_the_first_time() -> None:
    """pyttsx3 2.99 returns from runAndWait before espeak-ng has finished a long text."""
    with SpeechVoice(None, save_audio=None) as voice:
        first = voice.render(LONG)
        voice.set_rate(voice.rate + 1)
        voice.set_rate(voice.rate - 1)
        again = SpeechVoice(None)._render(LONG, voice.rate)
    words = len(LONG.split())
    assert seconds(first) > 0.7 * words / voice.rate * 60
    assert seconds(first) == pytest.approx(seconds(again), abs=0.05)


def test_two_voices_rendering_at_once_both_get_whole_prompts() -> None:
    """pyttsx3 hands every caller the same engine (and espeak-ng has one callback per process): two
    voices rendering at once, as a voice's background prepare() and another voice can, must take
    turns. Without the process-wide lock one of two such threads never returned (2026-11-27)."""
    import threading
    whole = seconds(SpeechVoice(None)._render(LONG, 170))
    got: list[float] = []

    def work(voice: SpeechVoice) -> None:
        for _ in range(4):
            got.append(seconds(voice._render(LONG, 170)))

    threads = [threading.Thread(target=work, args=(SpeechVoice(None),), daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a render never returned"
    assert len(got) == 8 and all(g == pytest.approx(whole, abs=0.05) for g in got), (whole, got)


def test_rate_changes_the_speed_and_is_bounded() -> None:
    with SpeechVoice(None) as voice:
        normal = seconds(voice.render("Please say yes, no, or I don't know."))
        voice.set_rate(voice.rate - 2 * RATE_STEP)
        slow = seconds(voice.render("Please say yes, no, or I don't know."))
        assert slow > normal * 1.2
        voice.set_rate(10)
        assert voice.rate == clamp_rate(10) > 10
        voice.set_rate(10_000)
        assert voice.rate == clamp_rate(10_000) < 10_000


def test_renders_are_cached_per_text_and_rate() -> None:
    with SpeechVoice(None) as voice:
        a = voice.render("yes")
        assert voice.render("yes") is a
        voice.set_rate(voice.rate + RATE_STEP)
        assert voice.render("yes") is not a


def test_prepare_renders_in_the_background() -> None:
    with SpeechVoice(None) as voice:
        voice.prepare(["Is it in both legs?", "Thank you."])
        voice._prepare.join(timeout=30)
        began = time.monotonic()
        voice.render("Is it in both legs?")
        assert time.monotonic() - began < 0.01


def test_no_audio_is_left_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # where the renders go
    with SpeechVoice(None) as voice:
        voice.render("Is it in both legs?")
        voice.render(LONG)
    assert list(tmp_path.rglob("*")) == []


def test_save_audio_holds_every_prompt(tmp_path: Path) -> None:
    target = tmp_path / "session.wav"
    with SpeechVoice(None, save_audio=target) as voice:
        a = voice.render("Hello.")
        b = voice.render("Is it in both legs?")
        voice.say("Hello.")
        voice.say("Is it in both legs?")
    with wave.open(str(target)) as w:
        saved = w.getnframes() / w.getframerate()
    assert saved >= seconds(a) + seconds(b)
    assert saved < seconds(a) + seconds(b) + 1.0


def test_without_a_speaker_the_prompts_are_printed() -> None:
    out = io.StringIO()
    voice = SpeechVoice(None, out=out)
    voice.say("Is it in   both legs?")
    voice.say("")
    assert out.getvalue() == "Is it in both legs?\n"


def test_no_pyttsx3_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyttsx3", None)   # as if it were not installed
    with pytest.raises(DeviceError) as err:
        SpeechVoice(None, save_audio=tmp_path / "x.wav")
    assert str(err.value) == "speech output is not available: pyttsx3 is not installed (pip install pyttsx3)"


@pytest.mark.audio_server
def test_prompts_reach_the_virtual_speaker_as_speech(audio_server) -> None:
    import importlib.util

    from voice_triage.audio import to_mono16k
    from voice_triage.devices import Speaker

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("bench_latency", root / "scripts" / "bench_latency.py")
    rig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rig)
    room = rig.VirtualRoom()
    try:
        with SpeechVoice(Speaker(), rate=150) as voice:
            rendered = voice.render("upper buttock")
            expected = seconds(rendered)
            began = time.monotonic()
            voice.say("upper buttock")
            time.sleep(0.3)
            heard = room.speaker.audio_since(began)
    finally:
        room.close()
    loud = np.nonzero(np.abs(heard.astype(int)) > 300)[0]
    assert loud.size, "no sound reached the virtual speaker"
    assert (loud[-1] - loud[0]) / 16000 == pytest.approx(expected, abs=0.2)
    # It is the prompt's speech: its loudness contour (10 ms frames) follows the rendered one.
    sent = to_mono16k(*rendered)

    def contour(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        return np.sqrt(np.array([np.mean(x[i:i + 160] ** 2) for i in range(0, x.size - 160, 160)]))

    a, b = contour(sent), contour(heard[max(0, loud[0] - 1600):])
    best = max(np.corrcoef(a, b[k:k + a.size])[0, 1] for k in range(0, min(40, b.size - a.size)))
    assert best > 0.9
