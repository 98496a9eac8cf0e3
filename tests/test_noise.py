"""Noise mixing: the SNR asked for is the SNR measured, seeds reproduce, nothing clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import load_wav
from voice_triage.errors import BadInputError
from voice_triage.noise import (FAR_DRR_DB, active_power, degrade, measured_snr_db, mix, mix_parts, parse_conditions,
                                 room_impulse)

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


# --- rooms and microphones (noise.degrade) -------------------------------------------------------

def _energy_db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.sum(np.asarray(x, dtype=np.float64) ** 2)) + 1e-30)


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_a_room_decays_60_db_in_its_rt60(rt60: float) -> None:
    h = room_impulse(rt60, seed=5)
    assert h[0] == 1.0 and not h[1:48].any()          # the direct path, then quiet for 3 ms
    rate = 16_000
    early = h[int(0.01 * rate):int(0.06 * rate)]       # 50 ms windows at 10 ms and at rt60 + 10 ms
    late = h[int((rt60 + 0.01) * rate):int((rt60 + 0.06) * rate)]
    assert _energy_db(early) - _energy_db(late) == pytest.approx(60.0, abs=6.0)


def test_far_from_the_microphone_the_room_is_louder_than_the_voice() -> None:
    near, far = room_impulse(0.6, seed=2), room_impulse(0.6, seed=2, drr_db=FAR_DRR_DB)
    assert _energy_db(near[1:]) - _energy_db(near[:1]) == pytest.approx(0.0, abs=0.01)
    assert _energy_db(far[1:]) - _energy_db(far[:1]) == pytest.approx(6.0, abs=0.01)


@pytest.mark.parametrize("kind", ["reverb", "far"])
def test_reverberation_keeps_the_level_adds_a_tail_and_reproduces(kind: str) -> None:
    clean = load_wav(AUDIO / "flite_slt/groin.wav")
    out = degrade(clean, kind, 0.6, seed=4)
    assert out.dtype == np.int16 and len(out) == len(clean) + int(0.3 * 16_000)
    assert np.abs(out).max() == np.abs(clean).max()
    tail = out[len(clean):]
    assert np.sqrt(np.mean(tail.astype(float) ** 2)) > 10      # the room rings on after the voice
    assert np.array_equal(out, degrade(clean, kind, 0.6, seed=4))
    assert not np.array_equal(out, degrade(clean, kind, 0.6, seed=5))
    # Smearing: the reverberant clip is further from the clean one than the level alone explains.
    assert np.corrcoef(out[:len(clean)].astype(float), clean.astype(float))[0, 1] < 0.95


def test_narrowband_leaves_nothing_above_half_its_rate() -> None:
    clean = load_wav(AUDIO / "espeak/yes.wav")       # "yes": its /s/ is mostly above 4 kHz
    out = degrade(clean, "narrowband", 8000)
    assert len(out) == len(clean)
    spec_in = np.abs(np.fft.rfft(clean.astype(float))) ** 2
    spec_out = np.abs(np.fft.rfft(out.astype(float))) ** 2
    freqs = np.fft.rfftfreq(len(clean), 1 / 16_000)
    high = freqs > 4100
    assert spec_in[high].sum() / spec_in.sum() > 0.01
    assert spec_out[high].sum() / spec_out.sum() < 1e-4
    low = freqs < 3500
    assert spec_out[low].sum() == pytest.approx(spec_in[low].sum(), rel=0.05)


def test_gain_scales_and_clips_at_full_scale() -> None:
    clean = load_wav(AUDIO / "hibari/stop.wav")
    quiet = degrade(clean, "gain", -20)
    assert np.abs(quiet).max() == pytest.approx(np.abs(clean).max() / 10, abs=1)
    loud = degrade(clean, "gain", 12)
    assert loud.max() == 32767 and np.sum(np.abs(loud.astype(int)) >= 32767) > 10


def test_room_conditions_parse_and_reject() -> None:
    assert parse_conditions("reverb:0.6,far:0.9,narrowband:8000,gain:-30") == [
        ("reverb", 0.6), ("far", 0.9), ("narrowband", 8000.0), ("gain", -30.0)]
    for bad, why in [("reverb", "needs an RT60"), ("reverb:9", "RT60 must be"), ("far:0", "RT60 must be"),
                     ("narrowband:16000", "sample rate must be"), ("gain:x", "needs a gain"),
                     ("gain:nan", "must be a number"), ("echo:3", "unknown noise 'echo'")]:
        with pytest.raises(BadInputError, match=why):
            parse_conditions(bad)


def test_the_bench_command_names_a_bad_condition_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "voice_triage", "bench", "--noise", "reverb:9"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "RT60 must be" in r.stderr
