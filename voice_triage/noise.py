"""Noise for robustness tests and the benchmark: white noise or background speech (babble) at a set SNR.

The SNR is speech power over noise power, with the speech power measured on the active frames
only (20 ms frames within 40 dB of the loudest), so that the silence around a short answer does
not make the noise look quieter than a listener hears it. The noise covers the whole clip,
silences included. Everything is seeded: the same (clip, kind, snr_db, seed) gives the same mix.

Babble tracks are `babble.wav` (tuning / tests) and `babble_heldout.wav` (other talkers and
sentences, for held-out evaluation), made by scripts/make_fixtures.py into tests/fixtures/noise.

Rooms and microphones (`degrade`; conditions `reverb:RT60`, `far:RT60`, `narrowband:RATE`,
`gain:DB`) change the sound itself instead of adding noise: a hands-free answer is heard from
across a room, through a Bluetooth headset or a phone line, too quietly or clipped. The rooms
are synthetic: a direct path plus an exponentially decaying tail of seeded noise falling 60 dB in
RT60 seconds, as loud as the direct path (`reverb`, about a metre from the microphone) or 6 dB
louder (`far`, across the room); a real room's early reflections are not modelled.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import BadInputError

KINDS = ("white", "babble", "babble_heldout")
ROOMS = ("reverb", "far", "narrowband", "gain")   # conditions that change the sound (see `degrade`)
FAR_DRR_DB = -6.0       # `far`: the reverberant tail this much louder than the direct path
RATE = 16_000
FRAME = 320             # 20 ms at 16 kHz
ACTIVE_RANGE_DB = 40.0
_FULL_SCALE = 32767.0


def default_noise_dir() -> Path:
    """tests/fixtures/noise in a checkout."""
    return Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "noise"


def active_power(samples: np.ndarray) -> float:
    """Mean power of the active (speech) frames: 20 ms frames within 40 dB of the loudest frame."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x) // FRAME
    if n == 0:
        return float(np.mean(x ** 2)) if len(x) else 0.0
    power = np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)
    top = float(power.max())
    if top <= 0:
        return 0.0
    return float(power[power >= top * 10 ** (-ACTIVE_RANGE_DB / 10)].mean())


def measured_snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """SNR the way `mix` sets it: active speech power over the mean power of the noise."""
    noise_power = float(np.mean(np.asarray(noise, dtype=np.float64) ** 2))
    return 10 * np.log10(active_power(speech) / noise_power)


@lru_cache(maxsize=4)
def _track(path: str) -> np.ndarray:
    from .audio import load_wav

    x = load_wav(path).astype(np.float64)
    return x - x.mean()


def noise_for(kind: str, length: int, rng: np.random.Generator, noise_dir: Path | None = None) -> np.ndarray:
    """`length` samples of unit-power noise of this kind (float64)."""
    if kind == "white":
        n = rng.standard_normal(length)
    elif kind in ("babble", "babble_heldout"):
        track = _track(str((noise_dir or default_noise_dir()) / f"{kind}.wav"))
        start = int(rng.integers(0, len(track)))
        reps = -(-(start + length) // len(track))
        n = np.tile(track, reps)[start: start + length]
    else:
        raise BadInputError(f"unknown noise kind '{kind}' (one of: {', '.join(KINDS)})")
    power = float(np.mean(n ** 2))
    return n / np.sqrt(power) if power > 0 else n


def mix_parts(clean: np.ndarray, kind: str, snr_db: float, seed: int = 0,
              noise_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(speech, noise) as float64, already scaled together so that their sum fits in int16."""
    speech = np.asarray(clean, dtype=np.float64)
    rng = np.random.default_rng(seed)
    unit = noise_for(kind, len(speech), rng, noise_dir)
    p = active_power(speech)
    if p <= 0:      # a silent clip: give the noise a quiet, fixed level (-40 dBFS)
        p = (_FULL_SCALE * 0.01) ** 2 * 10 ** (snr_db / 10)
    noise = unit * np.sqrt(p / 10 ** (snr_db / 10))
    peak = float(np.abs(speech + noise).max()) if len(speech) else 0.0
    if peak > _FULL_SCALE:      # scale both down together: no clipping, the SNR is kept
        g = _FULL_SCALE / peak
        speech, noise = speech * g, noise * g
    return speech, noise


def mix(clean: np.ndarray, kind: str, snr_db: float, seed: int = 0, noise_dir: Path | None = None) -> np.ndarray:
    """int16 clean speech plus `kind` noise at `snr_db` (active speech vs noise), seeded."""
    speech, noise = mix_parts(clean, kind, snr_db, seed, noise_dir)
    return np.clip(np.round(speech + noise), -32768, 32767).astype(np.int16)


def room_impulse(rt60: float, seed: int = 0, drr_db: float = 0.0, rate: int = RATE) -> np.ndarray:
    """A synthetic room's impulse response: 1 (the direct path), then from 3 ms a tail of seeded
    Gaussian noise decaying 60 dB in `rt60` seconds, its energy `drr_db` under the direct path's."""
    n = max(1, int(rate * rt60 * 1.2))
    t = np.arange(n) / rate
    tail = np.random.default_rng(seed).standard_normal(n) * np.exp(-3 * np.log(10) * t / rt60)
    tail[: int(0.003 * rate)] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / float(np.sum(tail ** 2)))
    tail[0] = 1.0
    return tail


def _convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    size = len(x) + len(h) - 1
    nfft = 1 << (size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:size]


def degrade(clean: np.ndarray, kind: str, value: float, seed: int = 0, noise_dir: Path | None = None) -> np.ndarray:
    """int16 `clean` in condition `kind` (see parse_conditions), seeded: noise of a KINDS kind at
    `value` dB SNR (`mix`); `reverb` / `far`: heard in a synthetic room of RT60 `value` seconds
    (the tail kept, 0.3 s of it past the end, and scaled back to the clean clip's peak);
    `narrowband`: through a channel sampled at `value` Hz (nothing above value / 2: a Bluetooth
    headset's 8 kHz, a phone line); `gain`: `value` dB louder (clipped at full scale) or quieter."""
    if kind in KINDS:
        return mix(clean, kind, value, seed, noise_dir)
    x = np.asarray(clean, dtype=np.float64)
    if kind in ("reverb", "far"):
        h = room_impulse(value, seed, FAR_DRR_DB if kind == "far" else 0.0)
        y = _convolve(x, h)[: len(x) + int(0.3 * RATE)]
        peak = float(np.abs(y).max()) if len(y) else 0.0
        if peak > 0:
            y *= float(np.abs(x).max()) / peak
    elif kind == "narrowband":
        from .audio import resample

        y = resample(resample(x, RATE, int(value)), int(value), RATE)[: len(x)]
    elif kind == "gain":
        y = x * 10 ** (value / 20)
    else:
        raise BadInputError(f"unknown condition '{kind}' (one of: {', '.join((*KINDS, *ROOMS))})")
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


_UNITS = {"reverb": ("an RT60 in seconds", "reverb:0.6"), "far": ("an RT60 in seconds", "far:0.6"),
          "narrowband": ("a sample rate in Hz", "narrowband:8000"), "gain": ("a gain in dB", "gain:-20")}


def _check_room(kind: str, value: float, part: str) -> None:
    if kind in ("reverb", "far") and not 0.05 <= value <= 3.0:
        raise BadInputError(f"'{part}': the RT60 must be 0.05 to 3 seconds")
    if kind == "narrowband" and not 2000 <= value < RATE:
        raise BadInputError(f"'{part}': the sample rate must be 2000 to 15999 Hz")


def parse_conditions(spec: str) -> list[tuple[str, float | None]]:
    """'clean,white:10,babble:5' -> [("clean", None), ("white", 10.0), ("babble", 5.0)]; rooms and
    microphones (ROOMS) too: 'reverb:0.6' -> ("reverb", 0.6) (see `degrade`)."""
    out: list[tuple[str, float | None]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "clean":
            out.append(("clean", None))
            continue
        kind, _, snr = part.partition(":")
        if kind not in KINDS and kind not in ROOMS:
            raise BadInputError(f"unknown noise '{kind}' in --noise (use clean, {', '.join(k + ':SNR' for k in KINDS)}, "
                                f"{', '.join(e for _, e in _UNITS.values())})")
        try:
            value = float(snr)
        except ValueError:
            if kind in ROOMS:
                raise BadInputError(f"'{part}' needs {_UNITS[kind][0]}, e.g. {_UNITS[kind][1]}") from None
            raise BadInputError(f"noise '{part}' needs an SNR in dB, e.g. {kind}:10") from None
        if not np.isfinite(value):
            raise BadInputError(f"'{part}': the value must be a number")
        if kind in ROOMS:
            _check_room(kind, value, part)
        out.append((kind, value))
    if not out:
        raise BadInputError("--noise names no condition")
    return out
