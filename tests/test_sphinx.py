"""The bundled pocketsphinx recogniser on real recordings (tests/fixtures/audio), with the real model.

The thresholds below are the product's bar, not what happens to pass: clean tuned voices must be
understood, nothing out of grammar may be acted on, and a yes/no answer must never be misheard.
Where the engine does not yet reach the product's target in noise the test says so (xfail, with
the measured figure) rather than lowering the bar silently.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import Denoiser, frame_energies_db, load_wav, steady_noise
from voice_triage.errors import ContentError
from voice_triage.grammar import Grammar, load_grammars
from voice_triage.noise import mix
from voice_triage.recognition.base import RecognitionStream, Recognizer
from voice_triage.recognition.decision import Evidence, RejectionRule, decide
from voice_triage.recognition.sphinx import SphinxRecognizer
from voice_triage.yamlio import load_yaml

AUDIO = Path(__file__).parent / "fixtures" / "audio"
MANIFEST = load_yaml(AUDIO / "manifest.yaml")
CLIPS = [c for c in MANIFEST["clips"] if c.get("lang", "en") == "en"]
OOG = [c for c in MANIFEST.get("oog") or [] if c.get("lang", "en") == "en"]
TUNED = [c for c in CLIPS if not c["heldout"]]
HELDOUT = [c for c in CLIPS if c["heldout"]]
TUNED_VOICES = sorted({c["voice"] for c in TUNED})
YES_NO = {"yes", "no", "unknown"}

@pytest.fixture(scope="module")
def rec() -> SphinxRecognizer:
    return SphinxRecognizer("en")


def _grammar(rec: SphinxRecognizer, clip: dict) -> Grammar:
    return rec.grammars[clip.get("grammar") or "yes_no"]


_SCORES: dict[tuple, dict] = {}


def _score(rec: SphinxRecognizer, clips: list[dict], noise: str | None = None, snr: float = 10.0) -> dict:
    """Aggregate right / wrong over clips (cached: the floor and the target tests share a run)."""
    key = (tuple(c["path"] for c in clips), noise, snr)
    if key not in _SCORES:
        _SCORES[key] = _run_score(rec, clips, noise, snr)
    return _SCORES[key]


def _run_score(rec: SphinxRecognizer, clips: list[dict], noise: str | None, snr: float) -> dict:
    right = wrong = wrong_yes_no = 0
    misses: list[str] = []
    for i, c in enumerate(clips):
        x = load_wav(AUDIO / c["path"])
        if noise:
            x = mix(x, noise, snr, seed=i)
        t = rec.recognize(x, _grammar(rec, c))
        if t.answer == c["value"]:
            right += 1
        elif t.answer is not None:
            wrong += 1
            wrong_yes_no += bool({t.answer, c["value"]} & YES_NO)
            misses.append(f"{c['path']}: {c['text']!r} -> {t.answer} ({t.text!r}, {t.confidence:.2f})")
    n = max(1, len(clips))
    return {"right": right / n, "wrong": wrong / n, "wrong_yes_no": wrong_yes_no, "misses": misses, "n": len(clips)}


@pytest.mark.slow
def test_is_a_recognizer(rec: SphinxRecognizer) -> None:
    assert isinstance(rec, Recognizer)
    assert isinstance(rec.stream(rec.grammars["yes_no"]), RecognitionStream)
    assert rec.name == "sphinx" and rec.lang == "en"


@pytest.mark.slow
def test_loads_fast_and_checks_vocabulary() -> None:
    t = time.perf_counter()
    SphinxRecognizer("en")
    assert time.perf_counter() - t < 4.0     # 2 s target on an idle machine; slack for a busy CI box


@pytest.mark.slow
def test_unknown_word_is_a_content_error(rec: SphinxRecognizer) -> None:
    g = Grammar(name="odd", values={"yes": ("yes", "zorblax")}, commands={})
    with pytest.raises(ContentError, match="zorblax"):
        rec.check_vocabulary([g])


@pytest.mark.slow
def test_every_shipped_grammar_word_is_pronounceable(rec: SphinxRecognizer) -> None:
    for g in load_grammars("en").values():
        assert rec.missing_words(g) == []


# Regression floors at the measured level (rounded down). espeak's formant voice fits the model
# worst: a third of its answers are rejected (asked again; 68% acted on), none is misheard.
MIN_RIGHT_CLEAN = {"espeak": 0.60}


@pytest.mark.slow
@pytest.mark.parametrize("voice", TUNED_VOICES)
def test_clean_tuned_voice(rec: SphinxRecognizer, voice: str) -> None:
    r = _score(rec, [c for c in TUNED if c["voice"] == voice])
    assert r["wrong_yes_no"] == 0, r["misses"]
    assert r["wrong"] <= 0.03, r["misses"]
    assert r["right"] >= MIN_RIGHT_CLEAN.get(voice, 0.85), r


@pytest.mark.slow
def test_clean_heldout_voices(rec: SphinxRecognizer) -> None:
    r = _score(rec, HELDOUT)
    assert r["wrong_yes_no"] == 0, r["misses"]
    assert r["wrong"] <= 0.03, r["misses"]
    assert r["right"] >= 0.70, r


@pytest.mark.slow
def test_clean_tuned_target(rec: SphinxRecognizer) -> None:
    right = [_score(rec, [c for c in TUNED if c["voice"] == v])["right"] for v in TUNED_VOICES]
    assert float(np.mean(right)) >= 0.98, dict(zip(TUNED_VOICES, right))


@pytest.mark.slow
def test_out_of_grammar_is_rejected(rec: SphinxRecognizer) -> None:
    if not OOG:
        pytest.skip("no out-of-grammar clips in the manifest")
    accepted = []
    for c in OOG:
        for gname in ("yes_no", "pain_location", "pain_spread"):
            t = rec.recognize(load_wav(AUDIO / c["path"]), rec.grammars[gname])
            if t.answer is not None:
                accepted.append(f"{c['path']} under {gname}: {t.answer} ({t.text!r}, {t.confidence:.2f})")
    assert not [a for a in accepted if "yes_no" in a], accepted
    assert len(accepted) <= 0.03 * 3 * len(OOG), accepted


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["silence", "white", "hum"])
def test_no_speech_is_no_answer(rec: SphinxRecognizer, kind: str) -> None:
    rng = np.random.default_rng(3)
    n = 16000 * 2
    x = {"silence": np.zeros(n),
         "white": rng.standard_normal(n) * 300,
         "hum": 2000 * np.sin(2 * np.pi * 50 * np.arange(n) / 16000) + rng.standard_normal(n) * 50}[kind]
    for g in rec.grammars.values():
        assert rec.recognize(np.round(x).astype(np.int16), g).answer is None


@pytest.mark.slow
def test_streaming_matches_whole_and_finishes_fast(rec: SphinxRecognizer) -> None:
    clips = TUNED[::9]
    lat = []
    for c in clips:
        x = load_wav(AUDIO / c["path"])
        g = _grammar(rec, c)
        whole = rec.recognize(x, g)
        s = rec.stream(g)
        for i in range(0, len(x), 1600):       # 100 ms at a time, as a microphone delivers it
            s.feed(x[i:i + 1600])
        t = time.perf_counter()
        streamed = s.finish()
        lat.append(time.perf_counter() - t)
        assert (streamed.text, streamed.answer) == (whole.text, whole.answer)
    assert float(np.percentile(lat, 95)) < 0.1, lat


@pytest.mark.slow
def test_a_stretch_grown_into_the_end_by_background_talk_is_not_decoded_again(rec, monkeypatch) -> None:
    """Under background talk the answer's stretch, decoded once the speaker paused, can grow into
    the very end of the audio (the voice behind the speaker joins it). When the decode at the
    pause gave an answer to act on, finish() keeps it rather than decode it all again (0.2-0.9 s,
    a held-up answer); when it did not, or the stretch does not overlap the one decoded (the
    answer after a cough), the stretch is decoded."""
    from voice_triage.audio import speech_segment
    from voice_triage.recognition.sphinx import PAUSE_FRAMES, _same_stretch

    decoded: list[tuple[int, int]] = []
    real = rec._engine_evidence
    monkeypatch.setattr(rec, "_engine_evidence", lambda x, seg, g: decoded.append(seg) or real(x, seg, g))

    def stream(x: np.ndarray, g: Grammar):
        decoded.clear()
        s = rec.stream(g)
        for i in range(0, len(x), 320):        # 20 ms blocks, like the microphone
            s.feed(x[i:i + 320])
        final = speech_segment(frame_energies_db(x))
        assert decoded and not _same_stretch(final, decoded[-1])
        return s, len(decoded), final

    def grown(path: str, seed: int):
        clip = next(c for c in TUNED if c["path"] == path)
        g = _grammar(rec, clip)
        x = mix(load_wav(AUDIO / path), "babble", 10.0, seed=seed)
        s, n, final = stream(x, g)
        assert len(x) // 160 - final[1] < PAUSE_FRAMES and decoded[-1][0] < final[1], "not grown: another mix?"
        at_pause = decide(g, s._complete(s._done[-1])[0], rec.rule_for(g))  # what the decode at the pause gave
        return x, clip, s, n, at_pause

    x, clip, s, n, at_pause = grown("flite_kal16/no.1.wav", 41)     # (the benchmark's mix of this clip)
    assert at_pause.answer == "no"
    t = s.finish()
    assert len(decoded) == n, "decoded again at the end"
    assert t.answer == "no"

    # (A mix whose decode at the pause is far from every bar: Moonshine's lead about 1.8, pocketsphinx
    # far from sure. The int8 decoder's scores differ a little from one CPU to another: the mix used
    # until 2026-11-27, espeak/yes.1.wav at seed 228, had Moonshine's "yeah" just under its bar of 5
    # on one machine and at 5.01 on another.)
    x, clip, s, n, at_pause = grown("flite_kal16/upper_buttock.wav", 44)
    assert at_pause.answer is None
    t = s.finish()
    assert len(decoded) == n + 1 and t.answer == rec.recognize(x, _grammar(rec, clip)).answer

    # A cough-like stretch, a pause, then an answer cut off at the very end: that one is decoded.
    g = rec.grammars["pain_spread"]
    first = load_wav(AUDIO / "espeak" / "yes.wav")
    second = load_wav(AUDIO / "hibari" / "foot.wav")
    seg = speech_segment(frame_energies_db(second))
    y = np.concatenate([first, np.zeros(8000, dtype=np.int16), second[:seg[1] * 160]])
    s, n, final = stream(y, g)
    assert decoded[-1][1] <= final[0]
    s.finish()
    assert len(decoded) == n + 1 and decoded[-1] == final


@pytest.mark.slow
def test_moonshine_waits_for_a_long_pause_or_ready(rec, count_decodes) -> None:
    """At a pause of 80 ms pocketsphinx decodes the stretch so far; Moonshine (two thirds of a
    decode's time under noise, and a pause that short is often inside the answer) is asked only once
    the pause has lasted OPINION_PAUSE_FRAMES, or when the endpointer calls ready(). finish() then
    has nothing left to do, and gives what a decode of the same stretch gives."""
    from voice_triage.audio import speech_segment
    from voice_triage.recognition.sphinx import OPINION_PAUSE_FRAMES, PAUSE_FRAMES

    calls = count_decodes(rec)
    clip = next(c for c in TUNED if c["path"] == "flite_rms/foot.wav")
    g = _grammar(rec, clip)
    x = mix(load_wav(AUDIO / clip["path"]), "babble", 10.0, seed=5)

    def fed(upto: int | None = None):
        """A stream fed x (up to where the stream's own stretch has had `upto` frames of pause) in
        20 ms blocks; each call it made, with the pause it had then."""
        calls.clear()
        s, log = rec.stream(g), []
        for i in range(0, len(x), 320):
            n = len(calls)
            s.feed(x[i:i + 320])
            seg = speech_segment(s._energies)
            pause = s._energies.size - seg[1] if seg else 0
            log += [(c, pause) for c in calls[n:]]
            if upto is not None and pause >= upto:
                break
        return s, log

    s, log = fed()
    first = next(i for i, (c, _) in enumerate(log) if c == "moonshine")
    assert log[0][0] == "decode" and PAUSE_FRAMES <= log[0][1] < OPINION_PAUSE_FRAMES, log
    assert all(p >= OPINION_PAUSE_FRAMES for c, p in log if c == "moonshine"), log
    assert rec.rule_for(g).wants_opinion(s._done[-1].evidence), "a mix Moonshine is wanted for"
    n = len(calls)
    t = s.finish()
    assert len(calls) == n, "finish() decoded again"
    assert t.answer in {None, "foot"} and first > 0

    s, log = fed(upto=PAUSE_FRAMES)
    assert calls and set(calls) == {"decode"}, calls
    s.ready()
    assert calls.count("moonshine") == 1, calls
    n = len(calls)
    s.finish()
    assert len(calls) == n, "finish() decoded again after ready()"


@pytest.mark.slow
def test_i_dont_know_is_understood_at_the_location_prompts(rec: SphinxRecognizer) -> None:
    """Every location prompt offers "... or I don't know", and CONTRACT.md asks every grammar to
    understand it: each voice's "I don't know" / "not sure" clips, said where the pain is or where
    it travels, are taken as unknown, clean and under background talk at 10 dB (or not acted on);
    never as a place. ("No idea" and "I can't tell" are in the location grammars since the ninth
    round: left out, flite slt's "no idea" was heard as "near my tailbone". The rarer ways of saying
    it stay out, to keep the rivals for a place few. See the grammar.)"""
    clips = [c for c in CLIPS if c["value"] == "unknown"]
    said = set(rec.grammars["pain_location"].values["unknown"]) & set(rec.grammars["pain_spread"].values["unknown"])
    got: dict[str, list] = {"clean": [], "babble": []}
    for i, c in enumerate(clips):
        x = load_wav(AUDIO / c["path"])
        for cond, audio in (("clean", x), ("babble", mix(x, "babble", 10.0, seed=i))):
            for name in ("pain_location", "pain_spread"):
                if c["text"] in said:
                    t = rec.recognize(audio, rec.grammars[name])
                    assert t.answer in (None, "unknown"), (cond, c["path"], name, t.text)
                    got[cond].append(t.answer)
    assert len(got["clean"]) >= 20
    assert got["clean"].count("unknown") == len(got["clean"]), got["clean"]
    assert got["babble"].count("unknown") >= 0.8 * len(got["babble"]), got["babble"]


# Noise: aggregate over every third tuned clip (the whole set runs in `voice-triage bench`).
NOISY = TUNED[::3]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["white", "babble"])
def test_noise_10db_never_misheard(rec: SphinxRecognizer, kind: str) -> None:
    r = _score(rec, NOISY, kind, 10.0)
    assert r["wrong_yes_no"] == 0, r["misses"]
    assert r["wrong"] <= 0.03, r["misses"]


@pytest.mark.xfail(reason="issue 3's noise targets (95% / 90% at 10 dB) are not met: neither model's best "
                          "phrase is right that often; current figures in the README", strict=False)
@pytest.mark.slow
@pytest.mark.parametrize("kind,target", [("white", 0.95), ("babble", 0.90)])
def test_noise_10db_target(rec: SphinxRecognizer, kind: str, target: float) -> None:
    r = _score(rec, NOISY, kind, 10.0)
    assert r["right"] >= target, r


# The rejection rule itself (no model needed).
RULE = RejectionRule(score_min=-2.0, margin_weight=0.5, margin_min=0.1, agreement_min=1.0, max_frames_per_phone=15)
YN = load_grammars("en")["yes_no"]


def test_decide_acts_on_clear_evidence() -> None:
    t = decide(YN, Evidence("yes", verify=-0.5, margin=2.0, frames=60), RULE)
    assert t.answer == "yes" and t.text == "yes" and t.confidence > 0.9


@pytest.mark.parametrize("evidence", [
    Evidence("yes", verify=-4.0, margin=2.0),                    # poor fit: out of grammar?
    Evidence("yes", verify=-0.5, margin=0.05),                   # a different answer nearly as good
    Evidence("yes", verify=-0.5, margin=2.0, agreement=0.0),     # the two readings disagree
    Evidence("yes", verify=-0.5, margin=2.0, extra={"frames_per_phone": 40.0}),  # a long sentence
    Evidence("", verify=float("-inf"), margin=0.0),              # nothing heard
    Evidence("banana", verify=-0.5, margin=2.0),                 # not a phrase of this grammar
])
def test_decide_rejects_doubtful_evidence(evidence: Evidence) -> None:
    t = decide(YN, evidence, RULE)
    assert t.answer is None
    assert 0.0 <= t.confidence < RULE.confidence_at_threshold


def test_confidence_grows_with_the_evidence() -> None:
    confs = [decide(YN, Evidence("no", verify=v, margin=3.0), RULE).confidence for v in (-2.0, -1.5, -1.0, -0.5)]
    assert confs == sorted(confs) and confs[0] >= RULE.confidence_at_threshold - 1e-6


# The front end for steady noise (RNNoise) and the test that picks it.
def test_steady_noise_tells_white_noise_from_background_talk() -> None:
    rng = np.random.default_rng(5)
    white = frame_energies_db(np.round(rng.standard_normal(8000) * 300).astype(np.int16))
    speech = np.full(50, 80.0)
    assert steady_noise(white, speech)
    talk = white + 6.0 * np.sin(np.arange(white.size) / 3.0)      # energy swinging like babble
    assert not steady_noise(talk, speech)
    assert not steady_noise(np.zeros(50), speech)                 # clean: nothing worth removing
    assert not steady_noise(white[:5], speech)                    # too little to judge


def test_denoiser_keeps_length_and_removes_white_noise() -> None:
    try:
        d = Denoiser()
    except (ImportError, OSError):
        pytest.skip("pyrnnoise is not installed")
    x = load_wav(AUDIO / TUNED[0]["path"])
    noisy = mix(x, "white", 5.0, seed=1)
    y = d(noisy)
    assert y.dtype == np.int16 and y.shape == noisy.shape
    # the speech stays in place (delay removed) and the noise goes down
    err_in = np.sum((noisy.astype(float) - x) ** 2)
    scale = np.dot(y.astype(float), x) / max(1.0, np.dot(y.astype(float), y))
    assert np.sum((scale * y.astype(float) - x) ** 2) < 0.5 * err_in
