"""Noise mixing: the SNR asked for is the SNR measured, seeds reproduce, nothing clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import load_wav
from voice_triage.errors import BadInputError
from voice_triage.noise import active_power, mix, mix_parts, measured_snr_db, parse_conditions

AUDIO = Path(__file__).parent / "fixtures" / "audio"
CLIPS = ["espeak/yes.wav", "piper_joe/foot.1.wav", "hibari/stop.wav", "flite_awb/none.1.wav"]


@pytest.mark.parametrize("kind", ["white", "babble", "babble_heldout"])
@pytest.mark.parametrize("snr", [0.0, 5.0, 10.0, 20.0])
@pytest.mark.parametrize("clip", CLIPS)
def test_measured_snr_is_the_target(clip: str, kind: str, snr: float) -> None:
    clean = load_wav(AUDIO / clip)
    mixed = mix(clean, kind, snr, seed=3)
    # mix_parts gives the speech as it went into the mix (scaled with the noise if it had to be)
    speech, _ = mix_parts(clean, kind, snr, seed=3)
    residual = mixed.astype(float) - speech     # the noise as actually mixed, rounding included
    assert abs(measured_snr_db(speech, residual) - snr) < 0.5


def test_noise_covers_the_silences() -> None:
    clean = load_wav(AUDIO / "espeak/yes.wav")
    noise = mix(clean, "babble", 10, seed=1).astype(float) - clean
    lead = noise[:2400]                 # the first 0.15 s is silence in the clean clip
    assert np.abs(clean[:2400]).max() < 200
    assert np.sqrt(np.mean(lead ** 2)) > 0.1 * np.sqrt(np.mean(noise ** 2))


@pytest.mark.parametrize("kind", ["white", "babble", "babble_heldout"])
def test_seeds_reproduce(kind: str) -> None:
    clean = load_wav(AUDIO / "flite_slt/groin.wav")
    a, b, c = mix(clean, kind, 5, seed=7), mix(clean, kind, 5, seed=7), mix(clean, kind, 5, seed=8)
    assert a.dtype == np.int16 and len(a) == len(clean)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_loud_clip_does_not_clip() -> None:
    clean = (np.sin(np.arange(16000) / 5) * 32000).astype(np.int16)
    mixed = mix(clean, "white", 0, seed=0)
    assert np.abs(mixed.astype(int)).max() <= 32767
    speech, noise = mix_parts(clean, "white", 0, seed=0)
    assert np.abs(speech + noise).max() <= 32767
    assert abs(measured_snr_db(speech, noise) - 0.0) < 0.5


def test_active_power_ignores_silence() -> None:
    tone = (np.sin(np.arange(8000) / 3) * 10000).astype(np.int16)
    padded = np.concatenate([np.zeros(16000, np.int16), tone, np.zeros(16000, np.int16)])
    assert active_power(padded) == pytest.approx(active_power(tone), rel=0.05)


def test_conditions_parse_and_reject() -> None:
    assert parse_conditions("clean,white:10,babble:-5") == [("clean", None), ("white", 10.0), ("babble", -5.0)]
    with pytest.raises(BadInputError, match="unknown noise 'pink'"):
        parse_conditions("pink:5")
    with pytest.raises(BadInputError, match="needs an SNR"):
        parse_conditions("white")
    with pytest.raises(BadInputError, match="unknown noise kind"):
        mix(np.zeros(100, np.int16), "brown", 5)
