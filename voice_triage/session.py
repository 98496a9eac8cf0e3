"""The edge that carries the interview's actions out: speech out, listening in, the record.

`run_interview` drives `interview.step` with any `Ear` (microphone, keyboard, a test's script)
and any `Voice`. `simulate` and `replay` run the same interview on WAV files through the real
recogniser, with a silent voice, and return CONTRACT.md's JSON.

The runner says every `Say`; an Ear must not speak the prompt it is given (it is there for the
record and for front ends that show it).
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from . import interview
from .config import Config
from .content import Content
from .errors import BadInputError
from .grammar import Grammar
from .interview import Finish, Heard, Listen, ListenKind, Policy, Say, SetRate, Silence, Started
from .model import Answer, Answers, Assessment
from .recognition.base import Transcript
from .speech import Voice

log = logging.getLogger(__name__)

# Speech: answers heard with less confidence than this are read back before they count. The
# recognisers give 0.5 exactly at their own rejection bar (recognition/decision.py) and return no
# answer below it, so 0.7 reads back the answers that only just cleared the bar.
VOICE_POLICY = Policy(confirm_red_flags=True, confirm_below=0.7, max_tries=3, confirm_nos=True)
# Typed: every answer is exact, so only a red-flag "yes" is read back.
TYPED_POLICY = Policy(confirm_red_flags=True, confirm_below=0.0, max_tries=3, confirm_nos=False, typed=True)

MIN_RATE, MAX_RATE, DEFAULT_RATE = 80, 320, 170
# A safety net: no real interview comes near this many turns; past it the session is stopped.
MAX_TURNS = 400


class Ear(Protocol):
    def listen(self, grammar: Grammar, question_id: str | None, prompt: str) -> Transcript | None:
        """One answer under `grammar`; None when nothing was heard (silence, time-out)."""


@dataclass(frozen=True)
class SessionResult:
    answers: Answers                  # what the interview settled on, by question id
    assessment: Assessment
    turns: int                        # times the ear was listened to
    transcript: list[dict[str, Any]]  # one entry per turn
    stopped: bool = False             # the person said stop (or the input ended)
    interrupted: bool = False         # Ctrl-C
    questions_asked: tuple[str, ...] = ()
    confirmations: int = 0
    said: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = self.assessment.to_json()
        out.update({
            "answers": dict(self.answers),
            "turns": self.turns,
            "transcript": list(self.transcript),
            "questions_asked": len(self.questions_asked),
            "confirmations": self.confirmations,
            "stopped": self.stopped,
            "interrupted": self.interrupted,
        })
        return out


Hear = Callable[[Listen, Grammar], "Transcript | None"]


def _new_rate(voice: Voice, action: SetRate) -> int:
    if action.wpm is not None:
        target = action.wpm
    else:
        current = getattr(voice, "rate", None) or DEFAULT_RATE
        target = int(current) + action.delta
    return max(MIN_RATE, min(MAX_RATE, target))


def drive(content: Content, hear: Hear, voice: Voice, policy: Policy) -> SessionResult:
    """Run one interview: events in from `hear`, actions out to `voice`."""
    state = interview.start(content, policy)
    turns = 0
    transcript: list[dict[str, Any]] = []
    said: list[str] = []

    def result(assessment: Assessment, *, stopped: bool, interrupted: bool = False) -> SessionResult:
        return SessionResult(answers=interview.settled_answers(state), assessment=assessment, turns=turns,
                             transcript=transcript, stopped=stopped, interrupted=interrupted,
                             questions_asked=state.asked, confirmations=state.confirmations, said=said)

    event: interview.Event | None = Started()
    try:
        while True:
            state, actions = interview.step(state, event)
            event = None
            for action in actions:
                if isinstance(action, Say):
                    said.append(action.text)
                    voice.say(action.text)
                elif isinstance(action, SetRate):
                    voice.set_rate(_new_rate(voice, action))
                elif isinstance(action, Finish):
                    return result(action.assessment, stopped=action.stopped)
                elif isinstance(action, Listen):
                    if turns >= MAX_TURNS:
                        log.warning("stopping: %d turns without an end", turns)
                        state, tail = interview.stop_now(state)
                        fin = next(a for a in tail if isinstance(a, Finish))
                        return result(fin.assessment, stopped=True)
                    grammar = content.grammars[action.grammar]
                    heard = hear(action, grammar)
                    turns += 1
                    transcript.append(_turn(action, heard))
                    event = Heard(heard) if heard is not None else Silence()
            if event is None:  # the interview must end every batch with Listen or Finish
                raise RuntimeError("the interview stalled without asking anything")
    except KeyboardInterrupt:
        return result(interview.assessment_now(state), stopped=True, interrupted=True)


def _turn(action: Listen, heard: Transcript | None) -> dict[str, Any]:
    return {
        "question": action.question_id,
        "prompt": action.prompt,
        "heard": heard.text if heard is not None else "",
        "answer": heard.answer if heard is not None else None,
        "confidence": round(float(heard.confidence), 4) if heard is not None else 0.0,
        "kind": action.kind.value,
    }


def run_interview(content: Content, ear: Ear, voice: Voice, policy: Policy) -> SessionResult:
    """The interview with any ear and voice. Ctrl-C ends it with interrupted=True, answers kept."""
    return drive(content, lambda action, grammar: ear.listen(grammar, action.question_id, action.prompt),
                 voice, policy)


# --- a silent voice ---------------------------------------------------------------------------

class RecordingVoice:
    """Speech out into a list: for simulate, replay and tests."""

    def __init__(self, rate: int = DEFAULT_RATE) -> None:
        self.said: list[str] = []
        self._rate = rate
        self.rates: list[int] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def set_rate(self, words_per_minute: int) -> None:
        self._rate = int(words_per_minute)
        self.rates.append(self._rate)

    @property
    def rate(self) -> int:
        return self._rate


# --- simulate: a speaker who answers from a file ------------------------------------------------

_PHRASE = re.compile(r"^(?P<value>[a-z_]+)(?:\.(?P<n>\d+))?\.wav$", re.IGNORECASE)


def index_phrases(phrases_dir: Path) -> dict[str, list[Path]]:
    """<value>.wav and <value>.N.wav in a folder -> value -> files (the plain one first, then by N)."""
    folder = Path(phrases_dir)
    if not folder.exists():
        raise BadInputError("folder not found", where=str(folder))
    if not folder.is_dir():
        raise BadInputError("not a folder (expected a folder of <value>.wav phrases)", where=str(folder))
    found: dict[str, list[tuple[int, Path]]] = {}
    for path in folder.iterdir():
        m = _PHRASE.match(path.name)
        if m and path.is_file():
            n = int(m.group("n")) if m.group("n") is not None else -1
            found.setdefault(m.group("value").lower(), []).append((n, path))
    if not found:
        raise BadInputError("no phrase WAV files (<value>.wav, e.g. yes.wav, no.wav) in the folder",
                            where=str(folder))
    return {v: [p for _, p in sorted(items)] for v, items in found.items()}


def speaker_answer(content: Content, answers: Answers, action: Listen) -> str:
    """What a person who gives `answers` says to `action`.

    An answer: the file's answer ("unknown" when absent). A grouped red-flag question: "yes" if
    any member is yes, "no" if every member is no, else "unknown" (each member is then asked on
    its own, and answered from the file). A read-back: "yes" when every value read back is the
    file's, else "no". "Stop?" -> yes (it is only asked when "stop" was heard); "repeat the
    result?" -> no.
    """
    unknown = Answer.UNKNOWN.value
    if action.kind == ListenKind.ANSWER:
        q = content.questions[action.question_id]
        if q.members:
            values = [answers.get(m, unknown) for m in q.members]
            if Answer.YES.value in values:
                return Answer.YES.value
            if all(v == Answer.NO.value for v in values):
                return Answer.NO.value
            return answers.get(q.id, unknown)
        return answers.get(q.id, unknown)
    if action.kind == ListenKind.CONFIRM:
        right = all(_file_value(content, answers, qid) == value for qid, value in action.expect)
        return Answer.YES.value if right else Answer.NO.value
    if action.kind == ListenKind.CONFIRM_STOP:
        return Answer.YES.value
    return Answer.NO.value


def _file_value(content: Content, answers: Answers, qid: str) -> str:
    q = content.questions.get(qid)
    if q is not None and q.members:
        return speaker_answer(content, answers, Listen(q.grammar, qid, "", ListenKind.ANSWER))
    return answers.get(qid, Answer.UNKNOWN.value)


class _PhrasePlayer:
    """Plays <value>.wav (or its variants in turn) through the recogniser."""

    def __init__(self, config: Config, phrases: dict[str, list[Path]], folder: Path) -> None:
        from .audio import load_wav
        from .recognition.select import follow_speaker, make_recognizer

        self._load_wav = load_wav
        self.recognizer = make_recognizer(config)
        follow_speaker(self.recognizer)
        self.folder = folder
        self._cycles = {v: itertools.cycle(paths) for v, paths in phrases.items()}
        self._cache: dict[Path, Any] = {}

    def play(self, value: str, grammar: Grammar) -> Transcript:
        cycle = self._cycles.get(value)
        if cycle is None:
            raise BadInputError(f"no phrase for the answer '{value}' (need {value}.wav)", where=str(self.folder))
        path = next(cycle)
        if path not in self._cache:
            self._cache[path] = self._load_wav(path)
        return self.recognizer.recognize(self._cache[path], grammar)


def simulate(config: Config, answers_path: Path, phrases_dir: Path) -> dict[str, Any]:
    """A full spoken interview against a simulated speaker: CONTRACT.md's JSON."""
    from .answers import load_answers_file
    from .content import load_content

    content = load_content(config.lang)
    answers = load_answers_file(Path(answers_path), content)
    phrases = index_phrases(Path(phrases_dir))
    player = _PhrasePlayer(config, phrases, Path(phrases_dir))

    def hear(action: Listen, grammar: Grammar) -> Transcript | None:
        return player.play(speaker_answer(content, answers, action), grammar)

    return drive(content, hear, RecordingVoice(), VOICE_POLICY).to_json()


# --- replay: a recorded session ---------------------------------------------------------------

_TURN = re.compile(r"^(?P<n>\d+)\.wav$", re.IGNORECASE)


def index_turns(folder: Path) -> dict[int, Path]:
    """01.wav, 02.wav, ... -> turn number -> file."""
    folder = Path(folder)
    if not folder.exists():
        raise BadInputError("folder not found", where=str(folder))
    if not folder.is_dir():
        raise BadInputError("not a folder (expected a folder of numbered turns 01.wav, 02.wav, ...)",
                            where=str(folder))
    turns: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        m = _TURN.match(path.name)
        if not m or not path.is_file():
            continue
        n = int(m.group("n"))
        if n < 1:
            raise BadInputError(f"'{path.name}': turns are numbered from 01", where=str(folder))
        if n in turns:
            raise BadInputError(f"turn {n} is given twice ('{turns[n].name}' and '{path.name}')", where=str(folder))
        turns[n] = path
    if not turns:
        raise BadInputError("no numbered WAV files (01.wav, 02.wav, ...) in the folder", where=str(folder))
    return turns


def replay(config: Config, folder: Path) -> dict[str, Any]:
    """A recorded session: each numbered WAV answers the next prompt; a missing number, or any
    prompt after the last file, is silence (so the interview's re-ask policy ends it)."""
    from .audio import load_wav
    from .content import load_content
    from .recognition.select import follow_speaker, make_recognizer

    turns = index_turns(Path(folder))
    audio = {n: load_wav(path) for n, path in turns.items()}  # a bad WAV fails before anything runs
    content = load_content(config.lang)
    recognizer = make_recognizer(config)
    follow_speaker(recognizer)
    counter = itertools.count(1)

    def hear(action: Listen, grammar: Grammar) -> Transcript | None:
        n = next(counter)
        samples = audio.get(n)
        if samples is None:
            return None
        return recognizer.recognize(samples, grammar)

    return drive(content, hear, RecordingVoice(), VOICE_POLICY).to_json()
