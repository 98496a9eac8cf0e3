"""The typed configuration the command line builds and passes down."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Engine(str, Enum):
    AUTO = "auto"
    VOSK = "vosk"
    SPHINX = "sphinx"


@dataclass(frozen=True)
class Config:
    lang: str = "en"
    engine: Engine = Engine.AUTO      # auto: vosk when a model for the language is installed
    model: Path | None = None         # a vosk model folder
    json: bool = False
    debug: bool = False
    rate: int | None = None           # speech rate, words per minute (None: the voice's default)
    volume: float = 1.0               # 0..1
    timeout: float | None = None      # seconds to wait for an answer to start (None: no limit)
    input_device: str | None = None   # sounddevice name or number
    output_device: str | None = None
    report: Path | None = None        # write the session as Markdown and JSON
    save_audio: Path | None = None    # save the prompts spoken (demo) to this WAV
    quiet: bool = False               # no speech out (tests, scripts)
