"""`voice-triage transcribe`: one answer per WAV file, under a question's grammar."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from ..audio import load_wav
from ..config import Config
from ..errors import BadInputError
from ..grammar import Grammar, load_grammars
from .base import Recognizer

log = logging.getLogger(__name__)

# Used only when the content pack cannot be imported (a trimmed install): the CONTRACT's questions.
_LOCATION_GRAMMARS = {"pain_location": "pain_location", "pain_spread": "pain_spread"}
_YES_NO_QUESTIONS = ("nerve_sensations", "leg_worse_than_back", "cough_sneeze", "single_leg_stance", "tender_side",
                     "lying_on_side", "walking_stairs", "sitting_worse", "socks_shoes", "bending_back")


def grammar_for_question(lang: str, question_id: str) -> Grammar:
    """The grammar a question is answered under. BadInputError naming an unknown question id."""
    try:
        from ..content import load_content
    except ImportError:
        load_content = None
    if load_content is not None:
        content = load_content(lang)
        question = content.questions.get(question_id)
        if question is None:
            known = ", ".join(content.questions)
            raise BadInputError(f"unknown question '{question_id}' (one of: {known})")
        return content.grammars[question.grammar]
    grammars = load_grammars(lang)
    if question_id in _LOCATION_GRAMMARS:
        return grammars[_LOCATION_GRAMMARS[question_id]]
    if question_id in _YES_NO_QUESTIONS or question_id.startswith("rf_"):
        return grammars["yes_no"]
    raise BadInputError(f"unknown question '{question_id}'")


def _recognizer(config: Config) -> Recognizer:
    try:
        from .select import make_recognizer
    except ImportError:
        from .sphinx import SphinxRecognizer

        return SphinxRecognizer(config.lang)
    return make_recognizer(config)


def transcribe_files(config: Config, paths: Sequence[Path | str], question_id: str) -> list[dict[str, object]]:
    """[{"file", "text", "answer", "confidence"}] in the order given.

    The question and every file are checked before the model loads, so bad input fails fast with
    one line (exit 2) and no half-printed results.
    """
    grammar = grammar_for_question(config.lang, question_id)
    audio = [(str(p), load_wav(p)) for p in paths]
    recognizer = _recognizer(config)
    results: list[dict[str, object]] = []
    for name, samples in audio:
        transcript = recognizer.recognize(samples, grammar)
        log.debug("%s: %r -> %s (%.2f) alternatives %s", name, transcript.text, transcript.answer,
                  transcript.confidence, transcript.alternatives)
        results.append({"file": name, **transcript.to_json()})
    return results
