"""Microphone and speaker: device look-up and its messages, resampling, and real playback and
recording through the PulseAudio null sinks (no mocks)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from voice_triage.devices import DeviceError, Microphone, Speaker, find_device, list_devices, resample

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio" / "espeak"



def tone(seconds: float, rate: int, hz: float = 440.0, amp: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.int16)


@pytest.mark.parametrize("kind,what", [("input", "microphone"), ("output", "speaker")])
def test_a_device_name_that_does_not_exist_is_one_clear_line(kind: str, what: str) -> None:
    with pytest.raises(DeviceError) as err:
        find_device("no-such-device-xyz", kind)
    message = str(err.value)
    assert "\n" not in message
    assert f"no {what}" in message and "no-such-device-xyz" in message and "voice-triage doctor" in message


def test_a_device_number_that_does_not_exist_is_one_clear_line() -> None:
    with pytest.raises(DeviceError, match=r"there is no microphone number 9999 "):
        find_device("9999", "input")


def test_the_command_line_says_so_for_a_missing_microphone() -> None:
    r = subprocess.run([sys.executable, "-m", "voice_triage", "--engine", "sphinx", "--quiet",
                        "--input-device", "no-such-mic"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "voice-triage: there is no microphone named 'no-such-mic' ('voice-triage doctor' lists the devices)"]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_keeps_pitch_and_length(rate: int) -> None:
    x = tone(1.0, rate, hz=1000.0)
    y = resample(x, rate, 16000)
    assert abs(y.size - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
    assert abs(np.argmax(spectrum) * 16000 / y.size - 1000.0) < 5
    assert 0.8 < np.abs(y).max() / 8000 < 1.1


def test_resampling_in_blocks_matches_resampling_at_once() -> None:
    from voice_triage.devices import _StreamResampler

    x = tone(0.5, 44100, hz=700.0)
    whole = resample(x, 44100, 16000)
    stream = _StreamResampler(44100, 16000)
    pieces = np.concatenate([stream.process(x[i:i + 441]) for i in range(0, x.size, 441)])
    assert abs(pieces.size - whole.size) <= 1
    n = min(pieces.size, whole.size)
    assert np.max(np.abs(pieces[:n].astype(int) - whole[:n].astype(int))) <= 2


@pytest.mark.audio_server
def test_the_virtual_devices_are_listed(audio_server) -> None:
    devices = list_devices()
    assert any(d.inputs > 0 for d in devices) and any(d.outputs > 0 for d in devices)
    assert find_device(None, "input").inputs > 0
    assert find_device("pulse", "output").name == "pulse"


@pytest.mark.audio_server
def test_the_speaker_plays_to_the_end_and_returns(audio_server, latency_rig) -> None:
    room = latency_rig.VirtualRoom()
    try:
        speaker = Speaker()
        began = time.monotonic()
        assert speaker.play(tone(0.8, 22050), 22050) is True
        took = time.monotonic() - began
        time.sleep(0.2)
        heard = room.speaker.audio_since(began)
    finally:
        room.close()
    assert 0.75 <= took <= 1.3
    loud = np.nonzero(np.abs(heard.astype(int)) > 1000)[0]
    assert loud.size, "nothing reached the virtual speaker"
    assert (loud[-1] - loud[0]) / 16000 == pytest.approx(0.8, abs=0.06)


def _heard_through_the_microphone(audio_server, wav: Path) -> np.ndarray:
    """What the program's microphone (16 kHz) records while `wav` is played into the virtual one."""
    with Microphone() as mic:
        assert mic.rate == 16000
        time.sleep(0.2)
        mic.flush()
        subprocess.run(["paplay", f"--device={audio_server.mic_sink}", str(wav)], check=True, timeout=30)
        time.sleep(0.2)
        # What came in until now (the microphone never stops).
        blocks = [b for b in (mic.read(0.05) for _ in range(mic._queue.qsize())) if b is not None]
    return np.concatenate(blocks)


@pytest.mark.audio_server
def test_an_answer_through_an_8_khz_headset_is_heard_as_a_narrow_band(audio_server, tmp_path: Path) -> None:
    """An answer played at 8 kHz (as a Bluetooth headset's narrowband link delivers it) and recorded
    at 16 kHz through PulseAudio's own resampling lies under the narrowband line (sphinx.NARROWBAND_DB);
    the same answer played at 16 kHz lies far above it."""
    from voice_triage.audio import frame_energies_db, high_band_db, load_wav, speech_segment, write_wav
    from voice_triage.audio import resample as resample_audio
    from voice_triage.recognition.sphinx import NARROWBAND_DB

    def band(x: np.ndarray) -> float:
        seg = speech_segment(frame_energies_db(x))
        assert seg is not None, "no answer heard"
        return high_band_db(x[seg[0] * 160:seg[1] * 160])

    wide = FIXTURES.parent / "piper_joe" / "faster.wav"
    x = load_wav(wide).astype(np.float64)
    eight = np.clip(np.round(resample_audio(x, 16000, 8000)), -32768, 32767).astype(np.int16)
    write_wav(tmp_path / "headset.wav", eight, 8000)
    assert band(_heard_through_the_microphone(audio_server, tmp_path / "headset.wav")) < NARROWBAND_DB - 3.0
    assert band(_heard_through_the_microphone(audio_server, wide)) > NARROWBAND_DB + 20.0


@pytest.mark.audio_server
def test_stop_cuts_the_speaker_short(audio_server) -> None:
    speaker = Speaker()
    threading.Timer(0.3, speaker.stop).start()
    began = time.monotonic()
    assert speaker.play(tone(3.0, 16000), 16000) is False
    assert time.monotonic() - began < 0.8


@pytest.mark.audio_server
def test_the_microphone_hears_what_is_played_into_it(audio_server) -> None:
    from voice_triage.audio import load_wav

    expected = load_wav(FIXTURES / "upper_buttock.wav")
    heard = _heard_through_the_microphone(audio_server, FIXTURES / "upper_buttock.wav")
    assert heard.dtype == np.int16
    # The same speech came through: same loudness, same length of sound.
    def span(x: np.ndarray) -> float:
        loud = np.nonzero(np.abs(x.astype(int)) > 500)[0]
        return (loud[-1] - loud[0]) / 16000

    assert np.abs(heard).max() == pytest.approx(np.abs(expected).max(), rel=0.1)
    assert span(heard) == pytest.approx(span(expected), abs=0.05)
