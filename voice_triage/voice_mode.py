"""The hands-free interview: microphone in, speech out (`voice-triage` with no sub-command).

The microphone stays open for the whole session; each turn the ear drops what it heard while the
prompt played (half-duplex, plus a short guard against the prompt's echo), finds the answer with
the endpointer (vad.py) and feeds it to the recogniser as it arrives, so the answer is ready when
the speaker stops. An answer typed on the keyboard (a line, as in `voice-triage text`) is taken
at any prompt too, instead of a spoken one: for a noisy room, or a voice the recogniser keeps
missing. With no microphone at all, a recorded demo session runs through the same recogniser and
real speech out; with no speaker, the prompts are printed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, TextIO

import numpy as np

from .config import Config
from .content import Content
from .devices import DeviceError, Microphone, NoMicrophoneError, NoSpeakerError, Speaker
from .grammar import Grammar
from .paths import demo_dir
from .recognition.base import SAMPLE_RATE, Recognizer, Transcript
from .session import VOICE_POLICY, SessionResult, index_turns, run_interview
from .text_mode import parse_typed, typed_options
from .tts import SpeechVoice
from .vad import Boundary, Endpointer, VadSettings

log = logging.getLogger(__name__)

NO_MICROPHONE = "No microphone found, so here is a recorded demo session."
NO_SPEAKER = "No speaker found, so the questions are printed here."
INTERRUPTED = "Stopped. Your answers so far are kept."
STOPPED_EARLY = "Stopped before the first question, so there are no answers to keep."

TYPING_WORKS = "You can also type an answer and press Enter."

GUARD_SECONDS = 0.1      # heard after a prompt ends and dropped: the room's echo of the prompt
PREROLL_SECONDS = 0.3    # audio before the detected start that the recogniser gets too
# Once the endpointer has heard the speaker quiet this long, the audio goes on to the recogniser
# only if they speak again: what follows an answer (its end wait, 0.5 s) is background, and under
# background talk its words kept growing the recogniser's stretch, each growth a decode of
# 0.2-0.9 s that the end of the answer waited for.
HOLD_SECONDS = 0.2
CALIBRATE_SECONDS = 0.5  # the room's background, heard once before the first question


class Keyboard:
    """Lines typed during the spoken interview, read in the background from a file descriptor
    (stdin). Raw reads: a daemon thread blocked in sys.stdin.readline() holds the buffer's lock
    and can stop the interpreter from shutting down cleanly. End of input just ends the reading."""

    def __init__(self, content: Content, fd: int = 0) -> None:
        self.content = content
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(fd,), name="keyboard", daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace").strip()
                if text:                       # a bare Enter is not an answer
                    self._lines.put(text)

    def answer(self, grammar: Grammar, question_id: str | None) -> Transcript | None:
        """The next typed line as an answer to this prompt, or None when nothing was typed."""
        try:
            line = self._lines.get_nowait()
        except queue.Empty:
            return None
        return parse_typed(line, grammar, typed_options(self.content, grammar, question_id))


class MicrophoneEar:
    """One answer per listen(): endpointed by the VAD, recognised while it is spoken; or typed."""

    def __init__(self, mic: Microphone, recognizer: Recognizer, *, timeout: float | None = None,
                 settings: VadSettings | None = None, guard: float = GUARD_SECONDS,
                 preroll: float = PREROLL_SECONDS, keyboard: Keyboard | None = None) -> None:
        self.mic = mic
        self.recognizer = recognizer
        self.timeout = timeout
        self.keyboard = keyboard
        self.guard = guard
        self.preroll = int(preroll * SAMPLE_RATE)
        self.endpointer = Endpointer(settings)
        self.last_end_time: float | None = None   # time.monotonic() when the last answer's end was decided
        self._warming: threading.Thread | None = None

    def warm_up(self, grammars: Iterable[Grammar]) -> None:
        """Recognise a short sound under each grammar in the background: an engine's first
        decode can take seconds (sphinx: ~2 s), which would otherwise land on the first answer."""
        todo = list(grammars)
        t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
        burst = (3000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.int16)
        sound = np.concatenate([np.zeros(SAMPLE_RATE // 4, np.int16), burst, np.zeros(SAMPLE_RATE // 2, np.int16)])

        def work() -> None:
            for grammar in todo:
                try:
                    self.recognizer.recognize(sound, grammar)
                except Exception as exc:   # a real problem shows on the first real answer
                    log.debug("warm-up under %s failed: %s", grammar.name, exc)
                    return

        self._warming = threading.Thread(target=work, name="recogniser-warm-up", daemon=True)
        self._warming.start()

    def ready(self) -> None:
        """Wait for the warm-up (never two decodes at once on one engine)."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def calibrate(self, seconds: float = CALIBRATE_SECONDS) -> None:
        """Learn the room's background before anyone is asked anything."""
        self.mic.start()
        self.mic.flush()
        self.endpointer.learn(np.concatenate(list(self._blocks(seconds)) or [np.zeros(0, np.int16)]))

    def _blocks(self, seconds: float) -> Iterator[np.ndarray]:
        left = int(seconds * SAMPLE_RATE)
        deadline = time.monotonic() + seconds + 1.0
        while left > 0 and time.monotonic() < deadline:
            block = self.mic.read(0.1)
            if block is not None:
                left -= block.size
                yield block

    def listen(self, grammar: Grammar, question_id: str | None, prompt: str) -> Transcript | None:
        self.ready()
        self.mic.start()
        # Half-duplex: whatever the microphone picked up while the prompt played is dropped.
        self.mic.flush()
        self.mic.skip(self.guard)
        ep = self.endpointer
        ep.begin()
        waiting: deque[np.ndarray] = deque()   # recent audio before the answer starts
        waiting_samples = 0
        heard = 0                              # samples given to the endpointer this turn
        stream = None
        held: list[np.ndarray] = []            # audio held back from the recogniser (see HOLD_SECONDS)
        started = time.monotonic()
        while True:
            typed = self.keyboard.answer(grammar, question_id) if self.keyboard is not None else None
            if typed is not None:
                log.debug("answer to %s typed: %r -> %s", question_id, typed.text, typed.answer)
                return typed
            block = self.mic.read(0.1)
            if block is None:
                if stream is None and self.timeout is not None and time.monotonic() - started > self.timeout + 1.0:
                    return None   # the device stopped delivering; count it as silence
                continue
            events = ep.feed(block)
            heard += block.size
            if stream is not None:
                if ep.quiet_seconds >= HOLD_SECONDS or (ep.done and held):
                    if not held:
                        stream.ready()          # most likely the end: the answer gets ready now
                    held.append(block)          # after the answer, as the endpointer hears it
                else:
                    for b in held:              # they spoke again: the recogniser hears it all
                        stream.feed(b)
                    held.clear()
                    stream.feed(block)
            else:
                waiting.append(block)
                waiting_samples += block.size
                while waiting and waiting_samples - waiting[0].size >= self.preroll + SAMPLE_RATE:
                    waiting_samples -= waiting.popleft().size
            for event in events:
                if event.kind is Boundary.START:
                    stream = self.recognizer.stream(grammar)
                    audio = np.concatenate(list(waiting))
                    first = max(0, event.sample - self.preroll - (heard - audio.size))
                    stream.feed(audio[first:])
                    waiting.clear()
                    log.debug("answer to %s starts at %.2f s", question_id, event.sample / SAMPLE_RATE)
                elif event.kind is Boundary.NOISE:
                    stream = None   # a steady noise began, not an answer: keep waiting
                    held.clear()
                elif stream is not None:
                    decided = time.monotonic()
                    result = stream.finish()
                    self.last_end_time = time.monotonic()
                    log.debug("answer to %s ends at %.2f s (%s): %r -> %s (%.2f), recognised in %.0f ms",
                              question_id, event.sample / SAMPLE_RATE, event.kind.value, result.text,
                              result.answer, result.confidence, 1000 * (self.last_end_time - decided))
                    return result
            if stream is None and self.timeout is not None and heard >= self.timeout * SAMPLE_RATE:
                log.debug("no answer to %s within %.1f s", question_id, self.timeout)
                return None


class RecordedEar:
    """The demo: each listen() plays the next recorded answer (01.wav, 02.wav, ...) aloud and
    recognises it with the real recogniser. A missing turn, or any after the last, is silence."""

    def __init__(self, folder: Path, recognizer: Recognizer, voice: SpeechVoice, out: TextIO | None) -> None:
        from .audio import load_wav

        turns = index_turns(folder)
        self.audio = {n: load_wav(path) for n, path in turns.items()}
        self.recognizer = recognizer
        self.voice = voice
        self.out = out
        self._turn = itertools.count(1)

    def listen(self, grammar: Grammar, question_id: str | None, prompt: str) -> Transcript | None:
        samples = self.audio.get(next(self._turn))
        if samples is None:
            return None
        self.voice.play(samples, SAMPLE_RATE)
        result = self.recognizer.recognize(samples, grammar)
        if self.out is not None:
            self.out.write(f"  (recorded answer, heard: {result.text or 'nothing'})\n")
            self.out.flush()
        return result


def run_voice(config: Config) -> int:
    """The hands-free interview. Ctrl-C ends it cleanly, keeping (and with --report writing) the answers."""
    from .content import load_content
    from .recognition.select import follow_speaker, make_recognizer

    out = sys.stderr if config.json else sys.stdout
    content = load_content(config.lang)
    recognizer = make_recognizer(config)
    try:
        mic: Microphone | None = Microphone(config.input_device)
    except NoMicrophoneError:
        mic = None
        if not any(demo_dir(config.lang).glob("[0-9]*.wav")):
            raise DeviceError(f"no microphone found, and no recorded demo session to play instead "
                              f"({demo_dir(config.lang)}); `voice-triage text` works without audio") from None
        _print(out, NO_MICROPHONE)
    speaker = _open_speaker(config, out)
    policy = VOICE_POLICY
    voice = SpeechVoice(speaker, rate=config.rate, volume=config.volume, lang=config.lang,
                        save_audio=config.save_audio, out=out if speaker is None else None)
    try:
        if mic is None:
            ear: MicrophoneEar | RecordedEar = RecordedEar(
                demo_dir(config.lang), recognizer, voice, out if speaker is None else None)
        else:
            ear = MicrophoneEar(mic, recognizer, timeout=config.timeout, keyboard=_keyboard(content, out))
            if ear.keyboard is not None:
                policy = dataclasses.replace(VOICE_POLICY, keyboard=True)
            # Before the first word: the engine's warm-up holds the interpreter for a while, and
            # the speaker's callback needs it. The room is learnt meanwhile.
            ear.warm_up(content.grammars.values())
            ear.calibrate()
            ear.ready()
        follow_speaker(recognizer)    # (after the warm-up: its test sound is nobody's voice)
        voice.prepare(_prompts(content))
        result = run_interview(content, ear, voice, policy)   # Ctrl-C inside: interrupted
    except KeyboardInterrupt:   # while getting ready, before the first question
        _print(out, "\n" + STOPPED_EARLY)
        return 0
    finally:
        voice.close()
        if mic is not None:
            mic.close()
    return _finish(config, content, result, printed=speaker is None, out=out)


def _keyboard(content: Content, out: TextIO) -> Keyboard | None:
    """Typed answers from stdin, when there is one (a person at a terminal is told so)."""
    try:
        fd = sys.stdin.fileno()
        interactive = os.isatty(fd)
    except (AttributeError, ValueError, OSError):   # no stdin, or one without a descriptor
        return None
    if interactive:
        _print(out, TYPING_WORKS)
    return Keyboard(content, fd)


def _open_speaker(config: Config, out: TextIO) -> Speaker | None:
    if config.quiet:
        return None
    try:
        return Speaker(config.output_device)
    except NoSpeakerError:
        _print(out, NO_SPEAKER)
        return None


def _prompts(content: Content) -> list[str]:
    """What is worth rendering before it is needed: the fixed sentences and every question."""
    fixed = [m for m in content.messages.values() if "{" not in m]
    questions = [t for q in content.questions.values() for t in (q.prompt, q.short_prompt)]
    return [*questions, *fixed]


def _finish(config: Config, content: Content, result: SessionResult, *, printed: bool, out: TextIO) -> int:
    if result.interrupted:
        _print(out, "\n" + INTERRUPTED)
    if not printed or result.interrupted:
        _print(out, result.assessment.explanation)
    if config.report is not None:
        from .report import write_report

        paths = write_report(config.report, result, content)
        _print(out, "Report written to " + " and ".join(str(p) for p in paths) + ".")
    if config.json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def _print(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()
