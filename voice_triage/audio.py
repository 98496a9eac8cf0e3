"""Audio at the edge: WAV files in and out, conversion to 16 kHz mono int16 in one place.

`load_wav` reads any PCM WAV a user is likely to hand us (8-48 kHz, mono or stereo, 8/16/24/32-bit
integer or 32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE) with its own small RIFF parser, because
the standard `wave` module refuses float and extensible files. Everything else is an AudioError with
one line naming the file and the problem.

The helpers below (`speech_segment`, `suppress_noise`) are what the recognisers use to find the
foreground speaker and to clean stationary noise before decoding.
"""

from __future__ import annotations

import logging
import math
import struct
from pathlib import Path

import numpy as np

from .errors import AudioError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MIN_RATE = 8_000
MAX_RATE = 48_000

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
_MPEG = {0x0050, 0x0055}


def load_wav(path: str | Path) -> np.ndarray:
    """The file's audio as int16 mono at 16 kHz. AudioError (exit 2) for anything unusable."""
    p = Path(path)
    if not p.exists():
        raise AudioError("no such file", where=str(p))
    if p.is_dir():
        raise AudioError("is a folder, not a WAV file", where=str(p))
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise AudioError(f"cannot be read ({exc.strerror or exc})", where=str(p)) from None
    samples, rate = _parse_wav(data, str(p))
    return to_mono16k(samples, rate)


def _parse_wav(data: bytes, where: str) -> tuple[np.ndarray, int]:
    """(samples float64 in [-1, 1], shape (frames, channels)), sample rate."""
    if len(data) < 12:
        raise AudioError("not a WAV file (empty or too short)" if data else "is empty, not a WAV file", where=where)
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        if data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
            raise AudioError("is MP3 audio, not a WAV file; convert it to WAV first", where=where)
        if data[:4] in (b"RIFX", b"RF64"):
            raise AudioError(f"is a {data[:4].decode()} file; only little-endian RIFF WAV is supported", where=where)
        if data[:4] in (b"fLaC", b"OggS"):
            raise AudioError(f"is {'FLAC' if data[:4] == b'fLaC' else 'Ogg'} audio, not a WAV file", where=where)
        raise AudioError("not a WAV file (no RIFF/WAVE header)", where=where)
    fmt: tuple[int, int, int, int, int] | None = None   # tag, channels, rate, block_align, bits
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < size:
                raise AudioError("truncated WAV file (the header is cut short)", where=where)
            if len(body) < 16:
                raise AudioError("broken WAV header (format chunk too short)", where=where)
            tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", body, 0)
            if tag == _EXTENSIBLE:
                if len(body) < 40:
                    raise AudioError("broken WAV header (extensible format chunk too short)", where=where)
                tag = struct.unpack_from("<H", body, 24)[0]   # first two bytes of the SubFormat GUID
            fmt = (tag, channels, rate, block_align, bits)
        elif cid == b"data":
            if fmt is None:
                raise AudioError("broken WAV file (audio data before the format chunk)", where=where)
            payload = body
            truncated = len(body) < size
            if truncated:
                # A recorder killed mid-write leaves the declared size too big: use what is there.
                log.debug("%s: data chunk truncated (%d of %d bytes)", where, len(body), size)
                if len(body) == 0:
                    raise AudioError("truncated WAV file (no audio data after the header)", where=where)
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioError("broken or truncated WAV file (no format chunk)", where=where)
    if payload is None:
        raise AudioError("broken or truncated WAV file (no audio data chunk)", where=where)
    tag, channels, rate, block_align, bits = fmt
    if tag in _MPEG:
        raise AudioError("holds MP3/MPEG audio inside a WAV wrapper; only PCM WAV is supported", where=where)
    if tag not in (_PCM, _FLOAT):
        raise AudioError(f"unsupported WAV encoding (format tag 0x{tag:04x}); use PCM or float", where=where)
    if channels not in (1, 2):
        raise AudioError(f"has {channels} channels; only mono or stereo is supported", where=where)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"sample rate {rate} Hz is outside 8000-48000 Hz", where=where)
    kinds = {(_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32), (_FLOAT, 64)}
    if (tag, bits) not in kinds:
        kind = "float" if tag == _FLOAT else "integer"
        raise AudioError(f"unsupported sample format ({bits}-bit {kind}); use 8/16/24/32-bit integer "
                         "or 32/64-bit float PCM", where=where)
    width = bits // 8
    if block_align != width * channels:
        raise AudioError(f"broken WAV header (block size {block_align} for {channels} x {bits}-bit)", where=where)
    usable = len(payload) - len(payload) % block_align
    if truncated and usable == 0:
        raise AudioError("truncated WAV file (no whole sample after the header)", where=where)
    raw = payload[:usable]
    if tag == _FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    elif bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float64) / float(1 << 23)
    else:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)
    return x.reshape(-1, channels), rate


def to_mono16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Any sample array (int or float, mono or (frames, channels)) at `rate` -> int16 mono 16 kHz.

    Float input is taken to be in [-1, 1]; integer input at its own type's full scale.
    """
    x = np.asarray(samples)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        x = x.astype(np.float64)
        if info.min == 0:                       # unsigned: centre it
            x = x - (info.max + 1) / 2.0
            x = x / ((info.max + 1) / 2.0)
        else:
            x = x / float(-info.min)
    else:
        x = x.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise AudioError(f"audio must be 1-D or (frames, channels), not shape {x.shape}")
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise AudioError(f"sample rate {rate} Hz is outside 8000-48000 Hz")
    if int(rate) != SAMPLE_RATE and x.size:
        x = resample(x, int(rate), SAMPLE_RATE)
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def resample(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Band-limited (FFT) resampling of float samples. numpy only: importing scipy.signal takes
    seconds, which a spoken interview cannot wait for."""
    n = x.size
    m = int(round(n * new_rate / rate))
    if n == 0 or m == 0:
        return np.zeros(m)
    pad = min(4096, n)                 # reflect-pad so the FFT's wrap-around does not click
    padded = np.concatenate([x[pad - 1::-1] if pad else x[:0], x, x[:n - pad - 1:-1] if pad else x[:0]])
    total = padded.size
    new_total = int(round(total * new_rate / rate))
    spec = np.fft.rfft(padded)
    keep = min(spec.size, new_total // 2 + 1)
    out_spec = np.zeros(new_total // 2 + 1, dtype=complex)
    out_spec[:keep] = spec[:keep]
    if new_total < total and new_total % 2 == 0:
        out_spec[-1] = out_spec[-1].real     # the new Nyquist bin must be real
    y = np.fft.irfft(out_spec, new_total) * (new_total / total)
    start = int(round(pad * new_rate / rate))
    return y[start:start + m]


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono (or (frames, channels)) samples as a 16-bit PCM WAV."""
    x = np.asarray(samples)
    if x.dtype != np.int16:
        if x.dtype.kind == "f":
            x = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
        else:
            x = np.clip(x, -32768, 32767).astype(np.int16)
    channels = 1 if x.ndim == 1 else x.shape[1]
    body = x.astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, channels, rate, rate * 2 * channels, 2 * channels, 16)
    header += b"data" + struct.pack("<I", len(body))
    Path(path).write_bytes(header + body)


# --- Finding the answer in a recording, and cleaning stationary noise ------------------------------

FRAME = 160            # 10 ms at 16 kHz


def frame_energies_db(samples: np.ndarray) -> np.ndarray:
    """Power of each 10 ms frame in dB (int16 full scale = ~90 dB)."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0)
    power = np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)
    return 10.0 * np.log10(power + 1.0)


def speech_segment(energies_db: np.ndarray, *, min_rise_db: float = 8.0, join_ms: int = 300,
                   min_ms: int = 60) -> tuple[int, int] | None:
    """The foreground speaker's stretch, as (first, last+1) 10 ms frames, or None if nothing stands out.

    Frames count as speech when they rise well above the noise floor and lie within reach of the
    loudest frame: background talk 10 dB under the answer mostly stays below that line. Runs closer
    than `join_ms` are joined; of the joined runs, the one holding the most energy is the answer.
    """
    e = np.asarray(energies_db, dtype=np.float64)
    if e.size < 5:
        return None
    floor = float(np.percentile(e, 10))
    peak = float(np.percentile(e, 99.5)) if e.size > 200 else float(e.max())
    if peak - floor < min_rise_db:
        return None
    thr = max(floor + 0.45 * (peak - floor), peak - 30.0)
    active = np.flatnonzero(e >= thr)
    if active.size == 0:
        return None
    join = max(1, join_ms // 10)
    runs: list[list[int]] = [[int(active[0]), int(active[0]) + 1]]
    for i in active[1:]:
        if i - runs[-1][1] <= join:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    lin = 10 ** (e / 10)
    best = max(runs, key=lambda r: float(lin[r[0]:r[1]].sum()))
    if best[1] - best[0] < max(1, min_ms // 10):
        return None
    return best[0], best[1]


def suppress_noise(samples: np.ndarray, noise_frames: np.ndarray | None = None, *, over: float = 1.5,
                   floor: float = 0.1) -> np.ndarray:
    """Spectral subtraction for stationary noise (white, fans, hum): int16 in, int16 out.

    The noise spectrum comes from `noise_frames` (10 ms frame indices known to hold no answer),
    else from the quietest fifth of the recording. numpy only (see `resample`).
    """
    x = np.asarray(samples, dtype=np.float64)
    nper, hop = 512, 128
    if x.size < 2 * nper:
        return np.asarray(samples, dtype=np.int16)
    win = np.sqrt(np.hanning(nper + 1)[:-1])            # sqrt-Hann in and out: overlap-add sums to 2
    padded = np.pad(x, (nper, nper + hop))
    cols = 1 + (padded.size - nper) // hop
    idx = np.arange(nper)[None, :] + hop * np.arange(cols)[:, None]
    spec = np.fft.rfft(padded[idx] * win, axis=1)        # (cols, bins)
    power = np.abs(spec) ** 2
    if noise_frames is not None and len(noise_frames) >= 10:
        centre = (np.asarray(noise_frames) * FRAME + FRAME // 2 + nper - nper // 2) // hop
        pick = np.unique(np.clip(centre, 0, cols - 1))
    else:
        pick = np.argsort(power.sum(axis=1))[: max(3, cols // 5)]
    noise = power[pick].mean(axis=0, keepdims=True)
    gain = np.sqrt(np.maximum(1.0 - over * noise / np.maximum(power, 1e-12), floor ** 2))
    frames = np.fft.irfft(spec * gain, nper, axis=1) * win
    parts = nper // hop
    blocks = np.zeros((cols + parts - 1, hop))
    quarters = frames.reshape(cols, parts, hop)
    for k in range(parts):
        blocks[k:k + cols] += quarters[:, k, :]
    y = blocks.reshape(-1)[nper:nper + x.size] / 2.0
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


# --- Neural denoising (RNNoise) for steady noise ---------------------------------------------------

DENOISE_RATE = 48_000       # RNNoise works on 10 ms frames at 48 kHz
_RNNOISE_DELAY = 960        # its output lags the input by 20 ms (measured), at 48 kHz


class Denoiser:
    """RNNoise (the `pyrnnoise` wheel's bundled C library, called directly through ctypes: the
    package's own Python wrapper imports a media stack we do not need). A fresh state per call, so
    the same audio always gives the same output. Raises OSError / ImportError when unavailable."""

    def __init__(self) -> None:
        import ctypes
        import importlib.util
        import os

        spec = importlib.util.find_spec("pyrnnoise")     # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("pyrnnoise is not installed")
        lib = ctypes.CDLL(os.path.join(list(spec.submodule_search_locations)[0], "librnnoise.so"))
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                              ctypes.POINTER(ctypes.c_float)]
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        self._lib = lib
        self._ptr = ctypes.POINTER(ctypes.c_float)
        self.frame = int(lib.rnnoise_get_frame_size())

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """int16 16 kHz in, int16 16 kHz out (same length, delay removed)."""
        x = np.asarray(samples, dtype=np.float64)
        if x.size == 0:
            return np.asarray(samples, dtype=np.int16)
        up = resample(x, SAMPLE_RATE, DENOISE_RATE)
        n = self.frame
        total = -(-(up.size + _RNNOISE_DELAY) // n) * n
        buf = np.zeros(total, dtype=np.float32)
        buf[:up.size] = up
        out = np.zeros_like(buf)
        lib, ptr = self._lib, self._ptr
        state = lib.rnnoise_create(None)
        try:
            for i in range(0, total, n):
                lib.rnnoise_process_frame(state, out[i:i + n].ctypes.data_as(ptr), buf[i:i + n].ctypes.data_as(ptr))
        finally:
            lib.rnnoise_destroy(state)
        y = resample(out[_RNNOISE_DELAY:_RNNOISE_DELAY + up.size].astype(np.float64), DENOISE_RATE, SAMPLE_RATE)
        y = np.concatenate([y, np.zeros(max(0, x.size - y.size))])[:x.size]
        return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def steady_noise(noise_db: np.ndarray, speech_db: np.ndarray, *, max_std_db: float = 1.0,
                 max_snr_db: float = 35.0) -> bool:
    """True when the frames before an answer hold steady noise (white, fans, hum: frame energies
    within ~1 dB) loud enough to matter -- where RNNoise beats spectral subtraction. Background
    talk fluctuates far more, and RNNoise hurts it (and clean speech)."""
    if noise_db.size < 10 or speech_db.size == 0:
        return False
    return float(np.std(noise_db)) < max_std_db and float(np.percentile(speech_db, 90) - np.mean(noise_db)) < max_snr_db


# The stretch an answer is heard in, in 10 ms frames: the answer (speech_segment), 150 ms of context
# before it and 80 ms after; noise is measured on up to 0.5 s before that context.
ANSWER_PAD_FRAMES = 15
ANSWER_TAIL_FRAMES = 8
NOISE_FRAMES = 50


# An answer heard through an 8 kHz channel (a Bluetooth headset's narrowband link, a phone line)
# has nothing above 4 kHz: `high_band_db` finds it by how far the 4.5-6 kHz band lies under the
# 2-3.5 kHz band. Measured (2026-11-27) over the answer stretches of 2,765 clean clips (the
# fixtures and extra sets a-d, 44 voices): -44.7 dB at the lowest (a "no" with no hiss in it),
# median -11.6; fixture answers made 8 kHz and played through PulseAudio into a 16 kHz recording
# (78 answers, its default resampler): -61.9 dB at the highest, median -67.5; made 8 kHz with
# `resample` (noise.degrade's narrowband): -61.5 to -96 dB.
HIGH_BAND_HZ = (4500.0, 6000.0)
LOW_BAND_HZ = (2000.0, 3500.0)
_BAND_FFT = 512


def high_band_db(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """How far the 4.5-6 kHz band's energy lies under the 2-3.5 kHz band's over `samples` (an
    answer's stretch), in dB: about -10 for speech heard at 16 kHz, under -60 for speech that came
    through an 8 kHz channel. 0.0 when there is too little audio (under 32 ms) or no sound in the
    lower band to judge by."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x) // _BAND_FFT
    if n == 0:
        return 0.0
    frames = x[: n * _BAND_FFT].reshape(n, _BAND_FFT) * np.hanning(_BAND_FFT)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(_BAND_FFT, 1.0 / rate)
    high = float(power[(freqs >= HIGH_BAND_HZ[0]) & (freqs < HIGH_BAND_HZ[1])].sum())
    low = float(power[(freqs >= LOW_BAND_HZ[0]) & (freqs < LOW_BAND_HZ[1])].sum())
    if low <= 0.0:
        return 0.0
    return float(10.0 * np.log10(max(high, low * 1e-12) / low))


def headroom_db(energies_db: np.ndarray) -> float:
    """How far an answer stands above the sound around it, in dB: the spread of the 10 ms frame
    levels over the answer and the moments just before and after it (90th percentile, the loud
    syllables, over 10th, the gaps between them and the room). It needs no silence before the
    answer. About the mixing SNR plus 4 dB for white noise, plus 4-11 for background talk; 45 dB
    or more in a quiet room (math.inf with nothing to measure)."""
    e = np.asarray(energies_db, dtype=np.float64)
    if e.size < 5:
        return math.inf
    return float(np.percentile(e, 90) - np.percentile(e, 10))


def answer_headroom_db(energies_db: np.ndarray, *, before: int = ANSWER_PAD_FRAMES + NOISE_FRAMES,
                       after: int = ANSWER_TAIL_FRAMES) -> float:
    """headroom_db over the answer (speech_segment) and up to `before` frames ahead of it and
    `after` behind (by default the stretch the pocketsphinx adapter hears: its noise window and
    context ahead, 0.65 s, and 80 ms behind); math.inf when no answer stands out."""
    e = np.asarray(energies_db, dtype=np.float64)
    seg = speech_segment(e)
    if seg is None:
        return math.inf
    return headroom_db(e[max(0, seg[0] - before):seg[1] + after])
