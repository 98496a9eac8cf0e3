"""load_wav reads every WAV the CONTRACT promises, and names the file and the problem for anything else."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import (frame_energies_db, load_wav, speech_segment, suppress_noise, to_mono16k,
                                write_wav)
from voice_triage.errors import AudioError, BadInputError

_PCM, _FLOAT, _EXT = 1, 3, 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT without their first two bytes (the format tag)
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def encode(x: np.ndarray, tag: int, bits: int) -> bytes:
    """float samples in [-1, 1], shape (frames,) or (frames, channels) -> raw little-endian bytes."""
    if tag == _FLOAT:
        return x.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    if bits == 16:
        return np.round(x * 32767).astype("<i2").tobytes()
    if bits == 24:
        v = np.round(x * (2 ** 23 - 1)).astype("<i4").reshape(-1)
        b = v.view(np.uint8).reshape(-1, 4)[:, :3]
        return b.tobytes()
    return np.round(x * (2 ** 31 - 1)).astype("<i4").tobytes()


def wav_bytes(x: np.ndarray, rate: int, tag: int = _PCM, bits: int = 16, extensible: bool = False,
              data: bytes | None = None) -> bytes:
    channels = 1 if x.ndim == 1 else x.shape[1]
    body = encode(x, tag, bits) if data is None else data
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHH", _EXT, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + _GUID_TAIL
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def peak_freq(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y.astype(np.float64)))
    return float(np.argmax(spec) * 16000 / len(y))


FORMATS = [(rate, ch, tag, bits, ext)
           for rate in (8000, 11025, 16000, 22050, 44100, 48000)
           for ch in (1, 2)
           for tag, bits in ((_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32), (_FLOAT, 64))
           for ext in (False, True)
           if rate in (16000, 44100) or (bits == 16 and not ext)]


@pytest.mark.parametrize("rate,channels,tag,bits,extensible", FORMATS,
                         ids=[f"{r}Hz-{c}ch-{'f' if t == _FLOAT else 'i'}{b}{'-ext' if e else ''}"
                              for r, c, t, b, e in FORMATS])
def test_every_supported_format_becomes_16k_mono_int16(tmp_path: Path, rate: int, channels: int, tag: int,
                                                       bits: int, extensible: bool) -> None:
    x = tone(rate)
    if channels == 2:
        x = np.stack([x, x], axis=1)
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(x, rate, tag, bits, extensible))
    y = load_wav(path)
    assert y.dtype == np.int16 and y.ndim == 1
    assert abs(len(y) - 8000) <= 2                      # 0.5 s at 16 kHz
    assert abs(peak_freq(y) - 440) < 5                  # same pitch: resampled, not reinterpreted
    assert 0.4 * 32767 < np.abs(y[1000:-1000]).max() < 0.6 * 32767   # same level


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left = tone(16000)
    x = np.stack([left, np.zeros_like(left)], axis=1)
    path = tmp_path / "s.wav"
    path.write_bytes(wav_bytes(x, 16000))
    y = load_wav(path)
    assert 0.2 * 32767 < np.abs(y).max() < 0.3 * 32767


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    x = (tone(16000) * 32767).astype(np.int16)
    write_wav(tmp_path / "r.wav", x)
    assert np.array_equal(load_wav(tmp_path / "r.wav"), x)


def test_empty_data_chunk_is_silence(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(wav_bytes(np.zeros(0), 16000))
    y = load_wav(path)
    assert y.dtype == np.int16 and y.size == 0


def test_to_mono16k_from_arrays() -> None:
    x = (tone(8000) * 32767).astype(np.int16)
    y = to_mono16k(x, 8000)
    assert y.dtype == np.int16 and abs(len(y) - 8000) <= 2
    y = to_mono16k(np.stack([tone(48000), tone(48000)], axis=1), 48000)
    assert abs(len(y) - 8000) <= 2 and abs(peak_freq(y) - 440) < 5


def _broken(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of bad input -> (path, what the message must say)."""
    d: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, expect: str) -> None:
        p = tmp_path / f"{name}.wav"
        p.write_bytes(data)
        d[name] = (p, expect)

    good = wav_bytes(tone(16000), 16000)
    put("text", b"this is just some text, not audio at all\n", "not a WAV file")
    put("empty", b"", "empty")
    put("mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(200), "MP3")
    put("mp3_frames", b"\xff\xfb\x90\x64" + bytes(200), "MP3")
    put("header_only", good[:30], "truncated")
    put("no_data_chunk", good[:36], "no audio data")
    put("truncated_data", good[:44] + b"", "truncated")
    put("rate_too_low", wav_bytes(tone(4000), 4000), "4000 Hz is outside 8000-48000 Hz")
    put("rate_too_high", wav_bytes(tone(96000, 0.05), 96000), "96000 Hz is outside 8000-48000 Hz")
    put("alaw", wav_bytes(tone(8000), 8000, tag=6, bits=8), "unsupported WAV encoding")
    put("float16", wav_bytes(tone(16000), 16000, tag=_FLOAT, bits=16, data=bytes(100)), "16-bit float")
    put("six_channels", wav_bytes(np.zeros((100, 6)), 16000), "6 channels")
    put("rifx", b"RIFX" + good[4:], "RIFX")
    d["missing"] = (tmp_path / "nowhere.wav", "no such file")
    d["folder"] = (tmp_path, "folder")
    return d


KINDS = ["text", "empty", "mp3", "mp3_frames", "header_only", "no_data_chunk", "truncated_data", "rate_too_low",
         "rate_too_high", "alaw", "float16", "six_channels", "rifx", "missing", "folder"]


@pytest.mark.parametrize("kind", KINDS)
def test_broken_input_names_the_file_and_the_problem(tmp_path: Path, kind: str) -> None:
    path, expect = _broken(tmp_path)[kind]
    with pytest.raises(AudioError) as info:
        load_wav(path)
    message = str(info.value)
    assert isinstance(info.value, BadInputError) and info.value.exit_code == 2
    assert str(path) in message
    assert expect.lower() in message.lower()
    assert "\n" not in message


def test_speech_segment_finds_the_loud_stretch() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000 * 2) * 30
    x[8000:16000] += tone(16000, 0.5, 300, 0.3) * 32767
    seg = speech_segment(frame_energies_db(x))
    assert seg is not None and abs(seg[0] - 50) <= 3 and abs(seg[1] - 100) <= 3
    assert speech_segment(frame_energies_db(rng.standard_normal(16000) * 100)) is None


def test_suppress_noise_lowers_steady_noise() -> None:
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(32000) * 1000
    x = noise.copy()
    x[16000:24000] += tone(16000, 0.5, 500, 0.3) * 32767
    y = suppress_noise(np.round(x).astype(np.int16)).astype(np.float64)
    assert np.std(y[:8000]) < 0.7 * np.std(noise[:8000])          # noise alone: quieter
    assert np.std(y[17000:23000]) > 0.8 * np.std(x[17000:23000])  # the tone: kept


# -- high_band_db: an answer heard through an 8 kHz channel ------------------------------------------
FIXTURE_AUDIO = Path(__file__).parent / "fixtures" / "audio"


def _answer(x: np.ndarray) -> np.ndarray:
    seg = speech_segment(frame_energies_db(x))
    assert seg is not None
    return x[seg[0] * 160:seg[1] * 160]


def test_speech_heard_at_16_khz_is_not_taken_for_a_narrow_band() -> None:
    """Every clean answer of the fixtures (tuned and held-out voices, flite's 8 kHz kal voice among
    them) lies well clear of the narrowband line; the same answers made 8 kHz lie far under it."""
    from voice_triage.audio import high_band_db
    from voice_triage.noise import degrade
    from voice_triage.recognition.sphinx import NARROWBAND_DB
    paths = sorted(p for p in FIXTURE_AUDIO.rglob("*.wav") if "/ko/" not in p.as_posix() and "/oog/" not in p.as_posix())
    assert len(paths) > 300
    wide = [high_band_db(_answer(load_wav(p))) for p in paths]
    narrow = [high_band_db(_answer(degrade(load_wav(p), "narrowband", 8000))) for p in paths[::7]]
    assert min(wide) > NARROWBAND_DB + 5.0, min(wide)
    assert float(np.median(wide)) > -25.0
    assert max(narrow) < NARROWBAND_DB - 10.0, max(narrow)


def test_an_8_khz_wav_is_heard_as_a_narrow_band(tmp_path: Path) -> None:
    """A phone-line recording (an 8 kHz WAV, converted to 16 kHz by load_wav) is a narrow band; too
    little audio, or silence, is not judged (0 dB)."""
    from voice_triage.audio import high_band_db, resample
    from voice_triage.recognition.sphinx import NARROWBAND_DB
    x = load_wav(FIXTURE_AUDIO / "piper_joe" / "faster.wav").astype(np.float64)
    eight = np.clip(np.round(resample(x, 16000, 8000)), -32768, 32767) / 32768.0
    (tmp_path / "phone.wav").write_bytes(wav_bytes(eight, 8000))
    y = load_wav(tmp_path / "phone.wav")
    assert high_band_db(_answer(y)) < NARROWBAND_DB - 10.0
    assert high_band_db(_answer(load_wav(FIXTURE_AUDIO / "piper_joe" / "faster.wav"))) > NARROWBAND_DB + 20.0
    assert high_band_db(y[:400]) == 0.0
    assert high_band_db(np.zeros(16000, dtype=np.int16)) == 0.0
