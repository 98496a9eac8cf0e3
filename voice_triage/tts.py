"""Speech out: a Voice (speech.py) that renders prompts with pyttsx3 (espeak-ng on Linux) and plays
them through a Speaker (devices.py).

pyttsx3's own playback shells out to `aplay` and cannot be interrupted, so each prompt is rendered
to a temporary WAV file (read back at once and deleted), kept in memory per
(text, rate), and played by our Speaker, which stop() can cut short. No audio is kept on disk
unless the user asks for it with --save-audio FILE (every prompt, appended to one WAV).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any, Iterable, TextIO

import numpy as np

from .devices import Speaker, resample
from .errors import DeviceError
from .session import DEFAULT_RATE, MAX_RATE, MIN_RATE

log = logging.getLogger(__name__)

RATE_STEP = 25                   # words per minute per "slower" / "faster"
_LEAD_PAD, _TAIL_PAD = 0.02, 0.08  # seconds of silence kept around a rendered prompt
_SILENCE = 100                   # |sample| at or under this counts as silence when trimming


def clamp_rate(words_per_minute: int) -> int:
    return max(MIN_RATE, min(MAX_RATE, int(words_per_minute)))


_ENGINE_LOCK = threading.Lock()   # pyttsx3's engine and espeak-ng's callback are per process (SpeechVoice._render)


class SpeechVoice:
    """Prompts spoken aloud (or, with no speaker, printed), optionally saved to one WAV file."""

    def __init__(self, speaker: Speaker | None, *, rate: int | None = None, volume: float = 1.0,
                 lang: str = "en", save_audio: Path | None = None, out: TextIO | None = None) -> None:
        self.speaker = speaker
        self.out = out                      # prompts are printed here too (None: not printed)
        self.volume = max(0.0, min(1.0, float(volume)))
        self._rate = clamp_rate(rate if rate is not None else DEFAULT_RATE)
        self.lang = lang
        # The engine starts only when something will be rendered (a speaker, or saved audio):
        # printed prompts need no espeak-ng.
        self._engine = _start_engine(lang) if (speaker is not None or save_audio is not None) else None
        self._lock = threading.Lock()       # pyttsx3 is not thread-safe: one render at a time
        self._cache: dict[tuple[str, int], tuple[np.ndarray, int]] = {}
        self._saver = _WavAppender(save_audio) if save_audio is not None else None
        self._prepare: threading.Thread | None = None
        self._closing = threading.Event()

    # -- Voice protocol -----------------------------------------------------------------------
    @property
    def rate(self) -> int:
        return self._rate

    def set_rate(self, words_per_minute: int) -> None:
        self._rate = clamp_rate(words_per_minute)

    def say(self, text: str) -> None:
        text = " ".join(str(text).split())
        if not text:
            return
        if self.out is not None:
            self.out.write(text + "\n")
            self.out.flush()
        if self.speaker is None and self._saver is None:
            return
        began = time.monotonic()
        samples, rate = self.render(text)
        log.debug("saying %r (ready in %.0f ms)", text[:40], 1000 * (time.monotonic() - began))
        self.play(samples, rate)

    # -- the rest -------------------------------------------------------------------------------
    def play(self, samples: np.ndarray, rate: int) -> None:
        """Any audio through the speaker (if any) and into the saved session (if asked for)."""
        if self._saver is not None:
            self._saver.append(samples, rate)
        if self.speaker is not None:
            self.speaker.play(samples, rate)

    def stop(self) -> None:
        """Cut the prompt being played short."""
        if self.speaker is not None:
            self.speaker.stop()

    def render(self, text: str) -> tuple[np.ndarray, int]:
        """(int16 samples, sample rate) of `text` at the current rate; cached."""
        key = (text, self._rate)
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                hit = self._cache[key] = self._render(text, self._rate)
        return hit

    def prepare(self, texts: Iterable[str]) -> None:
        """Render these in the background, so they start at once when said."""
        todo = [" ".join(str(t).split()) for t in texts]
        rate = self._rate

        def work() -> None:
            for text in todo:
                if self._closing.is_set():
                    return
                if not text or rate != self._rate:
                    continue
                with self._lock:
                    if (text, rate) not in self._cache:
                        try:
                            self._cache[(text, rate)] = self._render(text, rate)
                        except DeviceError as exc:
                            log.debug("pre-render failed: %s", exc)
                            return
                # A lock is not fair: without a pause here a say() waiting for it could wait
                # for the whole list.
                time.sleep(0.005)

        self._prepare = threading.Thread(target=work, name="tts-prepare", daemon=True)
        self._prepare.start()

    def close(self) -> None:
        """Stop pre-rendering and finish the saved audio (if any)."""
        self._closing.set()
        if self._prepare is not None:
            self._prepare.join()   # at most one render away
        if self._saver is not None:
            self._saver.close()
            self._saver = None

    def __enter__(self) -> SpeechVoice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _render(self, text: str, rate: int) -> tuple[np.ndarray, int]:
        # pyttsx3.init() hands every caller the same engine, and espeak-ng has one synthesis
        # callback per process: two voices rendering at once (a voice's background prepare() and
        # another voice) share one driver, and a render was cut short or never returned (2026-11-27:
        # two threads rendering a long prompt through two SpeechVoices hung one of them; a prompt
        # came out a second short in a full test run). One render at a time in the process.
        with _ENGINE_LOCK:
            try:
                return self._render_once(text, rate)
            except NothingRendered:
                # pyttsx3 2.99's espeak driver now and then ends an utterance without writing its
                # WAV (twice in seven full test runs here, before the process-wide lock); a second
                # try renders it.
                log.debug("espeak-ng rendered nothing for %r; trying once more", text[:40])
                return self._render_once(text, rate)

    def _render_once(self, text: str, rate: int) -> tuple[np.ndarray, int]:
        if self._engine is None:
            self._engine = _start_engine(self.lang)
        fd, name = tempfile.mkstemp(prefix="voice-triage-", suffix=".wav")
        os.close(fd)
        path = Path(name)
        try:
            # Volume first: with the rate set before it, espeak-ng (async mode) kept the old rate.
            _set_property(self._engine, "volume", self.volume)
            _set_property(self._engine, "rate", rate)
            # pyttsx3's espeak driver prints "Audio saved to ..." on stdout, which --json owns.
            with contextlib.redirect_stdout(io.StringIO()):
                self._engine.save_to_file(text, str(path))
                self._engine.runAndWait()
                _wait_for_synthesis(self._engine)
            samples, sr = _read_wav(path)
        except DeviceError:
            raise
        except Exception as exc:
            raise DeviceError(f"speech output failed (pyttsx3/espeak-ng: {exc.__class__.__name__}: {exc})") from None
        finally:
            path.unlink(missing_ok=True)
        return _trim(samples, sr), sr


class NothingRendered(DeviceError):
    """espeak-ng wrote no audio for a prompt."""


def _start_engine(lang: str) -> Any:
    try:
        import pyttsx3
    except ImportError:
        raise DeviceError("speech output is not available: pyttsx3 is not installed (pip install pyttsx3)") from None
    try:
        engine = pyttsx3.init()
    except Exception as exc:   # no espeak-ng library: OSError, RuntimeError, ...
        raise DeviceError("speech output is not available: pyttsx3 cannot start espeak-ng "
                          f"(install the Debian package espeak-ng): {exc}") from None
    if lang and lang != "en":
        try:
            engine.setProperty("voice", lang)
        except Exception as exc:
            log.warning("no espeak-ng voice for '%s' (%s); using the default voice", lang, exc)
    return engine


def _set_property(engine: Any, name: str, value: object) -> None:
    """Set a voice property now. pyttsx3 2.99 queues engine.setProperty behind the synthesis
    state, so a new rate reached espeak-ng one prompt late; its driver sets it at once."""
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    if driver is not None and hasattr(driver, "setProperty"):
        driver.setProperty(name, value)
    else:
        engine.setProperty(name, value)


def _wait_for_synthesis(engine: Any, timeout: float = 30.0) -> None:
    """pyttsx3 2.99's espeak driver runs espeak-ng asynchronously, and runAndWait() can return
    before a long prompt is rendered (the WAV then appears later, or under the next name). Wait
    until its driver says it is done."""
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    deadline = time.monotonic() + timeout
    while getattr(driver, "_speaking", False) and time.monotonic() < deadline:
        time.sleep(0.002)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    if not path.exists() or path.stat().st_size <= 44:
        raise NothingRendered("speech output failed: espeak-ng rendered nothing (is espeak-ng installed?)")
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise DeviceError(f"speech output failed: unexpected {8 * w.getsampwidth()}-bit audio from espeak-ng")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
        return x, w.getframerate()


def _trim(x: np.ndarray, rate: int) -> np.ndarray:
    """Cut espeak's leading and trailing silence down to a short pad: the prompt starts at once,
    and listening starts soon after the last word."""
    loud = np.nonzero(np.abs(x.astype(np.int32)) > _SILENCE)[0]
    if loud.size == 0:
        return x
    a = max(0, loud[0] - int(_LEAD_PAD * rate))
    b = min(x.size, loud[-1] + 1 + int(_TAIL_PAD * rate))
    return x[a:b]


class _WavAppender:
    """One WAV file that every prompt (and, in the demo, every recorded answer) is appended to."""

    RATE = 22_050
    GAP = 0.25   # seconds of silence between pieces, so the saved session is easy to follow

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._w = wave.open(str(self.path), "wb")
        except OSError as exc:
            raise DeviceError(f"cannot save audio ({exc.strerror or exc})", where=str(self.path)) from None
        self._w.setnchannels(1)
        self._w.setsampwidth(2)
        self._w.setframerate(self.RATE)

    def append(self, samples: np.ndarray, rate: int) -> None:
        x = resample(np.asarray(samples, dtype=np.int16), rate, self.RATE)
        gap = np.zeros(int(self.GAP * self.RATE), dtype=np.int16)
        self._w.writeframes(np.concatenate([x, gap]).astype("<i2").tobytes())

    def close(self) -> None:
        self._w.close()
