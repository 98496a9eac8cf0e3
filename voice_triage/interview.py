"""The interview: a pure state machine, `step(state, event) -> (state, actions)`.

No threads, sleeps, audio or I/O here: the interview decides what to say and what to listen
for, and something at the edge (session.py) carries the actions out. The typed and the spoken
front ends share it.

How it is built. `Progress` is what the person has told us (answers, red-flag "no"s still to be
confirmed, flags to ask again one by one); every recorded answer pushes the previous Progress on
a history stack, so "go back" is a pop. Which question comes next is a pure function of Progress
(`_next_ask`), so after a pop the undone question is asked again by construction. `Ask` is the
prompt in flight (a question, a confirmation, the offer to repeat the result) with its failed
tries, which drive the re-prompt ladder.

Order: red flags first (each emergency flag on its own; a grouped urgent question with a
follow-up per member on "yes" or "I don't know"; all their "no"s confirmed together at the end), then
the location questions, then the yes/no symptom questions chosen adaptively: next the one whose
answers move the two leading causes apart most, and none once `rules.decided` says no answer
left could change the urgency or the first cause.

Not understood: a fair guess from the recogniser (Transcript.guess) is read back ("I think you
said ... Is that right?"), which one "yes" settles; so is what two failed tries in a row leaned to
(Transcript.lean), instead of a third try; otherwise the re-prompt ladder. (At a read-back, two
tries in a row leaning "no" are not taken as that "no": measured on 2026-11-27, it gave up on 2
fewer answers in 432 spoken interviews, and misheard 2 more, re-asked questions settled wrongly.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Union

from . import rules
from .content import Content, Question
from .model import Answer, Answers, Assessment, Command, QuestionKind, Urgency
from .recognition.base import Transcript

log = logging.getLogger(__name__)

YES_NO_GRAMMAR = "yes_no"
RATE_STEP = 30  # words per minute per "slower" / "faster"


# --- events -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    """The session begins."""


@dataclass(frozen=True)
class Heard:
    """Something was heard; `transcript.answer` None means it was not understood."""

    transcript: Transcript


@dataclass(frozen=True)
class Silence:
    """Nothing was heard before the time-out."""


Event = Union[Started, Heard, Silence]


# --- actions ------------------------------------------------------------------------------------

class ListenKind(str, Enum):
    ANSWER = "answer"              # an answer to question_id
    CONFIRM = "confirm"            # yes/no: are the (question, value) pairs in `expect` right?
    CONFIRM_STOP = "confirm_stop"  # yes/no: does the person want to stop?
    OFFER_REPEAT = "offer_repeat"  # yes/no: repeat the result?


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Listen:
    """Wait for one answer under `grammar`. The prompt was already said (a Say before it); it is
    here for the record and for front ends that show it. `expect` lists the (question id, value)
    pairs a confirmation reads back, so a simulated speaker can answer it."""

    grammar: str
    question_id: str | None
    prompt: str
    kind: ListenKind = ListenKind.ANSWER
    expect: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SetRate:
    """Change the speech rate: by `delta` words per minute, or to `wpm` when given."""

    delta: int = 0
    wpm: int | None = None


@dataclass(frozen=True)
class Finish:
    assessment: Assessment
    stopped: bool


Action = Union[Say, Listen, SetRate, Finish]


# --- policy and state ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    """How careful to be. Spoken: confirm red-flag answers both ways and unsure answers; typed:
    confirm a red-flag "yes" only."""

    confirm_red_flags: bool = True   # a red-flag "yes" is read back before it is accepted
    confirm_below: float = 0.5       # answers heard with less confidence are read back
    max_tries: int = 3               # failed tries before an answer counts as "unknown"
    confirm_nos: bool = True         # a section's red-flag "no"s are read back together
    typed: bool = False              # typed front end: no speech rate, typed wording
    keyboard: bool = False           # spoken, and a typed line answers too (said in the noise hint)


class AskKind(str, Enum):
    QUESTION = "question"
    CONFIRM = "confirm"          # one question's value, read back
    CONFIRM_NOS = "confirm_nos"  # a red-flag section's "no"s, read back together
    CONFIRM_STOP = "confirm_stop"
    OFFER_REPEAT = "offer_repeat"


@dataclass(frozen=True)
class Ask:
    kind: AskKind
    question_id: str | None = None
    value: str | None = None           # CONFIRM: the value read back
    flags: tuple[str, ...] = ()        # CONFIRM_NOS: the red flags read back
    red_flag: bool = False             # CONFIRM: a red-flag read-back ("I want to be sure")
    guess: bool = False                # CONFIRM: of what the recogniser only guessed ("I think you said")
    tries: int = 0                     # failed tries so far
    lean: str | None = None            # QUESTION: the value the last failed try leaned to (Transcript.lean)
    resume: "Ask | None" = None        # CONFIRM_STOP: the ask to go back to


@dataclass(frozen=True)
class Progress:
    """What the person has told us; undone as a whole by "go back"."""

    answers: tuple[tuple[str, str], ...] = ()   # (question id, value), in the order given
    pending_nos: tuple[str, ...] = ()           # red-flag "no"s awaiting the section read-back
    one_by_one: frozenset[str] = frozenset()    # red flags asked again, each "no" read back
    recheck: frozenset[str] = frozenset()       # of those, the ones whose read-back was not understood:
                                                # a second clear "no" confirms them
    said_intro: frozenset[str] = frozenset()    # section intros and once-a-session hints already said

    @property
    def answer_map(self) -> dict[str, str]:
        return dict(self.answers)

    def with_answer(self, qid: str, value: str) -> "Progress":
        kept = tuple((q, v) for q, v in self.answers if q != qid)
        return replace(self, answers=kept + ((qid, value),))

    def without(self, qids: set[str]) -> "Progress":
        return replace(self, answers=tuple((q, v) for q, v in self.answers if q not in qids))


@dataclass(frozen=True)
class State:
    content: Content = field(repr=False, compare=False)
    policy: Policy = Policy()
    progress: Progress = Progress()
    history: tuple[Progress, ...] = ()
    ask: Ask | None = None
    asked: tuple[str, ...] = ()                  # question ids asked at least once, in order
    confirmations: int = 0                       # read-backs asked
    rejected: tuple[tuple[str, int], ...] = ()   # question id -> read-backs rejected
    result: Assessment | None = None             # the final assessment, once said
    finished: bool = False


def start(content: Content, policy: Policy | None = None) -> State:
    return State(content=content, policy=policy or Policy())


# --- messages -----------------------------------------------------------------------------------

def message(content: Content, key: str, **values: str) -> str:
    """A UI sentence in the pack's wording, placeholders filled. The loader requires every key
    and checks its placeholders (content.MESSAGE_PLACEHOLDERS), so this cannot miss."""
    template = content.messages[key]
    return template.format(**values) if values else template


def join_words(content: Content, items: list[str]) -> str:
    sep, last = message(content, "list_join"), message(content, "list_last")
    if len(items) <= 1:
        return "".join(items)
    return sep.join(items[:-1]) + last + items[-1]


def option_labels(content: Content, q: Question) -> dict[str, str]:
    """Answer value -> short label, in the question's option order."""
    labels = dict(q.option_labels or {})
    out: dict[str, str] = {}
    for value in q.options:
        out[value] = labels.get(value) or {"unknown": "I don't know"}.get(value, value.replace("_", " "))
    return out


# --- the content, seen as an interview ----------------------------------------------------------

def is_red_flag(q: Question) -> bool:
    return q.red_flag is not None or bool(q.members)



def _section_of(content: Content, q: Question) -> Urgency:
    if q.red_flag is not None:
        return Urgency(q.red_flag.urgency)
    for m in q.members:
        member = content.questions.get(m)
        if member is not None and member.red_flag is not None:
            return Urgency(member.red_flag.urgency)
    return Urgency.URGENT


def red_flag_sections(content: Content) -> list[tuple[Urgency, list[Question]]]:
    """Red-flag questions by section (emergency first), each section in content order, with the
    members of a grouped question left out of the top level (they are asked under it)."""
    members = {m for q in content.questions.values() for m in q.members}
    sections: dict[Urgency, list[Question]] = {Urgency.EMERGENCY: [], Urgency.URGENT: []}
    for q in content.questions.values():
        if is_red_flag(q) and q.id not in members:
            sections.setdefault(_section_of(content, q), []).append(q)
    return [(u, qs) for u, qs in sections.items() if qs]


def group_ids(content: Content) -> set[str]:
    return {q.id for q in content.questions.values() if q.members}


def symptom_questions(content: Content) -> tuple[list[str], list[str]]:
    """(location questions in content order, yes/no symptom questions in content order)."""
    loc, yn = [], []
    for q in content.questions.values():
        if is_red_flag(q):
            continue
        (loc if QuestionKind(q.kind) == QuestionKind.LOCATION else yn).append(q.id)
    return loc, yn


def settled_answers(state: State) -> Answers:
    """The answers by question id, as the rules read them (a grouped question's own answer
    included: a "yes" to it with its members not yet asked keeps the urgency raised)."""
    return dict(state.progress.answers)


def assessment_now(state: State) -> Assessment:
    return rules.assess(state.content, settled_answers(state))


# --- choosing the next question -----------------------------------------------------------------

def _next_ask(state: State) -> Ask | None:
    """What to ask next (None when the interview is done): a pure function of the progress, so
    after "go back" the undone question comes again."""
    content, p, policy = state.content, state.progress, state.policy
    answers = p.answer_map
    order: list[str] = []
    for _section, items in red_flag_sections(content):
        for q in items:
            if q.id not in answers:
                return Ask(AskKind.QUESTION, q.id)
            order.append(q.id)
            for m in q.members:
                if m not in answers:
                    return Ask(AskKind.QUESTION, m)
                order.append(m)
    # Every red-flag "no" is read back once, together, when the danger signs are all asked (one
    # read-back for the whole section instead of one per urgency: a turn saved in every session).
    pending = tuple(f for f in order if f in p.pending_nos)
    if pending and policy.confirm_nos:
        return Ask(AskKind.CONFIRM_NOS, flags=pending)
    loc, yn = symptom_questions(content)
    for qid in loc:
        if qid not in answers:
            return Ask(AskKind.QUESTION, qid)
    remaining = [q for q in yn if q not in answers]
    if not remaining:
        return None
    # The rule module picks the question that most swings the causes still able to overtake
    # the leader, and says when nothing left could change the outcome (then None: done).
    qid = rules.best_next(content, settled_answers(state), remaining)
    return Ask(AskKind.QUESTION, qid) if qid is not None else None


# --- saying things ------------------------------------------------------------------------------

def _question_prompt(state: State, ask: Ask) -> str:
    """The full prompt of an ask, as said the first time."""
    content = state.content
    if ask.kind == AskKind.QUESTION:
        return content.questions[ask.question_id].prompt
    if ask.kind == AskKind.CONFIRM:
        q = content.questions[ask.question_id]
        readback = q.readback.get(ask.value, ask.value.replace("_", " "))
        if ask.guess:
            return message(content, "confirm_guess_red_flag" if ask.red_flag else "confirm_guess", readback=readback)
        return message(content, "confirm_red_flag" if ask.red_flag else "confirm", readback=readback)
    if ask.kind == AskKind.CONFIRM_NOS:
        items = " ".join(_meaning(content, f).rstrip(".") + "." for f in ask.flags)
        return message(content, "confirm_nos", items=items)
    if ask.kind == AskKind.CONFIRM_STOP:
        return message(content, "confirm_stop")
    return message(content, "offer_repeat")


def _meaning(content: Content, qid: str) -> str:
    q = content.questions[qid]
    if q.red_flag is not None and q.red_flag.meaning:
        m = q.red_flag.meaning
        return m[:1].upper() + m[1:]
    return q.short_prompt


def _options_text(state: State, ask: Ask) -> str:
    content = state.content
    if ask.kind == AskKind.QUESTION:
        q = content.questions[ask.question_id]
        if QuestionKind(q.kind) != QuestionKind.YES_NO:
            labels = list(option_labels(content, q).values())
            return message(content, "reprompt_options", options=join_words(content, labels))
        return message(content, "reprompt_yes_no")
    return message(content, "confirm_unclear")


def _short_prompt(state: State, ask: Ask) -> str:
    """The shorter re-ask: a question's short prompt; a read-back is short already."""
    if ask.kind == AskKind.QUESTION:
        return state.content.questions[ask.question_id].short_prompt
    return _question_prompt(state, ask)


def _listen(state: State, ask: Ask, prompt: str) -> Listen:
    content = state.content
    if ask.kind == AskKind.QUESTION:
        q = content.questions[ask.question_id]
        return Listen(q.grammar, q.id, prompt, ListenKind.ANSWER)
    if ask.kind == AskKind.CONFIRM:
        return Listen(YES_NO_GRAMMAR, ask.question_id, prompt, ListenKind.CONFIRM,
                      ((ask.question_id, ask.value),))
    if ask.kind == AskKind.CONFIRM_NOS:
        return Listen(YES_NO_GRAMMAR, None, prompt, ListenKind.CONFIRM, tuple((f, "no") for f in ask.flags))
    if ask.kind == AskKind.CONFIRM_STOP:
        return Listen(YES_NO_GRAMMAR, None, prompt, ListenKind.CONFIRM_STOP)
    return Listen(YES_NO_GRAMMAR, None, prompt, ListenKind.OFFER_REPEAT)


def _put(state: State, ask: Ask, said: list[Action], prompt: str | None = None) -> tuple[State, list[Action]]:
    """Ask `ask` now: say what comes before, then its prompt, then listen."""
    text = prompt if prompt is not None else _question_prompt(state, ask)
    asked = state.asked
    if ask.kind == AskKind.QUESTION and ask.question_id not in asked:
        asked = asked + (ask.question_id,)
    confirmations = state.confirmations
    if ask.kind in (AskKind.CONFIRM, AskKind.CONFIRM_NOS) and ask.tries == 0 and prompt is None:
        confirmations += 1
    state = replace(state, ask=ask, asked=asked, confirmations=confirmations)
    return state, [*said, Say(text), _listen(state, ask, text)]


# --- the step function ------------------------------------------------------------------------

def step(state: State, event: Event) -> tuple[State, list[Action]]:
    """One event in, the new state and what to do out. After Finish, events are ignored."""
    if state.finished:
        return state, []
    if isinstance(event, Started):
        content = state.content
        said: list[Action] = [Say(message(content, "welcome"))]
        if "disclaimer" in content.messages and "diagnos" not in message(content, "welcome"):
            said.append(Say(message(content, "disclaimer")))
        said.append(Say(message(content, "how_to_answer_typed" if state.policy.typed else "how_to_answer")))
        return _advance(state, said)
    if state.ask is None:
        return _advance(state, [])
    if isinstance(event, Silence):
        return _failed(state, silence=True)
    t = event.transcript
    if t.answer is None:
        ask = state.ask
        state, hint = _noise_hint(state, t)
        if ask.kind == AskKind.QUESTION:
            if t.guess is not None:
                return _guessed(state, t.guess, hint)
            lean = t.lean if t.lean in _options(state, ask.question_id) else None
            if lean is not None and lean == ask.lean:
                # Two tries in a row leaning the same way: read it back rather than ask a third time.
                return _guessed(state, lean, hint)
            return _failed(state, silence=False, lean=lean, hint=hint)
        return _failed(state, silence=False, hint=hint)
    if t.answer in {c.value for c in Command}:
        return _command(state, Command(t.answer), t)
    return _answered(state, t.answer, t.confidence)


def stop_now(state: State) -> tuple[State, list[Action]]:
    """End at once (the person said stop, or the edge gave up): the assessment so far."""
    if state.finished:
        return state, []
    result = assessment_now(state)
    state = replace(state, ask=None, result=result, finished=True)
    return state, [Say(message(state.content, "stopped")), Say(result.explanation), Finish(result, True)]


def _advance(state: State, said: list[Action]) -> tuple[State, list[Action]]:
    """Ask whatever comes next, or give the result."""
    ask = _next_ask(state)
    content = state.content
    if ask is None:
        return _give_result(state, said)
    p = state.progress
    if ask.kind == AskKind.QUESTION:
        q = content.questions[ask.question_id]
        intro = "red_flags_intro" if is_red_flag(q) else "symptoms_intro"
        if intro not in p.said_intro:
            said = [*said, Say(message(content, intro))]
            state = replace(state, progress=replace(p, said_intro=p.said_intro | {intro}))
    return _put(state, ask, said)


def _give_result(state: State, said: list[Action]) -> tuple[State, list[Action]]:
    content = state.content
    result = assessment_now(state)
    _, yn = symptom_questions(content)
    answers = state.progress.answer_map
    if any(q not in answers for q in yn):
        said = [*said, Say(message(content, "enough_answers"))]
    said = [*said, Say(message(content, "result_intro")), Say(result.explanation)]
    state = replace(state, result=result)
    return _put(state, Ask(AskKind.OFFER_REPEAT), said)


def _finish(state: State, said: list[Action], *, stopped: bool = False) -> tuple[State, list[Action]]:
    result = state.result or assessment_now(state)
    state = replace(state, ask=None, result=result, finished=True)
    return state, [*said, Say(message(state.content, "goodbye")), Finish(result, stopped)]


def _record(state: State, qid: str, value: str, said: list[Action], *,
            pending_no: bool = False) -> tuple[State, list[Action]]:
    """Keep an answer (pushing the previous progress for "go back") and move on."""
    p = state.progress
    history = state.history + (p,)
    p = p.with_answer(qid, value)
    q = state.content.questions[qid]
    pending = tuple(f for f in p.pending_nos if f != qid and f not in q.members)
    if pending_no:
        pending = pending + ((qid,) if not q.members else q.members)
    if q.members and value == Answer.NO.value:
        for m in q.members:
            p = p.with_answer(m, Answer.NO.value)
    elif q.members:
        said = [*said, Say(message(state.content, "group_follow_up"))]
    p = replace(p, pending_nos=pending)
    state = replace(state, progress=p, history=history, ask=None)
    return _advance(state, said)


def _rejections(state: State, qid: str) -> int:
    return dict(state.rejected).get(qid, 0)


def _red_flag_gave_up(state: State, qid: str, said: list[Action]) -> tuple[State, list[Action]]:
    """No clear answer about a red flag: say what it would mean, and keep it unknown."""
    content = state.content
    q = content.questions[qid]
    if q.members:
        # Unclear about the group: ask each member on its own.
        return _record(state, qid, Answer.UNKNOWN.value, said)
    rf = q.red_flag
    said = [*said, Say(message(content, "red_flag_unclear", meaning=rf.meaning, if_present=rf.if_present))]
    return _record(state, qid, Answer.UNKNOWN.value, said)


def _gave_up(state: State, qid: str, said: list[Action]) -> tuple[State, list[Action]]:
    q = state.content.questions[qid]
    if is_red_flag(q):
        return _red_flag_gave_up(state, qid, said)
    said = [*said, Say(message(state.content, "too_many_tries"))]
    return _record(state, qid, Answer.UNKNOWN.value, said)


def _options(state: State, qid: str) -> set[str]:
    """The values an answer to `qid` can take ("I don't know" included)."""
    return set(state.content.questions[qid].options) | {Answer.UNKNOWN.value}


NOISE_HINT = "noisy_room"


def _noise_hint(state: State, t: Transcript) -> tuple[State, list[Action]]:
    """Once a session, when a try fails in a noisy room: say so, and what helps."""
    p = state.progress
    if not t.noisy or state.policy.typed or NOISE_HINT in p.said_intro:
        return state, []
    state = replace(state, progress=replace(p, said_intro=p.said_intro | {NOISE_HINT}))
    return state, [Say(message(state.content, NOISE_HINT + ("_keyboard" if state.policy.keyboard else "")))]


def _failed(state: State, *, silence: bool, lean: str | None = None,
            hint: list[Action] | None = None) -> tuple[State, list[Action]]:
    """Not understood or nothing heard: the re-prompt ladder. `lean`: what this try leaned to;
    `hint`: said after the "sorry" (the noisy-room hint)."""
    ask = state.ask
    content = state.content
    opener: list[Action] = [Say(message(content, "silence" if silence else "not_understood")), *(hint or [])]
    if ask.kind == AskKind.OFFER_REPEAT:
        return _finish(state, [])
    if ask.kind == AskKind.CONFIRM_STOP:
        return _put(state, ask.resume, opener)
    tries = ask.tries + 1
    if tries >= state.policy.max_tries:
        if ask.kind in (AskKind.QUESTION, AskKind.CONFIRM):
            return _gave_up(state, ask.question_id, opener)
        # CONFIRM_NOS with no clear answer: ask the flags one by one.
        return _nos_rejected(state, opener, unclear=True)
    ask = replace(ask, tries=tries, lean=lean)
    if tries == 1:
        return _put(state, ask, opener, _short_prompt(state, ask))
    options = _options_text(state, ask)
    help_offer = message(content, "help_offer") if ask.kind == AskKind.QUESTION else ""
    again = _short_prompt(state, ask) if ask.kind == AskKind.QUESTION else _question_prompt(state, ask)
    return _put(state, ask, opener, " ".join(s for s in (again, options, help_offer) if s))


def _guessed(state: State, value: str, hint: list[Action] | None = None) -> tuple[State, list[Action]]:
    """Not clear enough to act on, but the recogniser leans to `value`: read it back ("I think you
    said ...") rather than ask the whole question again. A "yes" records it as a confirmed answer;
    a "no" counts as a failed try, as any rejected read-back does."""
    ask = state.ask
    q = state.content.questions[ask.question_id]
    if value not in _options(state, q.id):
        return _failed(state, silence=False, hint=hint)
    # The read-back has three tries of its own. (Sharing the question's three, so that someone the
    # recogniser cannot hear is not kept on one question for five or six turns, was measured: under
    # background talk at 10 dB it cut turns per question from 3.67 to 2.84 but gave up on a third
    # more answers, and whole sessions right fell from 14% to 1%.)
    return _put(state, Ask(AskKind.CONFIRM, q.id, value, red_flag=is_red_flag(q), guess=True), list(hint or []))


def _nos_rejected(state: State, said: list[Action], *, unclear: bool = False) -> tuple[State, list[Action]]:
    """The red-flag "no"s read back were not confirmed: ask each flag again on its own. After a "no"
    to the read-back (something in it is wrong) each "no" is then read back alone. When the read-back
    was never understood (`unclear`), a second clear "no" to the flag's own question confirms it:
    the person has said no to it twice, and reading each one back too would double the turns for
    someone the recogniser already struggles to hear."""
    ask = state.ask
    p = state.progress
    flags = set(ask.flags)
    history = state.history + (p,)
    p = replace(p.without(flags), pending_nos=tuple(f for f in p.pending_nos if f not in flags),
                one_by_one=p.one_by_one | flags,
                recheck=(p.recheck | flags) if unclear else (p.recheck - flags))
    # A grouped "no" taken back no longer speaks for its members: they are asked one by one.
    for q in state.content.questions.values():
        if q.members and flags & set(q.members) and p.answer_map.get(q.id) == Answer.NO.value:
            p = p.with_answer(q.id, Answer.UNKNOWN.value)
    state = replace(state, progress=p, history=history, ask=None)
    return _advance(state, [*said, Say(message(state.content, "confirm_nos_unclear" if unclear else "confirm_nos_rejected"))])


def _command(state: State, cmd: Command, t: Transcript) -> tuple[State, list[Action]]:
    ask = state.ask
    content = state.content
    policy = state.policy
    if cmd == Command.STOP:
        if ask.kind == AskKind.OFFER_REPEAT:
            return _finish(state, [])  # the result was given: nothing left to stop
        if ask.kind == AskKind.CONFIRM_STOP:
            return stop_now(state)
        if t.confidence < policy.confirm_below:
            return _put(state, Ask(AskKind.CONFIRM_STOP, resume=ask), [])
        return stop_now(state)
    if cmd == Command.BACK:
        return _back(state)
    if ask.kind == AskKind.OFFER_REPEAT:
        if cmd in (Command.REPEAT, Command.SLOWER, Command.FASTER):
            said: list[Action] = []
            if cmd != Command.REPEAT and not policy.typed:
                said.append(SetRate(delta=RATE_STEP if cmd == Command.FASTER else -RATE_STEP))
            return _finish(state, [*said, Say(state.result.explanation)])
        return _put(state, ask, [Say(message(content, "confirm_unclear"))])
    if ask.kind == AskKind.CONFIRM_STOP:
        ask = ask.resume
        state = replace(state, ask=ask)
    prompt = _question_prompt(state, ask)
    if cmd == Command.REPEAT:
        return _put(state, ask, [], prompt)
    if cmd == Command.HELP:
        if ask.kind == AskKind.QUESTION:
            help_text = content.questions[ask.question_id].help
        else:
            help_text = message(content, "confirm_unclear")
        return _put(state, ask, [Say(help_text)], prompt)
    if cmd in (Command.SLOWER, Command.FASTER):
        if policy.typed:
            return _put(state, ask, [Say(message(content, "rate_typed"))], prompt)
        delta = RATE_STEP if cmd == Command.FASTER else -RATE_STEP
        return _put(state, ask, [SetRate(delta=delta), Say(message(content, cmd.value))], prompt)
    return _put(state, ask, [], prompt)


def _back(state: State) -> tuple[State, list[Action]]:
    ask = state.ask
    content = state.content
    if ask.kind == AskKind.CONFIRM and ask.question_id is not None:
        # "The last answer" is the one being read back: ask its question again.
        q_ask = Ask(AskKind.QUESTION, ask.question_id)
        return _put(state, q_ask, [Say(message(content, "going_back"))])
    if ask.kind == AskKind.CONFIRM_STOP:
        state = replace(state, ask=ask.resume)
    if not state.history:
        return _put(state, state.ask, [Say(message(content, "nothing_to_go_back"))], _question_prompt(state, state.ask))
    p = state.history[-1]
    # Keep which intros were said: going back should not repeat them.
    p = replace(p, said_intro=state.progress.said_intro)
    state = replace(state, progress=p, history=state.history[:-1], ask=None, result=None)
    return _advance(state, [Say(message(content, "going_back"))])


def _answered(state: State, value: str, confidence: float) -> tuple[State, list[Action]]:
    ask = state.ask
    content = state.content
    policy = state.policy
    if ask.kind == AskKind.QUESTION:
        q = content.questions[ask.question_id]
        if value not in _options(state, q.id):
            return _failed(state, silence=False)
        return _answer_question(state, q, value, confidence)
    if value not in {a.value for a in Answer}:
        return _failed(state, silence=False)
    yes = value == Answer.YES.value
    if ask.kind == AskKind.OFFER_REPEAT:
        if yes:
            return _finish(state, [Say(state.result.explanation)])
        return _finish(state, [])
    if ask.kind == AskKind.CONFIRM_STOP:
        if yes:
            return stop_now(state)
        return _put(state, ask.resume, [])
    if ask.kind == AskKind.CONFIRM_NOS:
        if yes:
            p = state.progress
            flags = set(ask.flags)
            p = replace(p, pending_nos=tuple(f for f in p.pending_nos if f not in flags))
            return _advance(replace(state, progress=p, ask=None), [])
        return _nos_rejected(state, [])
    # CONFIRM of one value
    qid = ask.question_id
    q = content.questions[qid]
    if yes:
        return _accept(state, q, ask.value, confirmed=True, said=[])
    rejected = _rejections(state, qid) + 1
    state = replace(state, rejected=tuple({**dict(state.rejected), qid: rejected}.items()))
    if rejected >= policy.max_tries:
        return _gave_up(state, qid, [])
    return _put(state, Ask(AskKind.QUESTION, qid), [Say(message(content, "confirm_rejected"))])


def _answer_question(state: State, q: Question, value: str, confidence: float) -> tuple[State, list[Action]]:
    policy = state.policy
    rf_yes_check = is_red_flag(q) and not q.members and value == Answer.YES.value and policy.confirm_red_flags
    if confidence < policy.confirm_below and not rf_yes_check:
        # Heard, but not sure: read it back first (a red-flag "yes" gets its own read-back).
        return _put(state, Ask(AskKind.CONFIRM, q.id, value), [])
    return _accept(state, q, value, confirmed=False, said=[])


def _accept(state: State, q: Question, value: str, *, confirmed: bool, said: list[Action]) -> tuple[State, list[Action]]:
    """A clear answer to `q` (read back already when `confirmed`)."""
    content = state.content
    policy = state.policy
    if q.members:
        # The grouped question: "no" counts for every member (read back with the section).
        pending = value == Answer.NO.value and not confirmed and policy.confirm_nos
        return _record(state, q.id, value, said, pending_no=pending)
    if q.red_flag is None:
        return _record(state, q.id, value, said)
    rf = q.red_flag
    if value == Answer.YES.value:
        if policy.confirm_red_flags and not confirmed:
            return _put(state, Ask(AskKind.CONFIRM, q.id, value, red_flag=True), said)
        return _record(state, q.id, value, [*said, Say(message(content, "red_flag_yes", meaning=rf.meaning, if_present=rf.if_present))])
    if value == Answer.NO.value:
        # (A flag asked again because the section read-back was not understood: this clear "no"
        # is the second, and confirms the first.)
        if confirmed or not policy.confirm_nos or q.id in state.progress.recheck:
            return _record(state, q.id, value, said)
        if q.id in state.progress.one_by_one:
            # Asked again after the section read-back was rejected: read this one back alone.
            return _put(state, Ask(AskKind.CONFIRM, q.id, value, red_flag=True), said)
        return _record(state, q.id, value, said, pending_no=True)
    # "I don't know" about a red flag: clear enough to keep, but say what it would mean.
    return _record(state, q.id, value,
                   [*said, Say(message(content, "red_flag_unsure", meaning=rf.meaning, if_present=rf.if_present))])
