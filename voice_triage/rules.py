"""The rule module: answers in, an assessment out. Pure functions: no I/O, no logging, no engines.

How it decides (the weights and their sources live in content/<lang>/rules.yaml):

* Urgency: red flags only. One "yes" to an emergency flag -> emergency; else one "yes" to an
  urgent flag -> urgent; else routine. A red flag answered "unknown" (or not asked) does not raise
  the urgency, but the explanation names it and says what to do if it is present. A grouped
  red-flag question ("any of these five?") answered "no" counts as "no" for every member not
  asked on its own; answered "yes" it raises the urgency unless every member was then answered
  "no" on its own.
* Causes: each cause's log-odds = its prior + the sum of the weights of the answers given
  (log-likelihood ratios); "unknown" adds nothing. Score = logistic(log-odds), in [0, 1]. Causes
  are scored separately, so several can be likely at once. The first cause is the one with the
  highest log-odds (ties go to the earlier cause in model.CAUSES); its group is the likely group.
* decided()/could_change(): because the evidence is additive, the most any remaining questions
  can move one cause against another is the sum, per question, of the largest difference its
  answers make. That bound is exact, so the interview can stop early without changing the result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .content import UNKNOWN, Content, Question
from .model import CAUSES, Answer, Answers, Assessment, CauseScore, Urgency

YES, NO = Answer.YES.value, Answer.NO.value
_RANK = {Urgency.ROUTINE: 0, Urgency.URGENT: 1, Urgency.EMERGENCY: 2}
# Ties count as "could change": decided() must never be optimistic.
_EPS = 1e-9


# --- red flags and urgency ----------------------------------------------------------------------

def red_flag_answers(content: Content, answers: Mapping[str, str]) -> dict[str, str]:
    """Each red flag id -> yes / no / unknown, after applying grouped questions."""
    out: dict[str, str] = {}
    for q in content.questions.values():
        if q.red_flag is None:
            continue
        value = answers.get(q.id, UNKNOWN)
        if value == UNKNOWN and q.part_of and answers.get(q.part_of) == NO:
            value = NO  # "none of these five": the member was rightly not asked on its own
        out[q.red_flag.id] = value if value in (YES, NO) else UNKNOWN
    return out


def _open_groups(content: Content, answers: Mapping[str, str], flags: Mapping[str, str]) -> list[Question]:
    """Grouped questions answered yes whose members do not (yet) say which one."""
    open_ = []
    for q in content.questions.values():
        if q.members and answers.get(q.id) == YES:
            member_flags = [content.questions[m].red_flag for m in q.members]
            values = [flags[f.id] for f in member_flags if f is not None]
            if YES not in values and not all(v == NO for v in values):
                open_.append(q)
    return open_


def urgency_of(content: Content, answers: Mapping[str, str]) -> Urgency:
    flags = red_flag_answers(content, answers)
    urgency = Urgency.ROUTINE
    for flag_id, value in flags.items():
        if value == YES:
            urgency = max(urgency, content.red_flags[flag_id].urgency, key=_RANK.__getitem__)
    for group in _open_groups(content, answers, flags):
        for m in group.members:
            flag = content.questions[m].red_flag
            if flag is not None and flags[flag.id] == UNKNOWN:
                urgency = max(urgency, flag.urgency, key=_RANK.__getitem__)
    return urgency


# --- cause scores -------------------------------------------------------------------------------

def log_odds(content: Content, answers: Mapping[str, str]) -> dict[str, float]:
    """Each cause's log-odds: prior plus the weight of every answer given ("unknown" adds 0)."""
    total = dict(content.rules.priors)
    for qid, by_answer in content.rules.evidence.items():
        ev = by_answer.get(answers.get(qid, UNKNOWN))
        if ev is not None:
            for w in ev.weights:
                total[w.cause] += w.weight
    return total


def _ranked(content: Content, logits: Mapping[str, float]) -> list[str]:
    order = {c: i for i, c in enumerate(CAUSES)}
    return sorted(content.causes, key=lambda c: (-logits[c], order.get(c, len(order))))


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def outcome(content: Content, answers: Mapping[str, str]) -> tuple[Urgency, str]:
    """What the interview must not get wrong: the urgency and the first cause."""
    return urgency_of(content, answers), _ranked(content, log_odds(content, answers))[0]


def _reasons(content: Content, answers: Mapping[str, str], cause: str) -> list[tuple[float, str]]:
    """(weight, reason) for every answer that moved this cause, strongest first."""
    moved = []
    for qid, by_answer in content.rules.evidence.items():
        ev = by_answer.get(answers.get(qid, UNKNOWN))
        if ev is not None:
            w = ev.weight_for(cause)
            if w:
                moved.append((w, ev.reason))
    return sorted(moved, key=lambda m: -abs(m[0]))


# --- the assessment -----------------------------------------------------------------------------

def assess(content: Content, answers: Answers) -> Assessment:
    """The assessment of a set of answers (missing questions count as unknown)."""
    flags = red_flag_answers(content, answers)
    urgency = urgency_of(content, answers)
    logits = log_odds(content, answers)
    ranked = _ranked(content, logits)
    scores = []
    for cause_id in ranked:
        reasons = tuple(r if w > 0 else f"against: {r}" for w, r in _reasons(content, answers, cause_id))
        scores.append(CauseScore(cause_id, content.causes[cause_id].group, _logistic(logits[cause_id]), reasons))
    yes_flags = tuple(f for f, v in flags.items() if v == YES)
    unknown_flags = tuple(f for f, v in flags.items() if v == UNKNOWN)
    explanation = _explain(content, answers, urgency, yes_flags, unknown_flags, scores)
    return Assessment(urgency=urgency, red_flags=yes_flags, unknown_red_flags=unknown_flags,
                      likely_group=scores[0].group, causes=tuple(scores), explanation=explanation,
                      extra={"log_odds": {c: round(logits[c], 4) for c in ranked}})


def _listing(content: Content, items: list[str], last: str = "reasons_and") -> str:
    m = content.messages
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return items[0] + m[last if last != "list_last" else "list_or"] + items[1]
    return m["list_join"].join(items[:-1]) + m[last] + items[-1]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _explain(content: Content, answers: Mapping[str, str], urgency: Urgency, yes_flags: tuple[str, ...],
             unknown_flags: tuple[str, ...], scores: list[CauseScore]) -> str:
    m = content.messages
    flags = content.red_flags
    parts: list[str] = []
    # 1. Urgency advice first when it is not routine.
    if yes_flags:
        deciding = [f for f in yes_flags if flags[f].urgency is urgency] or list(yes_flags)
        # One flag in full words; several named briefly, so the sentence stays short.
        named = [flags[f].meaning for f in yes_flags] if len(yes_flags) == 1 else [flags[f].short for f in yes_flags]
        parts.append(m["explain_red_flag"].format(meanings=_listing(content, named),
                                                  if_present=flags[deciding[0]].if_present))
    answered = red_flag_answers(content, answers)
    covered: set[str] = set()  # unclear flags already named by a grouped "yes"
    for group in _open_groups(content, answers, answered):
        # Name only the members still open: those answered "no" on their own are ruled out.
        members = [content.questions[q].red_flag for q in group.members]
        open_members = [f for f in members if f is not None and answered[f.id] == UNKNOWN]
        covered.update(f.id for f in open_members)
        parts.append(m["explain_group_yes"].format(
            meanings=_listing(content, [f.short for f in open_members], "list_last"),
            if_present=m["if_any_urgent"]))
    # 2. Red flags left unclear: named, with what to do if present (one sentence per urgency).
    for level, generic in ((Urgency.EMERGENCY, "if_any_emergency"), (Urgency.URGENT, "if_any_urgent")):
        unclear = [f for f in unknown_flags if flags[f].urgency is level and f not in covered]
        if unclear:
            if len(unclear) == 1:
                flag = flags[unclear[0]]
                parts.append(m["explain_unknown_flag"].format(meaning=flag.meaning, if_present=flag.if_present))
            else:  # several: name them briefly, and say once what to do if any is there
                parts.append(m["explain_unknown_flags"].format(
                    meanings=_listing(content, [flags[f].short for f in unclear], "list_last"),
                    if_present=m[generic]))
    # 3. The most likely group and why, then the top cause, then others also possible.
    top = scores[0]
    cause = content.causes[top.id]
    group_name = m[f"group_{top.group.value}"]
    support = [r for w, r in _reasons(content, answers, top.id) if w > 0][:3]
    if support:
        parts.append(m["explain_group"].format(group_name=group_name,
                                               reasons=_listing(content, support)))
    else:
        parts.append(m["explain_group_weak"].format(group_name=group_name))
    parts.append(m["explain_top"].format(name=cause.name, plain=cause.plain))
    sc = content.rules.scoring
    also = 0
    for other in scores[1:]:
        if also >= sc.max_also or other.score < sc.also_at:
            break
        support = [r for w, r in _reasons(content, answers, other.id) if w > 0][:2]
        if support:
            parts.append(_sentence(m["explain_also"].format(name=content.causes[other.id].name,
                                                            reasons=_listing(content, support))))
            also += 1
    # 4. What to do next, and self-care when nothing urgent stands in the way.
    if urgency is Urgency.EMERGENCY:
        parts.append(m["next_emergency"])
    elif urgency is Urgency.URGENT:
        parts.append(m["next_urgent"])
    else:
        parts.append(m["next_routine"].format(name=cause.name, next_steps=cause.next_steps))
        parts.append(m["explain_self_care"].format(name=cause.name, self_care=cause.self_care))
    # 5. Always: not a diagnosis, not a replacement for a clinician.
    parts.append(m["explain_closing"])
    return " ".join(" ".join(p.split()) for p in parts)


# --- when the interview can stop ----------------------------------------------------------------

def _without(answers: Mapping[str, str], ids: Iterable[str]) -> dict[str, str]:
    drop = set(ids)
    return {k: v for k, v in answers.items() if k not in drop}


def decided(content: Content, answers: Answers, remaining: Iterable[str]) -> bool:
    """True only if no answers to the `remaining` questions could change the urgency or the first
    cause. Answers already given for a remaining question are ignored (it may be asked again)."""
    remaining = _still_open(content, answers, remaining)
    fixed = _without(answers, remaining)
    # Urgency rises with every red-flag answer (no < unknown < yes), so its extremes are all-no
    # and all-yes for the remaining red-flag questions.
    flag_qs = [q for q in remaining if content.questions[q].is_red_flag]
    if flag_qs:
        low = urgency_of(content, {**fixed, **{q: NO for q in flag_qs}})
        high = urgency_of(content, {**fixed, **{q: YES for q in flag_qs}})
        if low is not high:
            return False
    # First cause: for each challenger, the largest gain any remaining answers give it over the
    # leader is a per-question sum (additive evidence), so this bound is exact.
    logits = log_odds(content, fixed)
    leader = _ranked(content, logits)[0]
    evidence = content.rules.evidence
    for challenger in content.causes:
        if challenger == leader:
            continue
        reach = 0.0
        for qid in remaining:
            by_answer = evidence.get(qid, {})
            gain = max((ev.weight_for(challenger) - ev.weight_for(leader) for ev in by_answer.values()),
                       default=0.0)
            reach += max(gain, 0.0)  # "unknown" is always possible and moves nothing
        # With nothing that can help it, the challenger stays behind (the current order stands);
        # otherwise a tie, within rounding, counts as a possible change.
        if reach > 0.0 and logits[challenger] - logits[leader] + reach > -_EPS:
            return False
    return True


def _still_open(content: Content, answers: Mapping[str, str], remaining: Iterable[str]) -> list[str]:
    """The remaining question ids that can still be asked: known ids, minus the members of a
    grouped red-flag question answered "no" (that "no" already speaks for them)."""
    out = []
    ids = list(dict.fromkeys(remaining))
    for qid in ids:
        q = content.questions.get(qid)
        if q is None:
            continue
        if q.part_of and q.part_of not in ids and answers.get(q.part_of) == NO:
            continue
        out.append(qid)
    return out


def could_change(content: Content, answers: Answers, question_id: str) -> bool:
    """True if some answer to `question_id` (the other answers as given) would change the urgency
    or the first cause, compared with leaving it unanswered."""
    q = content.questions.get(question_id)
    if q is None:
        return False
    base = _without(answers, [question_id])
    before = outcome(content, base)
    return any(outcome(content, {**base, question_id: value}) != before for value in q.options)


def best_next(content: Content, answers: Answers, remaining: Iterable[str]) -> str | None:
    """The remaining symptom question most worth asking next, or None when `decided` says nothing
    left can change the outcome (red-flag questions are not chosen here: they are always asked).

    It looks only at causes that could still overtake the leader, and picks the question whose
    answers swing them against the leader most; on the public vignettes this asks fewer questions
    than the content order (it never changes the outcome: stopping is still up to `decided`)."""
    remaining = _still_open(content, answers, remaining)
    if decided(content, answers, remaining):
        return None
    candidates = [q for q in remaining if not content.questions[q].is_red_flag]
    if not candidates:
        return None
    fixed = _without(answers, remaining)
    logits = log_odds(content, fixed)
    leader = _ranked(content, logits)[0]
    evidence = content.rules.evidence

    def swing(qid: str, challenger: str) -> tuple[float, float]:
        diffs = [ev.weight_for(challenger) - ev.weight_for(leader) for ev in evidence.get(qid, {}).values()]
        return max([*diffs, 0.0]), -min([*diffs, 0.0])

    live = [c for c in content.causes if c != leader
            and logits[c] - logits[leader] + sum(swing(q, c)[0] for q in remaining) > -_EPS]
    order = {q: i for i, q in enumerate(content.questions)}
    return max(candidates, key=lambda q: (sum(sum(swing(q, c)) for c in live), -order[q]))
