"""The vosk (Kaldi) adapter: a model folder on disk, a grammar per prompt, a Transcript out.

How an answer is decided:
- The decoder is restricted to the prompt's phrases (vosk's JSON grammar) plus, when the model
  has one, the "[unk]" word that soaks up speech outside the grammar. Models without "[unk]"
  (the Korean one) get a few ordinary words of the language as decoys instead, so that speech
  outside the grammar has somewhere to go other than the nearest answer.
- vosk's grammar lets phrases follow one another; the product only acts on text that is
  exactly one phrase (Grammar.match). "[unk]", a decoy, two phrases, or nothing -> answer None.
- Confidence is the lower of two estimates: the smallest word confidence from the decoder's
  minimum-Bayes-risk pass, and the share of the n-best list (scores turned into probabilities)
  that means the same answer. Below MIN_CONFIDENCE (MIN_CONFIDENCE_YES_NO for yes/no
  questions) the answer is None: the interview asks again rather than act on a guess.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..audio import answer_headroom_db, frame_energies_db
from ..errors import ContentError, ModelError
from ..grammar import Grammar, normalize
from .base import NOISY_BELOW_DB, SAMPLE_RATE, Transcript
from .models import check_model_dir

log = logging.getLogger(__name__)

UNK = "[unk]"
MIN_CONFIDENCE = 0.5        # under this the product does not act on what it heard
MIN_CONFIDENCE_YES_NO = 0.6  # stricter for yes/no: a wrong answer to a red-flag question costs most
_YES_NO_VALUES = frozenset({"yes", "no", "unknown"})
N_BEST = 8                  # alternatives asked for to estimate how sure the decoder is
CHUNK = SAMPLE_RATE // 5    # feed 0.2 s at a time, as a microphone would

# Decoys for models that have no "[unk]": common words of the language, none close in sound to
# a grammar phrase. A decoy heard means "something else was said".
DECOYS: dict[str, tuple[str, ...]] = {
    # Everyday words, pruned on synthetic speech (espeak-ng, 150 in-grammar and 80 other clips):
    # words that drew in-grammar answers as often as other speech were dropped (이것 for 예,
    # 어디 for 엉덩이, 무엇 for 다시, 우리 for 다리, 노래, 문제, 나라, 기차, 친구).
    "ko": ("사람", "시간", "정말", "지금", "그런데", "하지만", "선생님", "가족", "회사", "생각",
           "영화", "커피", "버스", "공항", "병원", "책상", "창문", "전화", "학생", "음식"),
}


def _vosk() -> Any:
    try:
        import vosk
    except ImportError as exc:  # pragma: no cover - vosk is a dependency
        raise ModelError("the vosk package is not installed: pip install vosk, or use --engine sphinx") from exc
    return vosk


def set_log_level(debug: bool) -> None:
    """vosk/Kaldi write to stderr; keep them quiet (warnings and errors too: the product reports
    its own one-line error) unless --debug."""
    _vosk().SetLogLevel(0 if debug else -3)


def read_words_file(model_path: Path) -> set[str] | None:
    """The model's vocabulary from graph/words.txt, when the model ships one."""
    for candidate in (model_path / "graph" / "words.txt", model_path / "words.txt"):
        if candidate.is_file():
            with open(candidate, encoding="utf-8", errors="replace") as fh:
                return {line.split(maxsplit=1)[0] for line in fh if line.strip()}
    return None


@dataclass
class _Segment:
    """One stretch of speech between pauses, as vosk reports it."""

    text: str
    word_confidences: tuple[float, ...]
    alternatives: tuple[tuple[str, float], ...]   # (text, log score), best first


class VoskRecognizer:
    """Recognizer protocol over one loaded vosk model."""

    name = "vosk"

    def __init__(self, model_path: Path | str, lang: str, grammars: Mapping[str, Grammar] | None = None,
                 *, debug: bool = False, decoys: Iterable[str] | None = None,
                 min_confidence: float | None = None) -> None:
        vosk = _vosk()
        set_log_level(debug)
        self.lang = lang
        self.model_path = check_model_dir(Path(model_path))
        self.min_confidence = min_confidence
        try:
            # Always a path: Model(lang=...) would download.
            self._model = vosk.Model(str(self.model_path))
        except Exception as exc:
            raise ModelError(f"cannot load the vosk model in {self.model_path} "
                             f"(broken or incomplete folder? --debug shows vosk's own messages)") from exc
        self._words_file = read_words_file(self.model_path)
        self.has_unk = self.in_vocabulary(UNK)
        wanted = DECOYS.get(lang, ()) if decoys is None else tuple(decoys)
        self.decoys: tuple[str, ...] = () if self.has_unk else tuple(
            d for d in (normalize(w) for w in wanted) if d and all(self.in_vocabulary(x) for x in d.split()))
        self._grammar_json: dict[str, str] = {}
        if grammars:
            self.check_vocabulary(grammars.values())

    # -- vocabulary ---------------------------------------------------------------------------

    def in_vocabulary(self, word: str) -> bool:
        finder = getattr(self._model, "vosk_model_find_word", None)
        if finder is not None:
            return finder(word) >= 0
        if self._words_file is not None:
            return word in self._words_file
        return True  # an old vosk without find_word and no words.txt: vosk itself warns at use

    def missing_words(self, grammar: Grammar) -> list[str]:
        return grammar.words_outside(self.in_vocabulary)

    def check_vocabulary(self, grammars: Iterable[Grammar]) -> None:
        """ContentError naming the first grammar word the model cannot recognise."""
        for grammar in grammars:
            missing = self.missing_words(grammar)
            if missing:
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise ContentError(f"grammar '{grammar.name}': the word '{missing[0]}'{more} is not in the "
                                   f"vocabulary of the vosk model {self.model_path}")

    # -- recognition --------------------------------------------------------------------------

    def grammar_json(self, grammar: Grammar) -> str:
        key = grammar.name + "\0" + "|".join(grammar.phrases())
        cached = self._grammar_json.get(key)
        if cached is None:
            extra = [UNK] if self.has_unk else list(self.decoys_for(grammar))
            # ensure_ascii=False: vosk reads the JSON as UTF-8 and does not undo \\u escapes.
            cached = json.dumps(grammar.phrases() + extra, ensure_ascii=False)
            self._grammar_json[key] = cached
        return cached

    def min_confidence_for(self, grammar: Grammar) -> float:
        if self.min_confidence is not None:
            return self.min_confidence
        return MIN_CONFIDENCE_YES_NO if set(grammar.values) <= _YES_NO_VALUES else MIN_CONFIDENCE

    def decoys_for(self, grammar: Grammar) -> tuple[str, ...]:
        """The decoys that are not words of this grammar (a decoy must never hide an answer)."""
        words = grammar.words()
        return tuple(d for d in self.decoys if not set(d.split()) & words)

    def stream(self, grammar: Grammar) -> "VoskStream":
        return VoskStream(self, grammar)

    def recognize(self, samples: np.ndarray, grammar: Grammar) -> Transcript:
        s = self.stream(grammar)
        s.feed(samples)
        return s.finish()

    def _new_kaldi(self, grammar: Grammar, n_best: int) -> Any:
        vosk = _vosk()
        rec = vosk.KaldiRecognizer(self._model, float(SAMPLE_RATE), self.grammar_json(grammar))
        if n_best:
            rec.SetMaxAlternatives(n_best)
        else:
            rec.SetWords(True)
        return rec


class VoskStream:
    """One utterance. Two decoders run side by side on the same audio: one gives word
    confidences, the other an n-best list (vosk gives one or the other, not both)."""

    def __init__(self, recognizer: VoskRecognizer, grammar: Grammar) -> None:
        self._owner = recognizer
        self._grammar = grammar
        self._words = recognizer._new_kaldi(grammar, 0)
        self._nbest = recognizer._new_kaldi(grammar, N_BEST)
        self._word_results: list[dict[str, Any]] = []
        self._nbest_results: list[dict[str, Any]] = []
        self._audio: list[np.ndarray] = []      # kept to measure the room's noise (not stored)
        self._finished: Transcript | None = None

    def feed(self, samples: np.ndarray) -> None:
        if self._finished is not None:
            raise RuntimeError("feed() after finish()")
        data = np.asarray(samples)
        if data.dtype != np.int16:
            data = np.clip(np.round(data), -32768, 32767).astype(np.int16)
        data = data.reshape(-1)
        self._audio.append(data)
        for start in range(0, len(data), CHUNK):
            chunk = data[start:start + CHUNK].tobytes()
            # True means vosk saw the end of a stretch of speech: collect it, or it is lost.
            if self._words.AcceptWaveform(chunk):
                self._word_results.append(json.loads(self._words.Result()))
            if self._nbest.AcceptWaveform(chunk):
                self._nbest_results.append(json.loads(self._nbest.Result()))

    def ready(self) -> None:
        """Nothing to do: vosk decodes the audio as it arrives."""

    def finish(self) -> Transcript:
        if self._finished is None:
            self._word_results.append(json.loads(self._words.FinalResult()))
            self._nbest_results.append(json.loads(self._nbest.FinalResult()))
            t = decide(self._grammar, _segments(self._word_results, self._nbest_results),
                       self._owner.decoys_for(self._grammar), self._owner.min_confidence_for(self._grammar))
            # A loud room next to the answer (about 15 dB SNR or worse): the spoken interview says
            # once, after a failed try, that it is noisy and what helps.
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.int16)
            self._audio = []
            self._finished = dataclasses.replace(
                t, noisy=answer_headroom_db(frame_energies_db(audio)) < NOISY_BELOW_DB)
        return self._finished


def _segments(word_results: list[dict[str, Any]], nbest_results: list[dict[str, Any]]) -> list[_Segment]:
    words = [r for r in word_results if r.get("text", "").strip()]
    nbest = [r for r in nbest_results if any(a.get("text", "").strip() for a in r.get("alternatives", []))]
    if len(nbest) != len(words):  # the two decoders split the speech differently: words only
        log.debug("word and n-best decoders found %d and %d segments", len(words), len(nbest))
        nbest = []
    segments: list[_Segment] = []
    for i, r in enumerate(words):
        alts: tuple[tuple[str, float], ...] = ()
        if nbest:
            alts = tuple((_clean(a.get("text", "")), float(a.get("confidence", 0.0)))
                         for a in nbest[i].get("alternatives", []))
        confs = tuple(float(w.get("conf", 0.0)) for w in r.get("result", []))
        segments.append(_Segment(_clean(r["text"]), confs, alts))
    return segments


def _clean(text: str) -> str:
    # Not grammar.normalize: that would turn "[unk]" into "unk".
    return " ".join(text.lower().split())


def nbest_share(alternatives: Iterable[tuple[str, float]], grammar: Grammar, text: str) -> float:
    """The share of the n-best probability mass whose text means what `text` means."""
    alts = list(alternatives)
    if not alts:
        return 1.0
    target = grammar.match(text)
    top = max(score for _, score in alts)
    mass = same = 0.0
    for alt_text, score in alts:
        p = math.exp(score - top)
        mass += p
        if alt_text == text or (target is not None and grammar.match(alt_text) == target):
            same += p
    return same / mass if mass > 0 else 0.0


def decide(grammar: Grammar, segments: list[_Segment], decoys: Iterable[str] = (),
           min_confidence: float = MIN_CONFIDENCE) -> Transcript:
    """Turn what the decoder heard into the product's Transcript (answer None = ask again)."""
    if not segments:
        return Transcript(text="", answer=None, confidence=0.0)
    text = " ".join(s.text for s in segments)
    word_conf = min((c for s in segments for c in s.word_confidences), default=0.0)
    share = 1.0
    for s in segments:
        share *= nbest_share(s.alternatives, grammar, s.text)
    confidence = max(0.0, min(1.0, word_conf, share))
    alternatives: tuple[tuple[str, float], ...] = ()
    if len(segments) == 1 and segments[0].alternatives:
        alts = segments[0].alternatives
        top = max(score for _, score in alts)
        mass = sum(math.exp(score - top) for _, score in alts)
        alternatives = tuple((t, round(math.exp(sc - top) / mass, 4)) for t, sc in alts if t != text)
    decoy_words = {w for d in decoys for w in d.split()}
    heard = text.split()
    if UNK in heard or decoy_words.intersection(heard):
        log.debug("heard %r: outside the grammar", text)
        return Transcript(text=text, answer=None, confidence=0.0, alternatives=alternatives)
    answer = grammar.match(text)
    if answer is None:
        log.debug("heard %r: not one phrase of grammar %s", text, grammar.name)
        return Transcript(text=text, answer=None, confidence=0.0, alternatives=alternatives)
    if confidence < min_confidence:
        log.debug("heard %r -> %s, but only %.2f sure", text, answer, confidence)
        return Transcript(text=text, answer=None, confidence=confidence, alternatives=alternatives)
    return Transcript(text=text, answer=answer, confidence=confidence, alternatives=alternatives)
