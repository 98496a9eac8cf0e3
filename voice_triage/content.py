"""The content pack: questions, red flags, causes, messages and scoring rules for one language.

Everything the product says, and every weight the rules use, lives in `content/<lang>/*.yaml`;
this module is the one path from those files to typed, checked objects. It checks everything
when the program starts (required and unknown keys, types, closed values, cross-references,
message placeholders), so a broken pack fails at once with one line naming the file, the place
and the problem, never half-way through an interview.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ContentError
from .grammar import Grammar, load_grammars
from .model import (CAUSES, PAIN_LOCATIONS, PAIN_SPREADS, RED_FLAGS, SYMPTOM_QUESTIONS, Answer, Group,
                    QuestionKind, Urgency)
from .paths import data_dir
from .yamlio import load_yaml

UNKNOWN = Answer.UNKNOWN.value
YES_NO_VALUES = (Answer.YES.value, Answer.NO.value, Answer.UNKNOWN.value)
# The location questions' answer values are fixed by CONTRACT.md; a grammar may not drift.
CONTRACT_OPTIONS = {"pain_location": PAIN_LOCATIONS, "pain_spread": PAIN_SPREADS}
NERVE_CAUSES = ("piriformis", "sciatica")
# Iversen 2013: no single sciatica item reaches LR+ > 4 or LR- < 0.4, so no single answer may
# weigh more than that for a nerve cause.
NERVE_WEIGHT_RANGE = (math.log(0.4), math.log(4.0))

# Every message key the product uses, with the placeholders it may contain.
MESSAGE_PLACEHOLDERS: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "welcome": (), "disclaimer": (), "how_to_answer": (), "how_to_answer_typed": (),
    "red_flags_intro": (), "group_follow_up": (), "symptoms_intro": (),
    "ask_again": ("prompt",), "not_understood": (), "silence": (), "reprompt_yes_no": (),
    "reprompt_options": ("options",), "options": ("options",), "list_join": (), "list_last": (),
    "help_commands": (), "too_many_tries": (),
    "confirm": ("readback",), "confirm_red_flag": ("readback",), "confirm_rejected": (),
    "confirm_guess": ("readback",), "confirm_guess_red_flag": ("readback",),
    "confirm_unclear": (),
    "red_flag_yes": ("meaning", "if_present"), "red_flag_unclear": ("meaning", "if_present"),
    "help_offer": (), "confirm_nos": ("items",), "confirm_nos_rejected": (), "confirm_nos_unclear": (),
    "noisy_room": (), "noisy_room_keyboard": (),
    "red_flag_unsure": ("meaning", "if_present"), "rate_typed": (), "confirm_stop": (), "offer_repeat": (),
    "going_back": (), "nothing_to_go_back": (), "slower": (), "faster": (), "rate_limit": (),
    "enough_answers": (), "result_intro": (), "stopped": (), "interrupted": (), "goodbye": (),
    "explain_red_flag": ("meanings", "if_present"), "explain_unknown_flag": ("meaning", "if_present"),
    "explain_unknown_flags": ("meanings", "if_present"), "explain_group_yes": ("meanings", "if_present"),
    "list_or": (), "if_any_emergency": (), "if_any_urgent": (),
    "group_glute": (), "group_nerve": (), "group_joint_spine": (),
    "explain_group": ("group_name", "reasons"), "explain_group_weak": ("group_name",),
    "explain_top": ("name", "plain"), "explain_also": ("name", "reasons"),
    "next_emergency": (), "next_urgent": (), "next_routine": ("name", "next_steps"),
    "explain_self_care": ("name", "self_care"), "explain_closing": (), "reasons_and": (),
}.items()}

FILES = ("questions.yaml", "red_flags.yaml", "causes.yaml", "messages.yaml", "rules.yaml")


@dataclass(frozen=True)
class RedFlag:
    id: str
    urgency: Urgency
    meaning: str      # fits "You said you have <meaning>"
    if_present: str   # what to do when it is there
    short: str = ""   # a few words naming it, for spoken lists


@dataclass(frozen=True)
class Question:
    id: str
    kind: QuestionKind
    grammar: str                      # grammar name in grammars/<lang>/
    prompt: str                       # the full spoken question
    short_prompt: str                 # a shorter re-ask
    help: str                         # what it means and how to check it
    readback: dict[str, str]          # answer value -> words for "You said <readback>."
    options: tuple[str, ...]          # allowed answer values, "unknown" last
    option_labels: dict[str, str]     # answer value -> short spoken label
    red_flag: RedFlag | None = None
    members: tuple[str, ...] = ()     # grouped red-flag question: the question ids it covers
    part_of: str | None = None        # a member's grouped question id (asked only after it)

    @property
    def is_red_flag(self) -> bool:
        """A red-flag question, or a grouped question covering red flags."""
        return self.red_flag is not None or bool(self.members)


@dataclass(frozen=True)
class Cause:
    id: str
    name: str
    group: Group
    plain: str
    next_steps: str
    self_care: str


@dataclass(frozen=True)
class Weight:
    cause: str
    weight: float     # log-likelihood ratio added to the cause's log-odds
    figure: str
    source: str


@dataclass(frozen=True)
class Evidence:
    """What one answer to one question says: a plain reason and a weight per cause."""

    question: str
    answer: str
    reason: str
    weights: tuple[Weight, ...]

    def weight_for(self, cause: str) -> float:
        return sum(w.weight for w in self.weights if w.cause == cause)


@dataclass(frozen=True)
class Scoring:
    likely_at: float
    also_at: float
    max_also: int


@dataclass(frozen=True)
class Rules:
    priors: dict[str, float]                      # cause -> log-odds before any answer
    evidence: dict[str, dict[str, Evidence]]      # question -> answer value -> evidence
    scoring: Scoring


@dataclass(frozen=True)
class Content:
    lang: str
    questions: dict[str, Question]    # in interview order
    red_flags: dict[str, RedFlag]
    causes: dict[str, Cause]
    messages: dict[str, str]
    grammars: dict[str, Grammar]
    rules: Rules
    root: Path = field(default=Path("."), compare=False)

    def red_flag_question(self, flag_id: str) -> Question:
        return next(q for q in self.questions.values() if q.red_flag and q.red_flag.id == flag_id)


# --- reading checked values ---------------------------------------------------------------------

class _File:
    """One content file: raises ContentError naming the file and the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, place: str, problem: str) -> ContentError:
        return ContentError(f"{place}: {problem}" if place else problem, where=str(self.path))

    def require_all(self, found: Any, ids: Any, place: str, what: str) -> None:
        """Every id of a closed set must be there: the first missing one is named."""
        missing = [i for i in ids if i not in found]
        if missing:
            raise self.fail(place, f"missing {what} '{missing[0]}'")

    def mapping(self, raw: Any, place: str, required: tuple[str, ...] = (),
                optional: tuple[str, ...] = (), any_keys: bool = False) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(place, f"must be a mapping, not {_kind(raw)}")
        for key in raw:
            if not isinstance(key, str):
                raise self.fail(place, f"key {key!r} must be text")
        if not any_keys:
            unknown = [k for k in raw if k not in required and k not in optional]
            if unknown:
                raise self.fail(_join(place, unknown[0]), f"unknown key '{unknown[0]}'")
        for key in required:
            if key not in raw:
                raise self.fail(place, f"missing key '{key}'")
        return raw

    def text(self, raw: Any, place: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(place, f"must be non-empty text, not {_kind(raw)}")
        return " ".join(raw.split())

    def number(self, raw: Any, place: str) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise self.fail(place, f"must be a number, not {_kind(raw)}")
        return float(raw)

    def list(self, raw: Any, place: str) -> list[Any]:
        if not isinstance(raw, list):
            raise self.fail(place, f"must be a list, not {_kind(raw)}")
        return raw

    def choice(self, raw: Any, place: str, allowed: tuple[str, ...], what: str) -> str:
        if not isinstance(raw, str) or raw not in allowed:
            raise self.fail(place, f"unknown {what} {raw!r} (expected one of: {', '.join(allowed)})")
        return raw

    def load(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
        raw = load_yaml(self.path)
        return self.mapping(raw, "", required, optional)


def _kind(raw: Any) -> str:
    if raw is None:
        return "nothing"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a mapping"}.get(type(raw), type(raw).__name__)


def _join(place: str, key: object) -> str:
    if isinstance(key, int):
        return f"{place}[{key}]"
    return f"{place}.{key}" if place else str(key)


# --- the files ----------------------------------------------------------------------------------

def _load_red_flags(f: _File) -> dict[str, RedFlag]:
    raw = f.mapping(f.load(("red_flags",))["red_flags"], "red_flags", any_keys=True)
    flags: dict[str, RedFlag] = {}
    for flag_id, item in raw.items():
        place = _join("red_flags", flag_id)
        f.choice(flag_id, place, RED_FLAGS, "red flag id")
        item = f.mapping(item, place, ("urgency", "meaning", "if_present", "short"))
        urgency = f.choice(item["urgency"], _join(place, "urgency"),
                           (Urgency.EMERGENCY.value, Urgency.URGENT.value), "urgency")
        flags[flag_id] = RedFlag(flag_id, Urgency(urgency), f.text(item["meaning"], _join(place, "meaning")),
                                 f.text(item["if_present"], _join(place, "if_present")),
                                 f.text(item["short"], _join(place, "short")))
    f.require_all(flags, RED_FLAGS, "red_flags", "red flag")
    return {r: flags[r] for r in RED_FLAGS}


def _load_causes(f: _File) -> dict[str, Cause]:
    raw = f.mapping(f.load(("causes",))["causes"], "causes", any_keys=True)
    causes: dict[str, Cause] = {}
    for cause_id, item in raw.items():
        place = _join("causes", cause_id)
        f.choice(cause_id, place, CAUSES, "cause id")
        keys = ("name", "group", "plain", "next_steps", "self_care")
        item = f.mapping(item, place, keys)
        group = f.choice(item["group"], _join(place, "group"), tuple(g.value for g in Group), "group")
        texts = {k: f.text(item[k], _join(place, k)) for k in keys if k != "group"}
        causes[cause_id] = Cause(id=cause_id, group=Group(group), **texts)
    f.require_all(causes, CAUSES, "causes", "cause")
    return {c: causes[c] for c in CAUSES}


def _load_messages(f: _File) -> dict[str, str]:
    raw = f.mapping(f.load(("messages",))["messages"], "messages", any_keys=True)
    messages: dict[str, str] = {}
    for key, text in raw.items():
        place = _join("messages", key)
        if key not in MESSAGE_PLACEHOLDERS:
            raise f.fail(place, f"unknown message '{key}'")
        if not isinstance(text, str) or not text:
            raise f.fail(place, f"must be text, not {_kind(text)}")
        # list_join and friends are separators: their spaces matter, so keep them as written.
        separator = key in ("list_join", "list_last", "list_or", "reasons_and")
        messages[key] = text if separator else " ".join(text.split())
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            raise f.fail(place, f"bad placeholder ({exc})") from None
        stray = sorted(names - MESSAGE_PLACEHOLDERS[key])
        if stray:
            allowed = ", ".join(sorted(MESSAGE_PLACEHOLDERS[key])) or "none"
            raise f.fail(place, f"unknown placeholder '{{{stray[0]}}}' (allowed: {allowed})")
    f.require_all(messages, MESSAGE_PLACEHOLDERS, "messages", "message")
    return messages


def _load_questions(f: _File, red_flags: dict[str, RedFlag],
                    grammars: dict[str, Grammar]) -> dict[str, Question]:
    top = f.load(("questions", "yes_no_labels"))
    yes_no_labels = f.mapping(top["yes_no_labels"], "yes_no_labels", YES_NO_VALUES)
    yes_no_labels = {k: f.text(v, _join("yes_no_labels", k)) for k, v in yes_no_labels.items()}
    items = f.list(top["questions"], "questions")
    questions: dict[str, Question] = {}
    part_of: dict[str, str] = {}
    for i, item in enumerate(items):
        place = _join("questions", i)
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            place = f"questions[{item['id']}]"  # name the question, not its position
        item = f.mapping(item, place, ("id", "kind", "grammar", "prompt", "short_prompt", "help", "readback"),
                         ("option_labels", "red_flag", "members"))
        qid = f.text(item["id"], _join(place, "id"))
        place = f"questions[{qid}]"
        if qid in questions:
            raise f.fail(place, f"question '{qid}' is defined twice")
        kind = QuestionKind(f.choice(item["kind"], _join(place, "kind"),
                                     tuple(k.value for k in QuestionKind), "kind"))
        grammar_name = f.text(item["grammar"], _join(place, "grammar"))
        if grammar_name not in grammars:
            raise f.fail(_join(place, "grammar"), f"no grammar named '{grammar_name}' "
                                                  f"(have: {', '.join(sorted(grammars))})")
        options = tuple(v for v in grammars[grammar_name].values if v != UNKNOWN) + (UNKNOWN,)
        if kind is QuestionKind.YES_NO and options != YES_NO_VALUES:
            raise f.fail(_join(place, "grammar"), f"a yes_no question needs a grammar answering yes, no "
                                                  f"and unknown; '{grammar_name}' does not")
        if qid in CONTRACT_OPTIONS and options[:-1] != CONTRACT_OPTIONS[qid]:
            raise f.fail(_join(place, "grammar"), f"'{grammar_name}' must answer exactly "
                                                  f"{', '.join(CONTRACT_OPTIONS[qid])}")
        if qid in CONTRACT_OPTIONS and kind is not QuestionKind.LOCATION:
            raise f.fail(_join(place, "kind"), "must be 'location'")
        if qid in SYMPTOM_QUESTIONS and qid not in CONTRACT_OPTIONS and kind is not QuestionKind.YES_NO:
            raise f.fail(_join(place, "kind"), "must be 'yes_no'")
        readback = _value_texts(f, item["readback"], _join(place, "readback"), options, options)
        if kind is QuestionKind.LOCATION:
            if "option_labels" not in item:
                raise f.fail(place, "missing key 'option_labels' (a location question lists its options)")
            labels = _value_texts(f, item["option_labels"], _join(place, "option_labels"),
                                  options, options[:-1])
            labels.setdefault(UNKNOWN, yes_no_labels[UNKNOWN])
        else:
            if "option_labels" in item:
                raise f.fail(_join(place, "option_labels"), "only a location question has option labels "
                                                            "(yes/no labels come from 'yes_no_labels')")
            labels = dict(yes_no_labels)
        flag = None
        if "red_flag" in item:
            flag_id = f.choice(item["red_flag"], _join(place, "red_flag"), tuple(red_flags), "red flag id")
            flag = red_flags[flag_id]
            if kind is not QuestionKind.YES_NO:
                raise f.fail(_join(place, "kind"), "a red-flag question must be 'yes_no'")
        members: tuple[str, ...] = ()
        if "members" in item:
            raw_members = f.list(item["members"], _join(place, "members"))
            members = tuple(f.text(m, _join(_join(place, "members"), j)) for j, m in enumerate(raw_members))
            if flag is not None or not members or kind is not QuestionKind.YES_NO:
                raise f.fail(_join(place, "members"), "a grouped question is yes_no, names at least one "
                                                      "member and has no 'red_flag' of its own")
            for m in members:
                if m in part_of:
                    raise f.fail(_join(place, "members"), f"'{m}' is already a member of '{part_of[m]}'")
                part_of[m] = qid
        if qid in SYMPTOM_QUESTIONS and (flag or members):
            raise f.fail(place, "a symptom question cannot be a red-flag question")
        if flag is None and not members and qid not in SYMPTOM_QUESTIONS:
            raise f.fail(_join(place, "id"), f"unknown question id '{qid}' (a new question must be a "
                                             f"red-flag question or a grouped red-flag question)")
        questions[qid] = Question(
            id=qid, kind=kind, grammar=grammar_name, prompt=f.text(item["prompt"], _join(place, "prompt")),
            short_prompt=f.text(item["short_prompt"], _join(place, "short_prompt")),
            help=f.text(item["help"], _join(place, "help")), readback=readback, options=options,
            option_labels=labels, red_flag=flag, members=members)
    _check_question_set(f, questions, part_of)
    return {qid: _with_part_of(q, part_of.get(qid)) for qid, q in questions.items()}


def _with_part_of(q: Question, group: str | None) -> Question:
    if group is None:
        return q
    return dataclasses.replace(q, part_of=group)


def _check_question_set(f: _File, questions: dict[str, Question], part_of: dict[str, str]) -> None:
    order = list(questions)
    for m, group in part_of.items():
        q = questions.get(m)
        if q is None or q.red_flag is None:
            raise f.fail(f"questions[{group}].members", f"'{m}' is not a red-flag question here")
        if q.red_flag.urgency is Urgency.EMERGENCY:
            # People do not mention saddle numbness unless asked directly (NICE CKS): each
            # emergency flag is its own question, never folded into a group.
            raise f.fail(f"questions[{group}].members", f"'{m}' is an emergency flag: ask it on its own")
        if order.index(m) < order.index(group):
            raise f.fail(f"questions[{group}].members", f"member '{m}' must come after '{group}'")
    for qid in SYMPTOM_QUESTIONS:
        if qid not in questions:
            raise f.fail("questions", f"missing question '{qid}'")
    asked = {q.red_flag.id: q.id for q in questions.values() if q.red_flag}
    for flag_id in RED_FLAGS:
        if flag_id not in asked:
            raise f.fail("questions", f"no question asks about red flag '{flag_id}'")
    if len(asked) != sum(1 for q in questions.values() if q.red_flag):
        raise f.fail("questions", "a red flag is asked about by two questions")
    # Red flags first: the safety questions come before anything else.
    seen_symptom = None
    for q in questions.values():
        if not q.is_red_flag:
            seen_symptom = seen_symptom or q.id
        elif seen_symptom:
            raise f.fail(f"questions[{q.id}]", f"red-flag questions must come before '{seen_symptom}'")


def _value_texts(f: _File, raw: Any, place: str, allowed: tuple[str, ...],
                 required: tuple[str, ...]) -> dict[str, str]:
    raw = f.mapping(raw, place, any_keys=True)
    for key in raw:
        if key not in allowed:
            raise f.fail(_join(place, key), f"'{key}' is not an answer this question takes "
                                            f"(expected: {', '.join(allowed)})")
    for key in required:
        if key not in raw:
            raise f.fail(place, f"missing key '{key}'")
    return {k: f.text(raw[k], _join(place, k)) for k in allowed if k in raw}


def _load_rules(f: _File, questions: dict[str, Question], causes: dict[str, Cause]) -> Rules:
    top = f.load(("scoring", "priors", "evidence"))
    sc = f.mapping(top["scoring"], "scoring", ("likely_at", "also_at", "max_also"))
    scoring = Scoring(likely_at=f.number(sc["likely_at"], "scoring.likely_at"),
                      also_at=f.number(sc["also_at"], "scoring.also_at"),
                      max_also=int(f.number(sc["max_also"], "scoring.max_also")))
    for key in ("likely_at", "also_at"):
        if not 0.0 < getattr(scoring, key) < 1.0:
            raise f.fail(f"scoring.{key}", "must lie between 0 and 1")
    raw_priors = f.mapping(top["priors"], "priors", any_keys=True)
    priors: dict[str, float] = {}
    for cause_id, item in raw_priors.items():
        place = _join("priors", cause_id)
        f.choice(cause_id, place, tuple(causes), "cause id")
        item = f.mapping(item, place, ("log_odds",), ("why",))
        priors[cause_id] = f.number(item["log_odds"], _join(place, "log_odds"))
    f.require_all(priors, causes, "priors", "prior for cause")
    evidence: dict[str, dict[str, Evidence]] = {}
    raw_ev = f.mapping(top["evidence"], "evidence", any_keys=True)
    for qid, by_answer in raw_ev.items():
        place = _join("evidence", qid)
        if qid not in questions:
            raise f.fail(place, f"no question '{qid}' in questions.yaml")
        q = questions[qid]
        if q.is_red_flag:
            raise f.fail(place, "red-flag answers decide the urgency, not a cause score")
        by_answer = f.mapping(by_answer, place, any_keys=True)
        evidence[qid] = {}
        for answer, item in by_answer.items():
            aplace = _join(place, answer)
            if answer not in q.options or answer == UNKNOWN:
                raise f.fail(aplace, f"'{answer}' is not an answer that can move a score "
                                     f"(expected: {', '.join(q.options[:-1])})")
            item = f.mapping(item, aplace, ("reason", "weights"))
            weights = []
            for j, w in enumerate(f.list(item["weights"], _join(aplace, "weights"))):
                wplace = _join(_join(aplace, "weights"), j)
                w = f.mapping(w, wplace, ("cause", "weight", "figure", "source"))
                cause = f.choice(w["cause"], _join(wplace, "cause"), tuple(causes), "cause id")
                value = f.number(w["weight"], _join(wplace, "weight"))
                lo, hi = NERVE_WEIGHT_RANGE
                if cause in NERVE_CAUSES and not lo <= value <= hi:
                    raise f.fail(_join(wplace, "weight"), f"{value} for a nerve cause is outside "
                                                          f"[{lo:.2f}, {hi:.2f}]: no single answer decides "
                                                          f"a nerve cause (Iversen 2013)")
                weights.append(Weight(cause, value, f.text(str(w["figure"]), _join(wplace, "figure")),
                                      f.text(str(w["source"]), _join(wplace, "source"))))
            evidence[qid][answer] = Evidence(qid, answer, f.text(item["reason"], _join(aplace, "reason")),
                                             tuple(weights))
    return Rules(priors={c: priors[c] for c in causes}, evidence=evidence, scoring=scoring)


# --- the entry point ----------------------------------------------------------------------------

def load_content(lang: str = "en", root: Path | None = None, grammar_root: Path | None = None) -> Content:
    """The checked content pack of `lang` from `root` (default: the installed content folder).

    Cached per (lang, root, grammar_root): the files are read once per process.
    """
    return _load_cached(lang, Path(root).resolve() if root else None,
                        Path(grammar_root).resolve() if grammar_root else None)


@functools.lru_cache(maxsize=16)
def _load_cached(lang: str, root: Path | None, grammar_root: Path | None) -> Content:
    folder = (root or data_dir("content")) / lang
    if not folder.is_dir():
        raise ContentError(f"no content for language '{lang}'", where=str(folder))
    grammars = load_grammars(lang, grammar_root)
    red_flags = _load_red_flags(_File(folder / "red_flags.yaml"))
    causes = _load_causes(_File(folder / "causes.yaml"))
    messages = _load_messages(_File(folder / "messages.yaml"))
    questions = _load_questions(_File(folder / "questions.yaml"), red_flags, grammars)
    rules = _load_rules(_File(folder / "rules.yaml"), questions, causes)
    return Content(lang=lang, questions=questions, red_flags=red_flags, causes=causes, messages=messages,
                   grammars=grammars, rules=rules, root=folder)
