"""What can be said at each kind of prompt: phrases mapped to answer values and commands.

Grammars live in `grammars/<lang>/*.yaml`, one file each:

    name: yes_no
    values:            # answer value -> spoken phrasings (what the recognisers listen for)
      yes: [yes, yeah, that's right]
    typed:             # extra keyboard-only shortcuts (never compiled for a recogniser)
      yes: [y]

`commands.yaml` holds the command ids; it is merged into every prompt's grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ContentError
from .model import Command
from .paths import data_dir
from .yamlio import load_yaml

COMMANDS_GRAMMAR = "commands"
_ALLOWED_KEYS = {"name", "values", "typed", "description"}
_WORD = re.compile(r"[^\w' ]+", re.UNICODE)


def normalize(text: str) -> str:
    """Lower case, punctuation out (apostrophes stay), single spaces."""
    text = text.lower().replace("\u2019", "'")
    text = _WORD.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Grammar:
    """One prompt's grammar: its own values plus the commands."""

    name: str
    values: dict[str, tuple[str, ...]]                 # value -> spoken phrases (normalized)
    typed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def answer_values(self) -> tuple[str, ...]:
        return tuple(self.values)

    def phrase_table(self, include_commands: bool = True) -> dict[str, str]:
        """Every spoken phrase -> the value or command id it means."""
        table: dict[str, str] = {}
        for value, phrases in self.values.items():
            for p in phrases:
                table[p] = value
        if include_commands:
            for cmd, phrases in self.commands.items():
                for p in phrases:
                    table.setdefault(p, cmd)
        return table

    def phrases(self, include_commands: bool = True) -> list[str]:
        return sorted(self.phrase_table(include_commands))

    def words(self, include_commands: bool = True) -> set[str]:
        return {w for p in self.phrases(include_commands) for w in p.split()}

    def words_outside(self, known: Callable[[str], bool]) -> list[str]:
        """The grammar's words an engine does not know (`known`: its vocabulary test), sorted."""
        return sorted(w for w in self.words() if not known(w))

    def match(self, text: str) -> str | None:
        """The value or command id a recognised phrase means, or None if it is not a phrase here."""
        return self.phrase_table().get(normalize(text))

    def match_typed(self, text: str) -> str | None:
        """Typed input: a phrase, a keyboard shortcut, the id itself, or one value named inside it."""
        t = normalize(text)
        if not t:
            return None
        hit = self.match(t)
        if hit is not None:
            return hit
        for value, shortcuts in self.typed.items():
            if t in shortcuts:
                return value
        ids = {v.replace("_", " "): v for v in (*self.values, *self.commands)}
        if t in ids:
            return ids[t]
        if t.replace(" ", "_") in self.values or t.replace(" ", "_") in self.commands:
            return t.replace(" ", "_")
        # A longer sentence ("um, I think yes"): the phrases found in it, dropping any that lies
        # inside a longer one found ("not really" holds "really"); one value left is the answer.
        spans = []
        # (Typed shortcuts of more than one word count too: "I dont know" holds "dont know".)
        multi = {p: v for v, ps in self.typed.items() for p in ps if " " in p}
        for phrase, value in {**multi, **self.phrase_table()}.items():
            for m in re.finditer(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", t):
                spans.append((m.start(), m.end(), value))
        kept = {v for s, e, v in spans
                if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)}
        return kept.pop() if len(kept) == 1 else None


def _phrase_map(raw: object, where: str, key: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ContentError(f"'{key}' must map each value to a list of phrases", where=where)
    out: dict[str, tuple[str, ...]] = {}
    for value, phrases in raw.items():
        if not isinstance(value, str):
            raise ContentError(f"'{key}': value {value!r} must be text", where=where)
        if isinstance(phrases, str):
            phrases = [phrases]
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) for p in phrases):
            raise ContentError(f"'{key}.{value}' must be a non-empty list of phrases", where=where)
        normed = tuple(dict.fromkeys(normalize(p) for p in phrases if normalize(p)))
        if not normed:
            raise ContentError(f"'{key}.{value}' has no phrase", where=where)
        out[value] = normed
    return out


def _load_file(path: Path) -> tuple[str, dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    where = str(path)
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ContentError("a grammar file must be a mapping with 'name' and 'values'", where=where)
    unknown = set(raw) - _ALLOWED_KEYS
    if unknown:
        raise ContentError(f"unknown key '{sorted(unknown)[0]}'", where=where)
    for key in ("name", "values"):
        if key not in raw:
            raise ContentError(f"missing key '{key}'", where=where)
    name = raw["name"]
    if not isinstance(name, str) or name != path.stem:
        raise ContentError(f"'name' must be '{path.stem}', the file's own name", where=where)
    values = _phrase_map(raw["values"], where, "values")
    if not values:
        raise ContentError("'values' is empty", where=where)
    typed = _phrase_map(raw.get("typed"), where, "typed")
    stray = set(typed) - set(values)
    if stray:
        raise ContentError(f"'typed' names '{sorted(stray)[0]}', which is not in 'values'", where=where)
    return name, values, typed


def load_grammars(lang: str = "en", root: Path | None = None) -> dict[str, Grammar]:
    """Every grammar of a language, by name, each with the commands merged in."""
    folder = (root or data_dir("grammars")) / lang
    if not folder.is_dir():
        raise ContentError(f"no grammars for language '{lang}'", where=str(folder))
    files = sorted(folder.glob("*.yaml"))
    loaded = {name: (values, typed) for name, values, typed in map(_load_file, files)}
    if COMMANDS_GRAMMAR not in loaded:
        raise ContentError("missing commands.yaml", where=str(folder))
    commands, command_typed = loaded.pop(COMMANDS_GRAMMAR)
    wrong = set(commands) - {c.value for c in Command}
    missing = {c.value for c in Command} - set(commands)
    if wrong or missing:
        bad = sorted(wrong or missing)[0]
        raise ContentError(f"command '{bad}' is {'not a command id' if wrong else 'missing'}",
                           where=str(folder / "commands.yaml"))
    grammars: dict[str, Grammar] = {}
    for name, (values, typed) in loaded.items():
        clash = {p for v, ps in values.items() for p in ps} & {p for ps in commands.values() for p in ps}
        if clash:
            raise ContentError(f"phrase '{sorted(clash)[0]}' is both an answer and a command",
                               where=str(folder / f"{name}.yaml"))
        merged_typed = dict(typed)
        for cmd, shortcuts in command_typed.items():
            merged_typed[cmd] = shortcuts
        grammars[name] = Grammar(name=name, values=values, typed=merged_typed, commands=commands)
    return grammars
