"""The typed interview: the same interview as the spoken one, on stdin and stdout.

Made for keyboards and screen readers: plain lines, no colours or cursor tricks, one prompt per
line, the options listed as words with numbers. Accepted: the grammar's phrases and shortcuts
(y, n, ...), the number of an option, "?" for help, and the commands (repeat, help, back, stop).

End of input (Ctrl-D) means stop: the assessment so far is printed. Ctrl-C ends cleanly too:
"Stopped. Your answers so far are kept." and the partial assessment, exit status 0 (the person
chose to end; nothing went wrong). With --json the prompts go to stderr and stdout holds one
JSON object, the same as `simulate` prints.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from .config import Config
from .content import Content, Question
from .grammar import Grammar
from .model import Command
from .recognition.base import Transcript
from .session import TYPED_POLICY, SessionResult, run_interview

YES_NO_LABELS = {"yes": "yes", "no": "no", "unknown": "I don't know"}
INTERRUPTED = "Stopped. Your answers so far are kept."


class TextVoice:
    """Speech out as plain lines."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def set_rate(self, words_per_minute: int) -> None:
        """Typing has no speech rate."""

    @property
    def rate(self) -> int:
        return 0


class TextEar:
    """Reads one typed answer per prompt."""

    def __init__(self, content: Content, stdin: TextIO, out: TextIO) -> None:
        self.content = content
        self.stdin = stdin
        self.out = out
        self.ended = False
        try:
            self.interactive = stdin.isatty()
        except (AttributeError, ValueError):
            self.interactive = False

    def options(self, grammar: Grammar, question_id: str | None) -> list[tuple[str, str]]:
        """(value, label) in the order they are numbered."""
        return typed_options(self.content, grammar, question_id)

    def listen(self, grammar: Grammar, question_id: str | None, prompt: str) -> Transcript | None:
        options = self.options(grammar, question_id)
        listing = ", ".join(f"{i} {label}" for i, (_, label) in enumerate(options, 1))
        self.out.write(f"Answer: {listing} (or ? for help).\n")
        if self.interactive:
            self.out.write("> ")
        self.out.flush()
        line = self.stdin.readline()
        if line == "":
            self.ended = True
            self.out.write("\n")
            return Transcript("", Command.STOP.value, 1.0)
        return parse_typed(line, grammar, options)


def typed_options(content: Content, grammar: Grammar, question_id: str | None) -> list[tuple[str, str]]:
    """The answers to a prompt as (value, label), in the order a typed number picks them."""
    q: Question | None = content.questions.get(question_id) if question_id else None
    if q is not None and q.grammar == grammar.name:
        labels = dict(q.option_labels or {})
        return [(v, labels.get(v) or YES_NO_LABELS.get(v, v.replace("_", " "))) for v in q.options]
    return [(v, YES_NO_LABELS.get(v, v.replace("_", " "))) for v in grammar.values]


def parse_typed(line: str, grammar: Grammar, options: list[tuple[str, str]]) -> Transcript:
    """One typed line -> the answer or command it means (None when it means nothing here)."""
    text = line.strip()
    if text.startswith("?"):
        return Transcript(text, Command.HELP.value, 1.0)
    if text.isdigit():
        n = int(text)
        if 1 <= n <= len(options):
            return Transcript(text, options[n - 1][0], 1.0)
        return Transcript(text, None, 0.0)
    value = grammar.match_typed(text)
    return Transcript(text, value, 1.0 if value is not None else 0.0)


def run_text(config: Config, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    from .content import load_content

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    out = sys.stderr if config.json else stdout
    content = load_content(config.lang)
    result = run_interview(content, TextEar(content, stdin, out), TextVoice(out), TYPED_POLICY)
    if result.interrupted:
        out.write("\n" + INTERRUPTED + "\n" + result.assessment.explanation + "\n")
        out.flush()
    if config.report is not None:
        from .report import write_report

        paths = write_report(config.report, result, content)
        out.write("Report written to " + " and ".join(str(p) for p in paths) + ".\n")
    if config.json:
        stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


__all__ = ["run_text", "TextEar", "TextVoice", "parse_typed", "typed_options", "SessionResult"]
