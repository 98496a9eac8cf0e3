"""`voice-triage transcribe`: one answer per WAV file, under a question's grammar."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from ..audio import load_wav
from ..config import Config
from ..errors import BadInputError
from ..grammar import Grammar, load_grammars
from ..content import load_content
from ..model import RED_FLAGS, SYMPTOM_QUESTIONS
from ..paths import data_dir
from .select import make_recognizer

log = logging.getLogger(__name__)

def grammar_for_question(lang: str, question_id: str) -> Grammar:
    """The grammar a question is answered under. BadInputError naming an unknown question id.

    A language with grammars but no content pack yet (Korean, used to test the vosk adapter)
    still takes the CONTRACT's question ids: the location questions have their own grammars,
    every other question is yes/no.
    """
    if (data_dir("content") / lang).is_dir():
        content = load_content(lang)
        question = content.questions.get(question_id)
        if question is None:
            raise BadInputError(f"unknown question '{question_id}' (one of: {', '.join(content.questions)})")
        return content.grammars[question.grammar]
    grammars = load_grammars(lang)
    if question_id in ("pain_location", "pain_spread"):
        return grammars[question_id]
    if question_id in SYMPTOM_QUESTIONS or question_id in RED_FLAGS:
        return grammars["yes_no"]
    raise BadInputError(f"unknown question '{question_id}' (one of: {', '.join(SYMPTOM_QUESTIONS + RED_FLAGS)})")


def transcribe_files(config: Config, paths: Sequence[Path | str], question_id: str) -> list[dict[str, object]]:
    """[{"file", "text", "answer", "confidence"}] in the order given.

    The question and every file are checked before the model loads, so bad input fails fast with
    one line (exit 2) and no half-printed results.
    """
    grammar = grammar_for_question(config.lang, question_id)
    audio = [(str(p), load_wav(p)) for p in paths]
    recognizer = make_recognizer(config)
    results: list[dict[str, object]] = []
    for name, samples in audio:
        transcript = recognizer.recognize(samples, grammar)
        log.debug("%s: %r -> %s (%.2f) alternatives %s", name, transcript.text, transcript.answer,
                  transcript.confidence, transcript.alternatives)
        results.append({"file": name, **transcript.to_json()})
    return results
