"""Noise for robustness tests and the benchmark: white noise or background speech (babble) at a set SNR.

The SNR is speech power over noise power, with the speech power measured on the active frames
only (20 ms frames within 40 dB of the loudest), so that the silence around a short answer does
not make the noise look quieter than a listener hears it. The noise covers the whole clip,
silences included. Everything is seeded: the same (clip, kind, snr_db, seed) gives the same mix.

Babble tracks are `babble.wav` (tuning / tests) and `babble_heldout.wav` (other talkers and
sentences, for held-out evaluation), made by scripts/make_fixtures.py into tests/fixtures/noise.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import BadInputError

KINDS = ("white", "babble", "babble_heldout")
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


def parse_conditions(spec: str) -> list[tuple[str, float | None]]:
    """'clean,white:10,babble:5' -> [("clean", None), ("white", 10.0), ("babble", 5.0)]."""
    out: list[tuple[str, float | None]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "clean":
            out.append(("clean", None))
            continue
        kind, _, snr = part.partition(":")
        if kind not in KINDS:
            raise BadInputError(f"unknown noise '{kind}' in --noise (use clean, {', '.join(k + ':SNR' for k in KINDS)})")
        try:
            out.append((kind, float(snr)))
        except ValueError:
            raise BadInputError(f"noise '{part}' needs an SNR in dB, e.g. {kind}:10") from None
    if not out:
        raise BadInputError("--noise names no condition")
    return out
