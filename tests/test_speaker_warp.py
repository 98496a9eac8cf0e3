"""Following one speaker through a session: pocketsphinx learns how far a voice's spectrum sits from
its model's average voice (SPEAKER_WARPS) from the first answers, and decodes the rest stretched by
that much. Real recordings (tests/fixtures/pitched: two voices pitched about 20% up and down, made
by scripts/make_fixtures.py --only pitched; and the tuned fixture voices), the real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import load_wav
from voice_triage.model import RED_FLAGS
from voice_triage.recognition import sphinx as sphinx_module
from voice_triage.recognition.sphinx import SphinxRecognizer, warp_audio
from voice_triage.yamlio import load_yaml

FIXTURES = Path(__file__).parent / "fixtures"
PITCHED = FIXTURES / "pitched"
GRAMMAR_OF = {"yes": "yes_no", "no": "yes_no", "unknown": "yes_no", "outer_hip": "pain_location",
              "mid_buttock": "pain_location", "lower_back": "pain_location", "none": "pain_spread",
              "thigh": "pain_spread", "foot": "pain_spread"}
MANIFEST = load_yaml(FIXTURES / "audio" / "manifest.yaml")


@pytest.fixture(scope="module")
def rec() -> SphinxRecognizer:
    r = SphinxRecognizer("en")
    yield r
    r.follow_speaker(False)


def _clips(voice: str) -> list[tuple[str, np.ndarray]]:
    return [(v, load_wav(PITCHED / voice / f"{v}.wav")) for v in GRAMMAR_OF]


def _sure_and_right(rec: SphinxRecognizer, clips: list[tuple[str, np.ndarray]]) -> int:
    """Answers pocketsphinx itself is sure of and right about (its second opinion aside)."""
    n = 0
    for value, x in clips:
        g = rec.grammars[GRAMMAR_OF[value]]
        ev = rec.evidence(x, g)
        n += bool(ev.text) and rec.rule_for(g).sure(ev) and g.match(ev.text) == value
    return n


def test_warp_audio_moves_every_frequency() -> None:
    t = np.arange(16000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    for factor in (0.87, 1.14):
        y = warp_audio(tone, factor)
        assert y.dtype == np.int16 and abs(y.size - 16000 / factor) <= 1
        spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
        peak_hz = np.argmax(spectrum) * 16000 / y.size
        assert abs(peak_hz - 1000 * factor) < 5, (factor, peak_hz)
    assert warp_audio(tone, 1.0) is tone


@pytest.mark.slow
@pytest.mark.parametrize("voice,lower", [("hibari_high", True), ("piper_low", False)])
def test_a_session_follows_a_voice_pitched_far_from_the_model(rec: SphinxRecognizer, voice: str,
                                                              lower: bool) -> None:
    clips = _clips(voice)
    rec.follow_speaker(False)
    alone = _sure_and_right(rec, clips)
    rec.follow_speaker()
    for value, x in clips[:4]:                 # the first answers of the session
        rec.recognize(x, rec.grammars[GRAMMAR_OF[value]])
    rec.stream(rec.grammars["yes_no"])          # (the fourth is learnt when the next answer starts)
    assert (rec.warp < 1.0) if lower else (rec.warp > 1.0), rec.warp
    followed = _sure_and_right(rec, clips)
    assert followed >= alone + 3, (alone, followed)
    for value, x in clips:                      # and nothing is acted on wrongly
        t = rec.recognize(x, rec.grammars[GRAMMAR_OF[value]])
        assert t.answer in (value, None), (value, t)


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["flite_rms", "piper_joe", "espeak"])
def test_a_voice_near_the_model_is_not_warped(rec: SphinxRecognizer, voice: str) -> None:
    clips = [c for c in MANIFEST["clips"] if c["voice"] == voice and c.get("lang", "en") == "en"]
    rec.follow_speaker()
    for c in clips[::4][:6]:
        rec.recognize(load_wav(FIXTURES / "audio" / c["path"]), rec.grammars[c["grammar"]])
    rec.stream(rec.grammars["yes_no"])
    assert rec.warp == 1.0


@pytest.mark.slow
def test_without_a_session_nothing_is_warped(rec: SphinxRecognizer) -> None:
    """transcribe's files may be anyone's: a recogniser not told to follow a speaker never warps."""
    rec.follow_speaker(False)
    for value, x in _clips("hibari_high"):
        rec.recognize(x, rec.grammars[GRAMMAR_OF[value]])
    rec.stream(rec.grammars["yes_no"])
    assert rec.warp == 1.0


@pytest.mark.slow
def test_a_simulated_session_in_a_low_voice_is_understood(tmp_path: Path, monkeypatch) -> None:
    """simulate follows its speaker: vignette p04's "middle of my buttock", said in a voice pitched
    3 semitones down, is understood; with no warp to learn it is given up as "I don't know"."""
    from voice_triage.config import Config, Engine
    from voice_triage.session import simulate

    cases = {c["id"]: c for c in load_yaml(Path(__file__).parent / "cases" / "public.yaml")["cases"]}
    answers = {**{f: "no" for f in RED_FLAGS}, **cases["p04"]["answers"]}
    (tmp_path / "a.json").write_text(json.dumps(answers))
    config = Config(engine=Engine.SPHINX, quiet=True)

    def settled() -> dict:
        return simulate(config, tmp_path / "a.json", PITCHED / "piper_low")["answers"]

    got = settled()
    assert {q: v for q, v in got.items() if q in answers and v != answers[q]} == {}
    monkeypatch.setattr(sphinx_module, "SPEAKER_WARPS", (1.0,))
    assert settled()["pain_location"] == "unknown"


def test_an_answer_rescued_by_a_warp_is_vetoed_by_any_clear_disagreement() -> None:
    """A warped decode can make a wrong phrase fit surer (hibari pitched up: "my foot" heard as
    "my thigh", confidence 0.99): a rescued answer always hears Moonshine, and a lead of 1 for
    another answer stops it (an unwarped one needs 6, and is not second-guessed from 0.99 up)."""
    from dataclasses import replace

    from voice_triage.grammar import load_grammars
    from voice_triage.recognition.decision import Evidence, SecondOpinion, confidence, decide
    from voice_triage.recognition.sphinx import RULE_OTHER, RULE_YES_NO

    g = load_grammars("en")["pain_spread"]
    very = Evidence("my thigh", verify=-0.3, margin=3.0, frames=60, extra={"warp": 1.0})
    assert confidence(very, RULE_OTHER) >= 0.99
    foot = SecondOpinion("my foot", margin=2.45, logp=-3.0, gap=-1.0, free_agrees=False, engine_agrees=False)
    assert not RULE_OTHER.wants_opinion(very)
    assert decide(g, replace(very, second=foot), RULE_OTHER).answer == "thigh"
    rescued = replace(very, extra={"warp": 0.87})
    assert RULE_OTHER.wants_opinion(rescued)
    t = decide(g, replace(rescued, second=foot), RULE_OTHER)
    assert (t.answer, t.guess) == (None, "foot")
    # Moonshine agreeing, barely leading, or hearing no plausible phrase: the rescue stands.
    for kw in ({"engine_agrees": True, "text": "my thigh"}, {"margin": 0.5}, {"gap": -10.0}):
        assert decide(g, replace(rescued, second=replace(foot, **kw)), RULE_OTHER).answer == "thigh", kw
    yn = load_grammars("en")["yes_no"]
    yes = Evidence("yes", verify=-0.2, margin=3.0, frames=50, extra={"warp": 1.14})
    no = SecondOpinion("no", margin=1.5, logp=-2.0, gap=-0.5, free_agrees=True, engine_agrees=False)
    assert decide(yn, replace(yes, second=no), RULE_YES_NO).answer is None
    assert decide(yn, replace(yes, extra={"warp": 1.0}, second=no), RULE_YES_NO).answer == "yes"
