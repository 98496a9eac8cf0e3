"""The rule module: the vignette tables, red flags, unknown answers, and early stopping."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path
from typing import Any

import pytest

from voice_triage import rules
from voice_triage.content import Content, load_content
from voice_triage.model import CAUSES, EMERGENCY_FLAGS, RED_FLAGS, URGENT_FLAGS, Urgency
from voice_triage.rules import assess, best_next, could_change, decided, outcome
from voice_triage.yamlio import load_yaml

CASES = Path(__file__).parent / "cases"


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content("en")


def _table(name: str) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    data = load_yaml(CASES / name)
    out = []
    for case in data["cases"]:
        answers = dict(case["answers"])
        default = case.get("red_flags_default", data.get("red_flags_default", "unknown"))
        for flag in RED_FLAGS:
            answers.setdefault(flag, default)
        out.append((case["id"], answers, case["expect"]))
    return out


PUBLIC = _table("public.yaml")
HELDOUT = _table("heldout.yaml")


def _check(content: Content, answers: dict[str, str], expect: dict[str, Any]) -> list[str]:
    """What is wrong with the assessment of `answers`, as a list of problems (empty: all right)."""
    a = assess(content, answers)
    problems = []
    if a.urgency.value != expect["urgency"]:
        problems.append(f"urgency {a.urgency.value}, expected {expect['urgency']}")
    if "top" in expect and a.causes[0].id not in expect["top"]:
        problems.append(f"first cause {a.causes[0].id}, expected one of {expect['top']}")
    if "group" in expect and a.likely_group.value != expect["group"]:
        problems.append(f"group {a.likely_group.value}, expected {expect['group']}")
    for flag in expect.get("unknown_red_flags", []):
        if flag not in a.unknown_red_flags:
            problems.append(f"{flag} not listed as unclear")
    return problems


@pytest.mark.parametrize("case_id,answers,expect", PUBLIC, ids=[c[0] for c in PUBLIC])
def test_public_vignettes(content: Content, case_id: str, answers: dict[str, str], expect: dict) -> None:
    assert _check(content, answers, expect) == []


@pytest.mark.parametrize("case_id,answers,expect", HELDOUT, ids=[c[0] for c in HELDOUT])
def test_heldout_urgency_always_right(content: Content, case_id: str, answers: dict[str, str],
                                      expect: dict) -> None:
    # Urgency and the unclear red flags must be right every time; the first cause is held to a
    # rate below (nine in ten), so one miss does not hide the others.
    problems = [p for p in _check(content, answers, expect) if not p.startswith(("first cause", "group"))]
    assert problems == []


def test_heldout_first_cause_nine_in_ten(content: Content) -> None:
    misses = {cid: p for cid, answers, expect in HELDOUT if (p := _check(content, answers, expect))}
    rate = 1 - len(misses) / len(HELDOUT)
    assert rate >= 0.9, f"{rate:.0%} right; misses: {misses}"


# --- red flags -------------------------------------------------------------------------------------

def _random_answers(content: Content, rng: random.Random, p_answer: float = 0.7,
                    red_flags: bool = False) -> dict[str, str]:
    answers = {}
    for q in content.questions.values():
        if q.is_red_flag and not red_flags:
            continue
        if rng.random() < p_answer:
            answers[q.id] = rng.choice(q.options)
    return answers


@pytest.mark.parametrize("flag", RED_FLAGS)
def test_a_red_flag_yes_decides_the_urgency(content: Content, flag: str) -> None:
    rng = random.Random(flag)
    expected = Urgency.EMERGENCY if flag in EMERGENCY_FLAGS else Urgency.URGENT
    for _ in range(100):
        answers = _random_answers(content, rng)
        answers.update({f: rng.choice(["no", "unknown"]) for f in RED_FLAGS})
        answers[flag] = "yes"
        a = assess(content, answers)
        assert a.urgency is expected
        assert a.red_flags == (flag,)
        assert a.explanation.startswith("You said you have")
        assert content.red_flags[flag].if_present in a.explanation
        assert ("emergency" in a.explanation.split(".")[1].lower()) == (expected is Urgency.EMERGENCY)


def test_an_emergency_flag_outranks_an_urgent_one(content: Content) -> None:
    answers = {f: "no" for f in RED_FLAGS} | {"rf_cancer": "yes", "rf_saddle": "yes"}
    a = assess(content, answers)
    assert a.urgency is Urgency.EMERGENCY and set(a.red_flags) == {"rf_cancer", "rf_saddle"}


@pytest.mark.parametrize("flag", RED_FLAGS)
def test_an_unclear_red_flag_is_named_with_what_to_do(content: Content, flag: str) -> None:
    answers = {f: "no" for f in RED_FLAGS} | {flag: "unknown", "pain_location": "outer_hip"}
    a = assess(content, answers)
    assert a.urgency is Urgency.ROUTINE
    assert a.unknown_red_flags == (flag,)
    rf = content.red_flags[flag]
    assert rf.meaning in a.explanation and rf.if_present in a.explanation


def test_no_red_flag_answered_lists_them_all(content: Content) -> None:
    a = assess(content, {"pain_location": "outer_hip"})
    assert a.urgency is Urgency.ROUTINE and a.unknown_red_flags == RED_FLAGS
    for flag in RED_FLAGS:
        assert content.red_flags[flag].short in a.explanation


def test_grouped_question_no_covers_its_members(content: Content) -> None:
    answers = {f: "no" for f in EMERGENCY_FLAGS} | {"rf_urgent_any": "no"}
    a = assess(content, answers)
    assert a.urgency is Urgency.ROUTINE and a.unknown_red_flags == ()


def test_grouped_question_yes_without_members_is_urgent(content: Content) -> None:
    answers = {f: "no" for f in EMERGENCY_FLAGS} | {"rf_urgent_any": "yes"}
    a = assess(content, answers)
    assert a.urgency is Urgency.URGENT
    assert set(a.unknown_red_flags) == set(URGENT_FLAGS)
    assert content.messages["if_any_urgent"] in a.explanation


def test_grouped_question_yes_then_each_no_is_routine(content: Content) -> None:
    answers = {f: "no" for f in RED_FLAGS} | {"rf_urgent_any": "yes"}
    assert assess(content, answers).urgency is Urgency.ROUTINE


def test_grouped_question_yes_then_one_member_yes(content: Content) -> None:
    answers = {f: "no" for f in EMERGENCY_FLAGS} | {"rf_urgent_any": "yes", "rf_trauma": "yes"}
    a = assess(content, answers)
    assert a.urgency is Urgency.URGENT and a.red_flags == ("rf_trauma",)


# --- scores ----------------------------------------------------------------------------------------

def test_assessment_shape(content: Content) -> None:
    rng = random.Random(1)
    for _ in range(200):
        answers = _random_answers(content, rng, red_flags=True)
        a = assess(content, answers)
        assert [c.id for c in a.causes] and sorted(c.id for c in a.causes) == sorted(CAUSES)
        scores = [c.score for c in a.causes]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert a.likely_group is a.causes[0].group
        assert all(isinstance(r, str) and r for c in a.causes for r in c.reasons)
        assert "not a diagnosis" in a.explanation and "does not replace" in a.explanation


def test_unknown_moves_nothing(content: Content) -> None:
    rng = random.Random(2)
    for _ in range(200):
        answers = _random_answers(content, rng, red_flags=True)
        qid = rng.choice(list(content.questions))
        with_unknown = assess(content, {**answers, qid: "unknown"})
        without = assess(content, {k: v for k, v in answers.items() if k != qid})
        assert [(c.id, c.score, c.reasons) for c in with_unknown.causes] == \
               [(c.id, c.score, c.reasons) for c in without.causes]
        assert with_unknown.urgency is without.urgency


def test_every_answer_that_moves_a_cause_gives_a_reason(content: Content) -> None:
    a = assess(content, {"pain_location": "outer_hip", "lying_on_side": "yes", "socks_shoes": "yes"})
    gtps = next(c for c in a.causes if c.id == "gtps")
    assert "the pain is worst on the outer side of the hip" in gtps.reasons
    assert any(r.startswith("against: socks and shoes") for r in gtps.reasons)


def test_no_single_answer_makes_a_nerve_cause_likely(content: Content) -> None:
    # Iversen 2013: single examination items for sciatica are never decisive.
    likely = content.rules.scoring.likely_at
    for qid, by_answer in content.rules.evidence.items():
        for value in by_answer:
            a = assess(content, {qid: value})
            for c in a.causes:
                if c.id in ("sciatica", "piriformis"):
                    assert c.score < likely, (qid, value, c.id, c.score)


def test_several_causes_can_be_likely_at_once(content: Content) -> None:
    answers = {"pain_location": "outer_hip", "pain_spread": "thigh", "lying_on_side": "yes",
               "tender_side": "yes", "single_leg_stance": "yes", "bending_back": "yes",
               "nerve_sensations": "no", "leg_worse_than_back": "no"}
    likely = [c.id for c in assess(content, answers).causes if c.score >= content.rules.scoring.likely_at]
    assert {"gtps", "gluteus_medius", "lumbar_referred"} <= set(likely)


def test_explanation_order_and_group(content: Content) -> None:
    answers = {f: "no" for f in RED_FLAGS} | {"pain_location": "lower_back", "pain_spread": "foot",
                                              "nerve_sensations": "yes", "leg_worse_than_back": "yes"}
    text = assess(content, answers).explanation
    assert text.startswith("Of the three kinds of cause, a nerve cause")
    assert "because" in text and "the pain goes all the way to the foot" in text
    assert text.index("The best fit is sciatica") < text.index("What to do next") < text.index("Meanwhile")
    assert text.rstrip().endswith(content.messages["explain_closing"])


def test_rules_module_is_pure() -> None:
    source = Path(rules.__file__).read_text(encoding="utf-8")
    for banned in (r"import logging", r"import os\b", r"\bopen\(", r"\bprint\(", r"import yaml",
                   r"sounddevice", r"vosk", r"pocketsphinx", r"yamlio"):
        assert not re.search(banned, source), banned


# --- stopping early ---------------------------------------------------------------------------------

def _completions(content: Content, remaining: list[str], rng: random.Random, n: int):
    options = [content.questions[q].options for q in remaining]
    total = 1
    for o in options:
        total *= len(o)
    if total <= n:
        for combo in itertools.product(*options):
            yield dict(zip(remaining, combo))
    else:
        for _ in range(n):
            yield {q: rng.choice(o) for q, o in zip(remaining, options)}


def test_decided_never_changes_the_outcome(content: Content) -> None:
    rng = random.Random(3)
    ids = list(content.questions)
    said_yes = 0
    for _ in range(400):
        answers = _random_answers(content, rng, p_answer=rng.random(), red_flags=True)
        remaining = [q for q in ids if q not in answers and rng.random() < 0.8]
        if not decided(content, answers, remaining):
            continue
        said_yes += 1
        expected = outcome(content, answers)
        for completion in _completions(content, remaining, rng, 300):
            assert outcome(content, {**answers, **completion}) == expected, (answers, completion)
    assert said_yes > 20  # the property was exercised, not vacuously true


def test_decided_is_exact_when_it_says_no(content: Content) -> None:
    # The bound is exact: when decided() says no, some completion does change the outcome.
    rng = random.Random(4)
    checked = 0
    for _ in range(300):
        answers = _random_answers(content, rng, p_answer=rng.random(), red_flags=True)
        remaining = [q for q in content.questions if q not in answers][:5]
        if not remaining or decided(content, answers, remaining):
            continue
        expected = outcome(content, answers)
        changes = any(outcome(content, {**answers, **c}) != expected
                      for c in _completions(content, remaining, rng, 10_000))
        # Ties are counted as changes by decided() (never optimistic), so allow them only.
        if not changes:
            logits = rules.log_odds(content, answers)
            assert sorted(logits.values())[-1] - sorted(logits.values())[-2] < 1.5
        checked += 1
    assert checked > 20


def test_decided_with_red_flags_left(content: Content) -> None:
    answers = {"pain_location": "outer_hip", "pain_spread": "none", "lying_on_side": "yes"}
    assert not decided(content, answers, ["rf_saddle"])
    emergency = {**answers, "rf_saddle": "yes"}
    assert decided(content, emergency, ["rf_cancer", "rf_urgent_any"])
    assert not decided(content, {**answers, "rf_urgent_any": "yes"}, list(URGENT_FLAGS))


def test_decided_when_nothing_remains(content: Content) -> None:
    assert decided(content, {}, [])
    # A tie between two causes that no remaining question can break is still decided.
    assert decided(content, {"pain_location": "outer_hip"}, ["rf_unknown_id"]) is decided(
        content, {"pain_location": "outer_hip"}, [])


def test_members_under_a_grouped_no_are_not_open(content: Content) -> None:
    answers = {f: "no" for f in EMERGENCY_FLAGS} | {"rf_urgent_any": "no", "pain_location": "groin",
                                                   "pain_spread": "thigh", "socks_shoes": "yes"}
    symptoms = [q for q in content.questions if not content.questions[q].is_red_flag and q not in answers]
    assert decided(content, answers, [*URGENT_FLAGS, *symptoms]) == decided(content, answers, symptoms)


def test_could_change_matches_its_definition(content: Content) -> None:
    rng = random.Random(5)
    for _ in range(200):
        answers = _random_answers(content, rng, p_answer=rng.random(), red_flags=True)
        qid = rng.choice(list(content.questions))
        base = {k: v for k, v in answers.items() if k != qid}
        changes = any(outcome(content, {**base, qid: v}) != outcome(content, base)
                      for v in content.questions[qid].options)
        assert could_change(content, answers, qid) == changes
        covered = content.questions[qid].part_of and base.get(content.questions[qid].part_of) == "no"
        if decided(content, base, [qid]) and not covered:
            assert not could_change(content, answers, qid)


def _interview(content: Content, truth: dict[str, str]) -> tuple[int, dict[str, str]]:
    """The interview's order: every red flag (the members of a grouped question after its "yes" or
    "unknown"), then where the pain is and how far it spreads, then symptom questions chosen by
    best_next until decided() says nothing left could change the outcome."""
    asked: dict[str, str] = {}
    for q in content.questions.values():
        if not q.is_red_flag or q.part_of:
            continue
        if q.members:
            values = [truth.get(m, "unknown") for m in q.members]
            asked[q.id] = "yes" if "yes" in values else "unknown" if "unknown" in values else "no"
            if asked[q.id] != "no":
                asked.update({m: truth.get(m, "unknown") for m in q.members})
        else:
            asked[q.id] = truth.get(q.id, "unknown")
    asked.update({q: truth.get(q, "unknown") for q in ("pain_location", "pain_spread")})
    remaining = [q for q in content.questions if not content.questions[q].is_red_flag and q not in asked]
    while (nxt := best_next(content, asked, remaining)) is not None:
        remaining.remove(nxt)
        asked[nxt] = truth.get(nxt, "unknown")
    return len(asked), asked


def test_few_questions_and_the_same_outcome(content: Content) -> None:
    counts = []
    for _, truth, _ in PUBLIC:
        n, asked = _interview(content, truth)
        counts.append(n)
        assert outcome(content, asked) == outcome(content, truth)
    assert sum(counts) / len(counts) <= 12, counts
