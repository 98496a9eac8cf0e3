"""The recorded fixtures are complete and well formed (scripts/make_fixtures.py makes them)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from voice_triage.grammar import load_grammars
from voice_triage.model import Command, PAIN_LOCATIONS, PAIN_SPREADS
from voice_triage.yamlio import load_yaml

AUDIO = Path(__file__).parent / "fixtures" / "audio"
NOISE = Path(__file__).parent / "fixtures" / "noise"
MANIFEST = load_yaml(AUDIO / "manifest.yaml")
CLIPS = MANIFEST["clips"]
OOG = MANIFEST["oog"]
KO = MANIFEST["ko"]
ALL = CLIPS + OOG + KO
EN_VALUES = ("yes", "no", "unknown", *PAIN_LOCATIONS, *PAIN_SPREADS, *(c.value for c in Command))
TUNED = sorted({c["voice"] for c in CLIPS if not c["heldout"]})
HELDOUT = sorted({c["voice"] for c in CLIPS if c["heldout"]})
MAX_BYTES = 20_000_000
GRAMMARS = {"en": load_grammars("en"), "ko": load_grammars("ko")}


def _wav_format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()


def test_voices_listed() -> None:
    assert len(TUNED) >= 7 and len(HELDOUT) >= 3
    assert set(TUNED) | set(HELDOUT) == set(MANIFEST["voices"])
    assert not set(TUNED) & set(HELDOUT)
    for name, voice in MANIFEST["voices"].items():
        assert voice["heldout"] == (name in HELDOUT)


@pytest.mark.parametrize("voice", TUNED)
def test_every_value_for_every_tuned_voice(voice: str) -> None:
    said = {c["value"] for c in CLIPS if c["voice"] == voice}
    assert said == set(EN_VALUES)
    paths = {c["path"] for c in CLIPS if c["voice"] == voice}
    for value in EN_VALUES:     # the simulate layout: <value>.wav plus <value>.N.wav variants
        assert f"{voice}/{value}.wav" in paths
        assert f"{voice}/{value}.1.wav" in paths


def test_heldout_covers_every_value_and_lives_apart() -> None:
    assert {c["value"] for c in CLIPS if c["heldout"]} == set(EN_VALUES)
    for c in CLIPS:
        assert c["path"].startswith("heldout/") == c["heldout"]


def test_every_file_listed_once() -> None:
    listed = [c["path"] for c in ALL]
    assert len(listed) == len(set(listed))
    on_disk = {p.relative_to(AUDIO).as_posix() for p in AUDIO.rglob("*.wav")}
    assert on_disk == set(listed)


@pytest.mark.parametrize("clip", ALL, ids=lambda c: c["path"])
def test_wav_is_16k_mono_16bit(clip: dict) -> None:
    rate, channels, width, seconds = _wav_format(AUDIO / clip["path"])
    assert (rate, channels, width) == (16000, 1, 2)
    assert 0.5 <= seconds <= 5.0


def test_wavs_load_through_the_product() -> None:
    from voice_triage.audio import load_wav

    for clip in ALL:
        samples = load_wav(AUDIO / clip["path"])
        assert samples.dtype.name == "int16" and samples.ndim == 1 and len(samples) > 8000


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: c["path"])
def test_phrase_is_a_grammar_phrase_for_its_value(clip: dict) -> None:
    grammar = GRAMMARS["en"][clip["grammar"]]
    assert grammar.match(clip["text"]) == clip["value"]


@pytest.mark.parametrize("clip", KO, ids=lambda c: c["path"])
def test_korean_phrase_is_a_grammar_phrase_for_its_value(clip: dict) -> None:
    grammar = GRAMMARS["ko"][clip["grammar"]]
    assert grammar.match(clip["text"]) == clip["value"]


def test_out_of_grammar_clips_mean_nothing() -> None:
    grammars = GRAMMARS["en"]
    assert len(OOG) >= 10
    for clip in OOG:
        assert clip["value"] is None
        for grammar in grammars.values():
            assert grammar.match(clip["text"]) is None
            assert grammar.match_typed(clip["text"]) is None or clip["text"].startswith("<")


def test_audio_is_small() -> None:
    total = sum(p.stat().st_size for d in (AUDIO, NOISE) for p in d.rglob("*.wav"))
    assert total < MAX_BYTES


def test_noise_tracks() -> None:
    for name in ("babble.wav", "babble_heldout.wav"):
        rate, channels, width, seconds = _wav_format(NOISE / name)
        assert (rate, channels, width) == (16000, 1, 2) and 25 <= seconds <= 35
