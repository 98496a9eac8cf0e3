"""The interview's dialogue policy, with fakes only: a scripted person and a recording voice.

Every rule of the policy has a test here: the re-prompt ladder, three tries then "unknown", a red
flag never recorded without a clear answer, red-flag read-backs both ways, low-confidence
read-backs, the commands at every prompt, stop and Ctrl-C keeping the answers, and the adaptive
choice of questions over the public vignettes (no outcome changed against asking everything).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import Any

import pytest

from voice_triage import interview, rules
from voice_triage.content import load_content
from voice_triage.interview import (Finish, Heard, Listen, ListenKind, Policy, Say, SetRate, Silence, Started,
                                    step)
from voice_triage.model import EMERGENCY_FLAGS, RED_FLAGS, URGENT_FLAGS, Urgency
from voice_triage.recognition.base import Transcript
from voice_triage.session import (TYPED_POLICY, VOICE_POLICY, RecordingVoice, SessionResult, drive,
                                  run_interview, speaker_answer)
from voice_triage.yamlio import load_yaml

CASES = Path(__file__).parent / "cases" / "public.yaml"
GROUP = "rf_urgent_any"
ALL_NO = {f: "no" for f in RED_FLAGS}
ROUTINE = {**ALL_NO, "pain_location": "outer_hip", "pain_spread": "none", "lying_on_side": "yes",
           "tender_side": "yes", "single_leg_stance": "yes", "walking_stairs": "yes", "nerve_sensations": "no",
           "sitting_worse": "no", "socks_shoes": "no", "bending_back": "no", "cough_sneeze": "no",
           "leg_worse_than_back": "no"}


@pytest.fixture(scope="module")
def content():
    return load_content("en")


# --- fakes ----------------------------------------------------------------------------------

GARBLED = object()  # heard something, understood nothing


def heard(value: str | None, confidence: float = 1.0, text: str | None = None) -> Transcript:
    return Transcript(text if text is not None else (value or "mumble"), value, confidence)


class Person:
    """Answers like someone whose true answers are `answers`, except where `script` says
    otherwise: script maps a key to the responses for its next listens, in order. Keys: a
    question id (its answer prompts), ("confirm", qid) for a read-back of one question,
    "confirm_nos" for the red-flag read-back, "offer_repeat", "confirm_stop". A response is a value
    or command id (heard with confidence 1), None (silence), GARBLED, a Transcript, or a callable
    raising (Ctrl-C)."""

    def __init__(self, content, answers: dict[str, str], script: dict[Any, list[Any]] | None = None) -> None:
        self.content = content
        self.answers = answers
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.listens: list[Listen] = []

    def key(self, action: Listen) -> Any:
        if action.kind == ListenKind.ANSWER:
            return action.question_id
        if action.kind == ListenKind.CONFIRM:
            return ("confirm", action.question_id) if action.question_id else "confirm_nos"
        return action.kind.value

    def hear(self, action: Listen, grammar) -> Transcript | None:
        self.listens.append(action)
        queue = self.script.get(self.key(action))
        if queue:
            r = queue.pop(0)
            if callable(r):
                r()
            if r is None:
                return None
            if r is GARBLED:
                return Transcript("mumble mumble", None, 0.2)
            if isinstance(r, Transcript):
                return r
            return heard(r)
        value = speaker_answer(self.content, self.answers, action)
        return heard(value)

    def asked(self, key: Any) -> list[Listen]:
        return [a for a in self.listens if self.key(a) == key]


def run(content, answers, script=None, policy: Policy = VOICE_POLICY) -> tuple[SessionResult, Person, RecordingVoice]:
    person = Person(content, answers, script)
    voice = RecordingVoice()
    result = drive(content, person.hear, voice, policy)
    return result, person, voice


def said(voice: RecordingVoice) -> str:
    return "\n".join(voice.said)


def ctrl_c() -> None:
    raise KeyboardInterrupt


# --- the whole flow -------------------------------------------------------------------------

def test_a_whole_routine_interview(content):
    result, person, voice = run(content, ROUTINE)
    text = said(voice)
    assert "not a diagnosis" in voice.said[0].lower() or "not a diagnosis" in text.lower()
    assert "does not replace" in text
    for command in ("repeat", "help", "go back", "slower", "faster", "stop"):
        assert command in text
    # Red flags first, in content order, each emergency flag on its own.
    answer_order = [a.question_id for a in person.listens if a.kind == ListenKind.ANSWER]
    assert answer_order[:4] == list(EMERGENCY_FLAGS)
    assert answer_order[4] == GROUP
    assert answer_order[5:7] == ["pain_location", "pain_spread"]
    # Every red flag covered; the result is the rules' own on the settled answers.
    assert all(result.answers[f] == "no" for f in RED_FLAGS)
    assert result.assessment == rules.assess(content, result.answers)
    assert result.assessment.explanation in voice.said
    assert (result.assessment.urgency, result.assessment.causes[0].id) == rules.outcome(content, ROUTINE)
    assert not result.stopped and not result.interrupted
    assert result.turns == len(person.listens) == len(result.transcript)
    # The offer to repeat the result comes once, at the end.
    assert [a.kind for a in person.listens].count(ListenKind.OFFER_REPEAT) == 1
    assert person.listens[-1].kind == ListenKind.OFFER_REPEAT


def test_step_is_pure_and_deterministic(content):
    state = interview.start(content, VOICE_POLICY)
    s1, a1 = step(state, Started())
    s2, a2 = step(state, Started())
    assert a1 == a2 and s1 == s2
    assert state.ask is None  # the old state is untouched
    with pytest.raises(FrozenInstanceError):
        s1.ask = None  # type: ignore[misc]
    assert isinstance(a1[-1], Listen) and a1[-1].question_id == EMERGENCY_FLAGS[0]
    assert isinstance(a1[-2], Say) and a1[-2].text == a1[-1].prompt


def test_every_batch_ends_listening_or_finished(content):
    state = interview.start(content, VOICE_POLICY)
    state, actions = step(state, Started())
    for _ in range(300):
        assert isinstance(actions[-1], (Listen, Finish))
        if isinstance(actions[-1], Finish):
            break
        state, actions = step(state, Silence())
    else:
        pytest.fail("silence for ever never ended the interview")
    assert step(state, Silence()) == (state, [])  # finished: nothing more


# --- the re-prompt ladder -----------------------------------------------------------------------

def test_reprompt_ladder_then_unknown_on_an_ordinary_question(content):
    result, person, voice = run(content, ROUTINE, {"pain_location": [GARBLED, None, GARBLED]})
    q = content.questions["pain_location"]
    prompts = [a.prompt for a in person.asked("pain_location")]
    assert len(prompts) == 3
    assert prompts[0] == q.prompt
    assert prompts[1] == q.short_prompt                       # shorter
    assert q.short_prompt in prompts[2]
    for label in ("upper buttock", "outer hip", "groin"):       # then the options listed
        assert label in prompts[2]
    assert "help" in prompts[2]                                  # and help offered
    assert result.answers["pain_location"] == "unknown"
    assert interview.message(content, "too_many_tries") in voice.said
    assert interview.message(content, "not_understood") in voice.said
    assert interview.message(content, "silence") in voice.said
    # ... and the interview moved on.
    assert person.asked("pain_spread")


def test_understood_on_the_second_try_counts(content):
    result, person, _ = run(content, ROUTINE, {"pain_spread": [None, "thigh"]})
    assert result.answers["pain_spread"] == "thigh"
    assert len(person.asked("pain_spread")) == 2


def test_an_unclear_red_flag_stays_unknown_with_a_plain_warning(content):
    result, person, voice = run(content, ROUTINE, {"rf_saddle": [None, GARBLED, None]})
    flag = content.red_flags["rf_saddle"]
    assert result.answers["rf_saddle"] == "unknown"
    assert "rf_saddle" in result.assessment.unknown_red_flags
    warning = [s for s in voice.said if flag.meaning in s and flag.if_present in s]
    assert warning, "the warning names the symptom and what to do"
    assert len(person.asked("rf_saddle")) == 3
    # It was never read back as a "no" with the others.
    nos = person.asked("confirm_nos")
    assert nos and all(("rf_saddle", "no") not in a.expect for a in nos)


def test_a_red_flag_is_never_recorded_from_a_garbled_confirmation(content):
    answers = {**ROUTINE, "rf_weakness": "yes"}
    result, person, voice = run(content, answers, {("confirm", "rf_weakness"): [None, GARBLED, None]})
    assert result.answers["rf_weakness"] == "unknown"
    assert any(content.red_flags["rf_weakness"].if_present in s for s in voice.said)


# --- red-flag read-backs ------------------------------------------------------------------------

def test_a_red_flag_yes_is_confirmed(content):
    answers = {**ROUTINE, "rf_saddle": "yes"}
    result, person, voice = run(content, answers)
    confirm = person.asked(("confirm", "rf_saddle"))
    assert len(confirm) == 1
    assert confirm[0].expect == (("rf_saddle", "yes"),)
    assert content.questions["rf_saddle"].readback["yes"] in confirm[0].prompt
    assert result.answers["rf_saddle"] == "yes"
    assert result.assessment.urgency is Urgency.EMERGENCY
    # What to do is said at once, not only at the end.
    i_confirm = voice.said.index(confirm[0].prompt)
    assert any(content.red_flags["rf_saddle"].if_present in s for s in voice.said[i_confirm:i_confirm + 3])


def test_a_rejected_red_flag_yes_asks_again(content):
    result, person, _ = run(content, ROUTINE, {"rf_both_legs": ["yes", "no"], ("confirm", "rf_both_legs"): ["no"]})
    assert len(person.asked("rf_both_legs")) == 2
    assert result.answers["rf_both_legs"] == "no"
    assert result.assessment.urgency is Urgency.ROUTINE


# --- guesses: what the recogniser leans to but would not act on --------------------------------

def guessed(value: str, text: str = "mumble") -> Transcript:
    return Transcript(text, None, 0.3, guess=value)


def test_a_right_guess_is_read_back_and_settled_by_one_yes(content):
    answers = {**ROUTINE, "pain_location": "mid_buttock"}
    result, person, voice = run(content, answers, {"pain_location": [guessed("mid_buttock")]})
    confirm = person.asked(("confirm", "pain_location"))
    assert len(confirm) == 1 and confirm[0].expect == (("pain_location", "mid_buttock"),)
    assert confirm[0].prompt.startswith("I'm not sure I heard you. I think you said")
    assert len(person.asked("pain_location")) == 1          # not asked again
    assert result.answers["pain_location"] == "mid_buttock"
    assert interview.message(content, "not_understood") not in voice.said


def test_a_guessed_red_flag_no_is_read_back_alone_and_left_out_of_the_section_read_back(content):
    result, person, _ = run(content, ROUTINE, {"rf_saddle": [guessed("no")]})
    confirm = person.asked(("confirm", "rf_saddle"))
    assert len(confirm) == 1 and "I want to be sure" in confirm[0].prompt
    nos = person.asked("confirm_nos")
    assert len(nos) == 1 and ("rf_saddle", "no") not in nos[0].expect
    assert result.answers["rf_saddle"] == "no"


def test_a_wrong_guess_rejected_asks_the_question_again(content):
    answers = {**ROUTINE, "rf_both_legs": "yes"}
    result, person, voice = run(content, answers, {"rf_both_legs": [guessed("no")]})
    assert person.asked(("confirm", "rf_both_legs"))[0].expect == (("rf_both_legs", "no"),)
    assert interview.message(content, "confirm_rejected") in voice.said
    assert len(person.asked("rf_both_legs")) == 2
    assert result.answers["rf_both_legs"] == "yes"          # then its own read-back, and kept


def test_three_wrong_guesses_give_up_as_any_failed_tries_do(content):
    answers = {**ROUTINE, "pain_spread": "thigh"}
    script = {"pain_spread": [guessed("foot")] * 3}
    result, person, _ = run(content, answers, script)
    assert len(person.asked(("confirm", "pain_spread"))) == 3
    assert result.answers["pain_spread"] == "unknown"


def test_a_guess_the_question_cannot_take_is_not_read_back(content):
    # A command, or a location under a yes/no question, is not offered back: plain re-ask.
    script = {"rf_saddle": [guessed("help"), guessed("outer_hip")]}
    result, person, voice = run(content, ROUTINE, script)
    assert person.asked(("confirm", "rf_saddle")) == []
    assert len(person.asked("rf_saddle")) == 3
    assert voice.said.count(interview.message(content, "not_understood")) >= 2
    assert result.answers["rf_saddle"] == "no"


def test_a_guess_at_a_read_back_is_not_taken(content):
    answers = {**ROUTINE, "rf_saddle": "yes"}
    result, person, _ = run(content, answers, {("confirm", "rf_saddle"): [guessed("yes"), "yes"]})
    assert len(person.asked(("confirm", "rf_saddle"))) == 2
    assert result.answers["rf_saddle"] == "yes"


def leaning(value: str | None, text: str = "mumble") -> Transcript:
    return Transcript(text, None, 0.1, lean=value)


def test_two_tries_leaning_the_same_way_are_read_back_instead_of_a_third_try(content):
    answers = {**ROUTINE, "pain_location": "outer_hip"}
    script = {"pain_location": [leaning("outer_hip"), leaning("outer_hip")]}
    result, person, voice = run(content, answers, script)
    assert len(person.asked("pain_location")) == 2
    confirm = person.asked(("confirm", "pain_location"))
    assert len(confirm) == 1 and confirm[0].expect == (("pain_location", "outer_hip"),)
    assert "I think you said" in confirm[0].prompt
    assert result.answers["pain_location"] == "outer_hip"


def test_leans_that_differ_or_are_not_in_a_row_are_not_read_back(content):
    answers = {**ROUTINE, "pain_location": "outer_hip"}
    # Different leans, then a silence between two equal ones: never two in a row.
    script = {"pain_location": [leaning("outer_hip"), leaning("groin"), None]}
    result, person, _ = run(content, answers, script)
    assert person.asked(("confirm", "pain_location")) == []
    assert result.answers["pain_location"] == "unknown"
    script = {"rf_saddle": [leaning("no"), None, leaning("no")]}
    result, person, _ = run(content, ROUTINE, script)
    assert person.asked(("confirm", "rf_saddle")) == []
    assert result.answers["rf_saddle"] == "unknown"


def test_a_repeated_lean_on_a_red_flag_is_read_back_and_a_no_to_it_is_a_failed_try(content):
    answers = {**ROUTINE, "rf_saddle": "yes"}
    script = {"rf_saddle": [leaning("no"), leaning("no"), "yes"]}
    result, person, _ = run(content, answers, script)
    confirm = person.asked(("confirm", "rf_saddle"))
    assert confirm[0].expect == (("rf_saddle", "no"),) and "I want to be sure" in confirm[0].prompt
    assert result.answers["rf_saddle"] == "yes"      # never settled as the lean


def test_a_read_back_of_a_lean_has_its_own_three_tries(content):
    # Two tries leaning "outer_hip", then the read-back is understood only at its third try.
    answers = {**ROUTINE, "pain_location": "outer_hip"}
    script = {"pain_location": [leaning("outer_hip"), leaning("outer_hip")],
              ("confirm", "pain_location"): [GARBLED, None, "yes"]}
    result, person, _ = run(content, answers, script)
    assert len(person.asked("pain_location")) == 2 and len(person.asked(("confirm", "pain_location"))) == 3
    assert result.answers["pain_location"] == "outer_hip"
    # Never understood: "I don't know" after those three, and the interview moves on.
    script[("confirm", "pain_location")] = [GARBLED] * 3
    result, person, _ = run(content, answers, script)
    assert len(person.asked(("confirm", "pain_location"))) == 3
    assert result.answers["pain_location"] == "unknown" and result.answers["pain_spread"] == "none"


def test_a_repeated_lean_the_question_cannot_take_is_not_read_back(content):
    script = {"rf_saddle": [leaning("outer_hip"), leaning("outer_hip"), leaning("help")]}
    result, person, _ = run(content, ROUTINE, script)
    assert person.asked(("confirm", "rf_saddle")) == []
    assert result.answers["rf_saddle"] == "unknown"


def test_a_failed_try_in_a_noisy_room_says_so_once_a_session(content):
    noisy = Transcript("mumble", None, 0.1, noisy=True)
    script = {"rf_saddle": [noisy, "no"], "pain_location": [noisy, noisy, "outer_hip"]}
    result, person, voice = run(content, {**ROUTINE, "pain_location": "outer_hip"}, script)
    hint = interview.message(content, "noisy_room")
    assert voice.said.count(hint) == 1
    at = voice.said.index(hint)
    assert voice.said[at - 1] == interview.message(content, "not_understood")  # after the "sorry"
    assert result.answers["rf_saddle"] == "no" and result.answers["pain_location"] == "outer_hip"
    # A quiet failure says nothing about noise; a noisy one said in the typed front end neither.
    _, _, quiet = run(content, ROUTINE, {"rf_saddle": [GARBLED]})
    assert hint not in quiet.said
    _, _, typed = run(content, ROUTINE, {"rf_saddle": [noisy]}, policy=interview.Policy(typed=True))
    assert hint not in typed.said
    # With a keyboard beside the microphone, the hint also says that typing works.
    _, _, keys = run(content, ROUTINE, {"rf_saddle": [noisy]}, policy=replace(VOICE_POLICY, keyboard=True))
    keyboard_hint = interview.message(content, "noisy_room_keyboard")
    assert hint not in keys.said and keys.said.count(keyboard_hint) == 1 and "type" in keyboard_hint


def test_red_flag_nos_are_confirmed_together(content):
    result, person, _ = run(content, ROUTINE)
    nos = person.asked("confirm_nos")
    # One read-back for the whole red-flag section, after its last question.
    assert [set(a.expect) for a in nos] == [{(f, "no") for f in EMERGENCY_FLAGS + URGENT_FLAGS}]
    for flag in EMERGENCY_FLAGS + URGENT_FLAGS:
        assert content.red_flags[flag].meaning.lower() in nos[0].prompt.lower()
    assert person.listens.index(nos[0]) > max(person.listens.index(a) for a in person.asked("rf_urgent_any"))
    # Each emergency flag was asked on its own, once; the urgent ones under the grouped question.
    for flag in EMERGENCY_FLAGS:
        assert len(person.asked(flag)) == 1
    for flag in URGENT_FLAGS:
        assert person.asked(flag) == []


def test_rejected_nos_are_asked_again_one_by_one(content):
    result, person, _ = run(content, ROUTINE, {"confirm_nos": ["no"]})
    for flag in EMERGENCY_FLAGS:
        assert len(person.asked(flag)) == 2
        assert len(person.asked(("confirm", flag))) == 1   # each "no" now read back on its own
        assert result.answers[flag] == "no"


def test_a_read_back_of_nos_never_understood_is_confirmed_by_a_second_clear_no_to_each(content):
    result, person, voice = run(content, ROUTINE, {"confirm_nos": [GARBLED, None, GARBLED]})
    assert len(person.asked("confirm_nos")) == 3
    assert interview.message(content, "confirm_nos_unclear") in voice.said
    assert interview.message(content, "confirm_nos_rejected") not in voice.said
    for flag in EMERGENCY_FLAGS + URGENT_FLAGS:
        # asked again on its own (the urgent ones too, not through the grouped question), and the
        # second "no" settles it without a read-back of its own
        assert len(person.asked(flag)) == (2 if flag in EMERGENCY_FLAGS else 1), flag
        assert person.asked(("confirm", flag)) == [], flag
        assert result.answers[flag] == "no"
    assert len(person.asked("confirm_nos")) == 3      # and the section is not read back again


def test_after_an_unclear_read_back_a_flag_now_said_yes_is_read_back_and_kept(content):
    answers = {**ROUTINE, "rf_saddle": "yes"}
    # The first "yes" was heard as a clear "no"; the read-back of the nos is never understood.
    script = {"rf_saddle": ["no"], "confirm_nos": [GARBLED, GARBLED, GARBLED]}
    result, person, _ = run(content, answers, script)
    assert len(person.asked("rf_saddle")) == 2
    assert person.asked(("confirm", "rf_saddle"))[0].expect == (("rf_saddle", "yes"),)
    assert result.answers["rf_saddle"] == "yes"


def test_an_unsure_no_after_an_unclear_read_back_is_still_read_back(content):
    script = {"confirm_nos": [GARBLED] * 3, "rf_saddle": ["no", heard("no", confidence=0.55)]}
    result, person, _ = run(content, ROUTINE, script)
    assert len(person.asked(("confirm", "rf_saddle"))) == 1
    assert result.answers["rf_saddle"] == "no"


def test_rejected_group_no_asks_each_member(content):
    # The read-back of every red-flag "no" is rejected: the emergency flags are asked again, and
    # the grouped "no" no longer speaks for its members, so each is asked on its own; every "no"
    # is then read back alone.
    result, person, _ = run(content, ROUTINE, {"confirm_nos": ["no"]})
    assert len(person.asked("confirm_nos")) == 1
    for flag in EMERGENCY_FLAGS:
        assert len(person.asked(flag)) == 2
    for flag in URGENT_FLAGS:
        assert len(person.asked(flag)) == 1
    for flag in EMERGENCY_FLAGS + URGENT_FLAGS:
        assert len(person.asked(("confirm", flag))) == 1
        assert result.answers[flag] == "no"
    assert result.assessment.urgency is Urgency.ROUTINE


def test_the_grouped_question_follows_up_each_member_on_yes(content):
    answers = {**ROUTINE, "rf_cancer": "yes"}
    result, person, voice = run(content, answers)
    assert person.asked(GROUP)[0].prompt == content.questions[GROUP].prompt
    for flag in URGENT_FLAGS:
        assert len(person.asked(flag)) == 1
    assert result.answers["rf_cancer"] == "yes"
    assert result.assessment.urgency is Urgency.URGENT
    assert interview.message(content, "group_follow_up") in voice.said


def test_the_grouped_question_follows_up_on_unknown(content):
    result, person, _ = run(content, ROUTINE, {GROUP: ["unknown"]})
    for flag in URGENT_FLAGS:
        assert len(person.asked(flag)) == 1
        assert result.answers[flag] == "no"


def test_typed_policy_confirms_red_flag_yes_only(content):
    answers = {**ROUTINE, "rf_fever": "yes"}
    result, person, _ = run(content, answers, policy=TYPED_POLICY)
    assert person.asked("confirm_nos") == []
    assert len(person.asked(("confirm", "rf_fever"))) == 1
    assert result.answers["rf_fever"] == "yes"


# --- low confidence -----------------------------------------------------------------------------

def test_a_low_confidence_answer_is_read_back(content):
    result, person, _ = run(content, ROUTINE, {"pain_location": [heard("outer_hip", 0.2)]})
    confirm = person.asked(("confirm", "pain_location"))
    assert len(confirm) == 1
    assert content.questions["pain_location"].readback["outer_hip"] in confirm[0].prompt
    assert result.answers["pain_location"] == "outer_hip"


def test_a_rejected_low_confidence_answer_asks_the_question_again(content):
    result, person, voice = run(content, ROUTINE, {"pain_location": [heard("groin", 0.2)]})
    # The person (who means outer_hip) says "no" to "groin", and is asked again.
    assert len(person.asked("pain_location")) == 2
    assert result.answers["pain_location"] == "outer_hip"
    assert interview.message(content, "confirm_rejected") in voice.said


def test_confident_answers_are_not_read_back(content):
    result, person, _ = run(content, ROUTINE)
    assert person.asked(("confirm", "pain_location")) == []


# --- commands -------------------------------------------------------------------------------

def test_repeat_says_the_prompt_again(content):
    result, person, voice = run(content, ROUTINE, {"pain_spread": ["repeat"]})
    prompts = [a.prompt for a in person.asked("pain_spread")]
    assert prompts == [content.questions["pain_spread"].prompt] * 2
    assert result.answers["pain_spread"] == "none"


def test_help_gives_the_help_text_then_asks_again(content):
    result, person, voice = run(content, ROUTINE, {"rf_saddle": ["help"]})
    q = content.questions["rf_saddle"]
    i = voice.said.index(q.help)
    assert voice.said[i + 1] == q.prompt
    assert result.answers["rf_saddle"] == "no"


def test_repeat_and_help_do_not_use_up_tries(content):
    script = {"pain_location": ["repeat", "help", GARBLED, GARBLED, "outer_hip"]}
    result, _, _ = run(content, ROUTINE, script)
    assert result.answers["pain_location"] == "outer_hip"


def test_back_undoes_the_last_answer(content):
    # pain_location first answered "groin"; at pain_spread the person says back and corrects it.
    script = {"pain_location": ["groin", "outer_hip"], "pain_spread": ["back"]}
    result, person, voice = run(content, ROUTINE, script)
    assert [a.question_id for a in person.listens if a.kind == ListenKind.ANSWER][5:9] == \
        ["pain_location", "pain_spread", "pain_location", "pain_spread"]
    assert result.answers["pain_location"] == "outer_hip"
    assert interview.message(content, "going_back") in voice.said


def test_back_at_a_confirmation_asks_that_question_again(content):
    # Said "yes" by mistake, then "go back" at the read-back, then the true "no".
    script = {"rf_saddle": ["yes", "no"], ("confirm", "rf_saddle"): ["back"]}
    result, person, _ = run(content, ROUTINE, script)
    assert len(person.asked("rf_saddle")) == 2
    assert result.answers["rf_saddle"] == "no"
    assert result.assessment.urgency is Urgency.ROUTINE


def test_back_at_the_section_read_back_reasks_the_last_flag(content):
    script = {"confirm_nos": ["back"]}
    result, person, _ = run(content, ROUTINE, script)
    # The last question before the read-back is the grouped urgent one.
    assert len(person.asked(GROUP)) == 2
    assert len(person.asked(EMERGENCY_FLAGS[-1])) == 1
    assert len(person.asked("confirm_nos")) == 2
    assert all(result.answers[f] == "no" for f in RED_FLAGS)


def test_back_at_the_first_question(content):
    result, person, voice = run(content, ROUTINE, {"rf_saddle": ["back"]})
    assert interview.message(content, "nothing_to_go_back") in voice.said
    assert len(person.asked("rf_saddle")) == 2


def test_back_across_the_adaptive_questions_asks_the_same_question(content):
    result, person, _ = run(content, ROUTINE)
    symptom_asks = [a.question_id for a in person.listens
                    if a.kind == ListenKind.ANSWER and a.question_id not in RED_FLAGS
                    and a.question_id not in (GROUP, "pain_location", "pain_spread")]
    second = symptom_asks[1]
    result2, person2, _ = run(content, ROUTINE, {second: ["back"]})
    asks2 = [a.question_id for a in person2.listens if a.kind == ListenKind.ANSWER]
    i = asks2.index(second)
    assert asks2[i + 1] == symptom_asks[0] and asks2[i + 2] == second
    assert (result2.assessment.urgency, result2.assessment.causes[0].id) == \
        (result.assessment.urgency, result.assessment.causes[0].id)


def test_commands_at_a_read_back(content):
    answers = {**ROUTINE, "rf_saddle": "yes"}
    script = {("confirm", "rf_saddle"): ["help", "repeat", "yes"], "confirm_nos": ["repeat", "yes"]}
    result, person, voice = run(content, answers, script)
    confirms = person.asked(("confirm", "rf_saddle"))
    assert len(confirms) == 3 and len({a.prompt for a in confirms}) == 1
    assert interview.message(content, "confirm_unclear") in voice.said
    nos = person.asked("confirm_nos")
    assert len(nos) == 2 and nos[0].prompt == nos[1].prompt
    assert ("rf_saddle", "no") not in nos[0].expect and len(nos[0].expect) == len(RED_FLAGS) - 1
    assert result.answers["rf_saddle"] == "yes"


def test_back_after_the_result_asks_the_last_question_again(content):
    result, person, voice = run(content, ROUTINE, {"offer_repeat": ["back", "no"]})
    asks = [a for a in person.listens if a.kind == ListenKind.ANSWER]
    last = asks[-1].question_id
    assert [a.question_id for a in asks].count(last) == 2
    assert voice.said.count(result.assessment.explanation) == 2  # said again after the new answer
    assert not result.stopped


def test_a_red_flag_read_back_rejected_three_times_stays_unknown(content):
    answers = {**ROUTINE, "rf_night_pain": "yes"}
    script = {"rf_night_pain": ["yes", "yes", "yes"], ("confirm", "rf_night_pain"): ["no", "no", "no"]}
    result, person, voice = run(content, answers, script)
    assert result.answers["rf_night_pain"] == "unknown"
    assert "rf_night_pain" in result.assessment.unknown_red_flags
    assert any(content.red_flags["rf_night_pain"].if_present in s for s in voice.said)


def test_stop_halfway_keeps_the_answers(content):
    result, person, voice = run(content, ROUTINE, {"pain_spread": ["stop"]})
    assert result.stopped and not result.interrupted
    assert result.answers["pain_location"] == "outer_hip"
    assert "pain_spread" not in result.answers
    assert all(result.answers[f] == "no" for f in RED_FLAGS)
    assert result.assessment == rules.assess(content, result.answers)
    assert voice.said[-2:] == [interview.message(content, "stopped"), result.assessment.explanation]
    assert person.asked("offer_repeat") == []


def test_stop_before_the_red_flags_are_done_leaves_them_unknown(content):
    result, _, _ = run(content, ROUTINE, {"rf_both_legs": ["stop"]})
    assert result.stopped
    assert set(result.assessment.unknown_red_flags) >= {"rf_both_legs", "rf_weakness"}


def test_stop_after_a_grouped_yes_keeps_the_urgency(content):
    answers = {**ROUTINE, "rf_trauma": "yes"}
    result, _, _ = run(content, answers, {"rf_fever": ["stop"]})
    assert result.stopped
    assert result.assessment.urgency is Urgency.URGENT


def test_a_low_confidence_stop_is_checked_first(content):
    script = {"pain_spread": [heard("stop", 0.2)], "confirm_stop": ["no"]}
    result, person, _ = run(content, ROUTINE, script)
    assert not result.stopped
    assert len(person.asked("pain_spread")) == 2
    result, _, _ = run(content, ROUTINE, {"pain_spread": [heard("stop", 0.2)], "confirm_stop": ["yes"]})
    assert result.stopped


def test_slower_and_faster_change_the_rate_for_the_session(content):
    result, person, voice = run(content, ROUTINE, {"rf_saddle": ["slower", "slower"], "pain_location": ["faster"]})
    start = 170
    assert voice.rates == [start - 30, start - 60, start - 30]
    assert voice.rate == start - 30
    assert interview.message(content, "slower") in voice.said
    assert interview.message(content, "faster") in voice.said
    assert result.answers["rf_saddle"] == "no"


def test_set_rate_is_an_action(content):
    state = interview.start(content, VOICE_POLICY)
    state, _ = step(state, Started())
    state, actions = step(state, Heard(heard("faster")))
    assert SetRate(delta=interview.RATE_STEP) in actions
    assert isinstance(actions[-1], Listen) and actions[-1].question_id == "rf_saddle"


def test_typed_mode_says_the_rate_is_not_needed(content):
    result, person, voice = run(content, ROUTINE, {"rf_saddle": ["slower"]}, policy=TYPED_POLICY)
    assert voice.rates == []
    assert interview.message(content, "rate_typed") in voice.said


def test_ctrl_c_keeps_the_answers(content):
    result, person, _ = run(content, ROUTINE, {"pain_spread": [ctrl_c]})
    assert result.interrupted
    assert result.answers["pain_location"] == "outer_hip"
    assert result.assessment == rules.assess(content, result.answers)


# --- the end --------------------------------------------------------------------------------

def test_offer_to_repeat_the_result(content):
    result, person, voice = run(content, ROUTINE, {"offer_repeat": ["yes"]})
    assert voice.said.count(result.assessment.explanation) == 2
    result, person, voice = run(content, ROUTINE, {"offer_repeat": ["no"]})
    assert voice.said.count(result.assessment.explanation) == 1
    result, person, voice = run(content, ROUTINE, {"offer_repeat": [None]})
    assert voice.said.count(result.assessment.explanation) == 1 and not result.stopped
    assert voice.said[-1] == interview.message(content, "goodbye")


def test_silence_throughout_ends_with_every_red_flag_unknown(content):
    def silent(action, grammar):
        return None

    voice = RecordingVoice()
    result = drive(content, silent, voice, VOICE_POLICY)
    assert set(result.assessment.unknown_red_flags) == set(RED_FLAGS)
    assert result.turns < 150
    for flag in RED_FLAGS:
        assert any(content.red_flags[flag].meaning in s for s in voice.said)


def test_run_interview_with_an_ear(content):
    class Ear:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str | None, str]] = []

        def listen(self, grammar, question_id, prompt):
            self.calls.append((grammar.name, question_id, prompt))
            return heard("no") if grammar.name == "yes_no" else heard(
                {"pain_location": "groin", "pain_spread": "thigh"}[question_id])

    ear = Ear()
    result = run_interview(content, ear, RecordingVoice(), VOICE_POLICY)
    assert ear.calls[0] == ("yes_no", "rf_saddle", content.questions["rf_saddle"].prompt)
    assert result.answers["pain_location"] == "groin"
    assert result.turns == len(ear.calls)


# --- adaptive questioning over the public vignettes ----------------------------------------------

def _vignettes() -> list[dict[str, Any]]:
    data = load_yaml(CASES)
    default = data.get("red_flags_default", "no")
    out = []
    for case in data["cases"]:
        answers = {f: default for f in RED_FLAGS}
        answers.update(case["answers"])
        out.append({"id": case["id"], "answers": answers})
    return out


# The brief's target: a mean of at most 12 questions (red flags included) over the public
# vignettes, with no outcome changed. An oracle that knows every answer in advance needs 12.0
# with these rules (red flags take 7-10, always asked), so this is also the floor.
MEAN_LIMIT = 12.0


def test_adaptive_questions_never_change_the_outcome(content):
    counts = []
    for case in _vignettes():
        result, person, _ = run(content, case["answers"])
        full = rules.outcome(content, case["answers"])
        assert (result.assessment.urgency, result.assessment.causes[0].id) == full, case["id"]
        for flag in RED_FLAGS:
            assert result.answers[flag] == case["answers"][flag], (case["id"], flag)
        counts.append(len(result.questions_asked))
    mean = sum(counts) / len(counts)
    assert mean <= MEAN_LIMIT, (mean, counts)


def test_adaptive_stops_only_when_decided(content):
    for case in _vignettes():
        result, person, _ = run(content, case["answers"])
        loc, yn = interview.symptom_questions(content)
        remaining = [q for q in yn if q not in result.answers]
        assert rules.decided(content, result.answers, remaining), case["id"]


def test_adaptive_with_a_person_unsure_of_everything(content):
    answers = dict(ALL_NO)
    result, _, _ = run(content, answers)
    assert (result.assessment.urgency, result.assessment.causes[0].id) == rules.outcome(content, answers)
