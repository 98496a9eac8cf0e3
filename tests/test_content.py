"""The content pack loads, covers the contract, and every kind of broken pack is refused with one
line naming the file, the place and the problem."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from voice_triage.content import MESSAGE_PLACEHOLDERS, Content, load_content
from voice_triage.errors import ContentError
from voice_triage.model import (CAUSES, EMERGENCY_FLAGS, PAIN_LOCATIONS, PAIN_SPREADS, RED_FLAGS,
                                SYMPTOM_QUESTIONS, Group, QuestionKind, Urgency)
from voice_triage.paths import data_dir


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content("en")


def test_loads_and_is_cached(content: Content) -> None:
    assert load_content("en") is content


def test_every_contract_question_and_red_flag_is_asked(content: Content) -> None:
    for qid in SYMPTOM_QUESTIONS:
        assert qid in content.questions
    asked = {q.red_flag.id for q in content.questions.values() if q.red_flag}
    assert asked == set(RED_FLAGS)
    assert set(content.causes) == set(CAUSES)
    assert {c.group for c in content.causes.values()} == set(Group)


def test_order_red_flags_then_location_then_symptoms(content: Content) -> None:
    ids = list(content.questions)
    flags = [i for i, q in enumerate(content.questions.values()) if q.is_red_flag]
    assert flags == list(range(len(flags)))
    assert ids[len(flags):len(flags) + 2] == ["pain_location", "pain_spread"]


def test_emergency_flags_each_asked_on_their_own(content: Content) -> None:
    for flag in EMERGENCY_FLAGS:
        q = content.red_flag_question(flag)
        assert q.part_of is None and q.red_flag.urgency is Urgency.EMERGENCY
        assert q.kind is QuestionKind.YES_NO and q.grammar == "yes_no"


def test_grouped_question_covers_urgent_flags(content: Content) -> None:
    groups = [q for q in content.questions.values() if q.members]
    assert groups
    for g in groups:
        for m in g.members:
            assert content.questions[m].part_of == g.id
            assert content.questions[m].red_flag.urgency is Urgency.URGENT


def test_location_options_and_labels(content: Content) -> None:
    loc, spread = content.questions["pain_location"], content.questions["pain_spread"]
    assert loc.options == PAIN_LOCATIONS + ("unknown",)
    assert spread.options == PAIN_SPREADS + ("unknown",)
    for q in (loc, spread):
        assert set(q.option_labels) == set(q.options)
        assert q.kind is QuestionKind.LOCATION


def test_every_question_is_complete(content: Content) -> None:
    for q in content.questions.values():
        assert q.grammar in content.grammars
        assert "?" in q.prompt and q.short_prompt.endswith("?"), q.id
        assert len(q.short_prompt) <= len(q.prompt)
        assert q.help
        assert set(q.readback) == set(q.options), q.id
        assert set(q.option_labels) == set(q.options), q.id


def test_messages_complete_and_say_not_a_diagnosis(content: Content) -> None:
    assert set(content.messages) == set(MESSAGE_PLACEHOLDERS)
    for key in ("welcome", "disclaimer", "explain_closing"):
        text = content.messages[key].lower()
        assert "not a diagnosis" in text and "does not replace" in text


def test_no_clinic_marketing_in_the_pack() -> None:
    # The seed guide's phone number, address and booking links must never reach the product.
    folder = data_dir("content") / "en"
    for path in folder.glob("*.yaml"):
        text = path.read_text(encoding="utf-8").lower()
        for banned in ("714", "502-4243", "costa mesa", "http", "www.", "p2sportscare", "discovery session",
                       "book a discovery", "consultation"):
            assert banned not in text, f"{path.name} contains {banned!r}"


def test_red_flags_have_advice(content: Content) -> None:
    for flag in content.red_flags.values():
        assert flag.meaning and flag.short and flag.if_present
        if flag.urgency is Urgency.EMERGENCY:
            assert "emergency" in flag.if_present.lower()


# --- broken packs ---------------------------------------------------------------------------------

def _copy(tmp_path: Path) -> Path:
    shutil.copytree(data_dir("content") / "en", tmp_path / "en", ignore=shutil.ignore_patterns("demo"))
    return tmp_path


def _edit(root: Path, name: str, old: str, new: str, count: int = 1) -> Path:
    path = root / "en" / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


BROKEN = [
    # (id, file, old, new, place pattern, problem pattern)
    ("missing key", "questions.yaml", "    short_prompt: Is it in both legs?\n", "",
     r"questions\[rf_both_legs\]", r"missing key 'short_prompt'"),
    ("unknown key", "causes.yaml", "  gtps:\n    name:", "  gtps:\n    colour: red\n    name:",
     r"causes\.gtps\.colour", r"unknown key 'colour'"),
    ("wrong type", "rules.yaml", "likely_at: 0.5", "likely_at: high",
     r"scoring\.likely_at", r"must be a number, not text"),
    ("rule names a nonexistent question", "rules.yaml", "  bending_back:\n", "  bending_forward:\n",
     r"evidence\.bending_forward", r"no question 'bending_forward'"),
    ("grammar that does not exist", "questions.yaml", "    grammar: pain_spread\n", "    grammar: pain_reach\n",
     r"questions\[pain_spread\]\.grammar", r"no grammar named 'pain_reach'"),
    ("unknown cause id", "rules.yaml", "{cause: gtps, weight: 1.6", "{cause: bursitis, weight: 1.6",
     r"evidence\.single_leg_stance\.yes\.weights\[0\]\.cause", r"unknown cause id 'bursitis'"),
    ("unknown red flag id", "questions.yaml", "    red_flag: rf_trauma\n", "    red_flag: rf_injury\n",
     r"questions\[rf_trauma\]\.red_flag", r"unknown red flag id 'rf_injury'"),
    ("closed value", "red_flags.yaml", "    urgency: urgent\n", "    urgency: soon\n",
     r"red_flags\.rf_fever\.urgency", r"unknown urgency 'soon'"),
    ("group not an enum value", "causes.yaml", "    group: nerve\n", "    group: nerves\n",
     r"causes\.piriformis\.group", r"unknown group 'nerves'"),
    ("nerve weight over the Iversen cap", "rules.yaml",
     "{cause: sciatica, weight: 1.1,", "{cause: sciatica, weight: 2.5,",
     r"evidence\.pain_spread\.foot\.weights\[0\]\.weight", r"no single answer decides a nerve cause"),
    ("message placeholder typo", "messages.yaml", 'confirm: "You said {readback}.', 'confirm: "You said {readbak}.',
     r"messages\.confirm", r"unknown placeholder '\{readbak\}'"),
    ("missing message", "messages.yaml", "  goodbye: Thank you for your answers. Take care.\n", "",
     r"messages", r"missing message 'goodbye'"),
    ("missing question", "questions.yaml", "  - id: cough_sneeze\n", "  - id: cough_or_sneeze\n",
     r"questions\[cough_or_sneeze\]\.id", r"unknown question id 'cough_or_sneeze'"),
    ("readback for an answer the question cannot take", "questions.yaml",
     "      thigh: the pain goes into the thigh, but not below the knee\n",
     "      thigh: the pain goes into the thigh, but not below the knee\n      hip: the hip\n",
     r"questions\[pain_spread\]\.readback\.hip", r"not an answer this question takes"),
    ("weight for unknown", "rules.yaml", '    "no":\n      reason: coughing', '    unknown:\n      reason: coughing',
     r"evidence\.cough_sneeze\.unknown", r"not an answer that can move a score"),
    ("group member that is not a question", "questions.yaml", "rf_trauma, rf_night_pain]", "rf_trauma, rf_night]",
     r"questions\[rf_urgent_any\]\.members", r"'rf_night' is not a red-flag question here"),
    ("emergency flag folded into a group", "questions.yaml", "members: [rf_fever,", "members: [rf_saddle, rf_fever,",
     r"questions\[rf_urgent_any\]\.members", r"'rf_saddle' is an emergency flag: ask it on its own"),
    ("not a mapping", "causes.yaml", "causes:\n", "causes:\n  - oops\n  -\n",
     r"causes", r"invalid YAML|must be a mapping"),
]


@pytest.mark.parametrize("case", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_content_is_refused_with_one_clear_line(tmp_path: Path, case: tuple) -> None:
    _, name, old, new, place, problem = case
    root = _copy(tmp_path)
    path = _edit(root, name, old, new)
    with pytest.raises(ContentError) as info:
        load_content("en", root=root)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert re.search(place, message), message
    assert re.search(problem, message), message


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "en" / "messages.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[9] = "  welcome: [unclosed"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_content("en", root=root)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and re.search(r"invalid YAML at line \d+", message), message


def test_red_flags_must_come_first(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "en" / "questions.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: pain_location\n")
    end = text.index("  - id: pain_spread\n")
    block = text[start:end]
    text = text.replace(block, "")
    text = text.replace("  - id: rf_cancer\n", block + "  - id: rf_cancer\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_content("en", root=root)
    message = str(info.value)
    assert message.startswith(str(path)) and "questions[rf_cancer]" in message
    assert "red-flag questions must come before 'pain_location'" in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "en" / "rules.yaml").unlink()
    with pytest.raises(ContentError, match=r"rules\.yaml: file not found"):
        load_content("en", root=root)


def test_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="no content for language 'xx'"):
        load_content("xx", root=tmp_path)


def test_a_good_copy_loads(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert list(load_content("en", root=root).questions) == list(load_content("en").questions)
