"""scripts/redecide.py rebuilds the Evidence of a measure_recognition.py --evidence line and decides
it again: the bars of the rejection rule are fitted that way, so it must decide exactly as the
recogniser did."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from voice_triage.grammar import load_grammars
from voice_triage.recognition.decision import Evidence, SecondOpinion, decide
from voice_triage.recognition.sphinx import RULE_OTHER, RULE_YES_NO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import measure_recognition  # noqa: E402
import redecide  # noqa: E402

GRAMMARS = load_grammars("en")


def _second(text: str, grammar: str, **kw) -> SecondOpinion:
    g = GRAMMARS[grammar]
    value = g.match(text)
    base = dict(text=text, margin=5.0, logp=-2.0, gap=-0.5, free_agrees=False, engine_agrees=False,
                command=value in g.commands, unsure=value == "unknown")
    return SecondOpinion(**{**base, **kw})


CASES = [
    # (grammar, pocketsphinx's evidence, Moonshine's reading)
    ("pain_spread", Evidence("my thigh", verify=-1.5, margin=1.0, frames=60),
     _second("my foot", "pain_spread", margin=2.5)),
    ("pain_spread", Evidence("my thigh", verify=-1.5, margin=1.0, frames=60),
     _second("i don't know", "pain_spread", margin=4.0)),
    ("pain_location", Evidence("i don't know", verify=-3.0, margin=0.5, frames=80),
     _second("i don't know", "pain_location", margin=4.0, engine_agrees=True)),
    ("pain_location", Evidence("the groin", verify=-3.0, margin=0.5, frames=80),
     _second("lower back", "pain_location", margin=4.7)),
    ("pain_location", Evidence("", verify=-math.inf, margin=math.inf), None),
    ("yes_no", Evidence("no", verify=-1.2, margin=0.5, frames=50), _second("stop", "yes_no", margin=4.0)),
    ("yes_no", Evidence("help", verify=-3.0, margin=0.2, frames=50),
     _second("no", "yes_no", margin=2.5, engine_agrees=False, free_agrees=True)),
    ("yes_no", Evidence("yes", verify=-0.2, margin=math.inf, frames=50), None),
]


@pytest.mark.parametrize("grammar,ev,second", CASES)
def test_a_dumped_answer_is_decided_again_exactly(grammar: str, ev: Evidence, second: SecondOpinion | None) -> None:
    g = GRAMMARS[grammar]
    rule = RULE_YES_NO if grammar == "yes_no" else RULE_OTHER
    ev = replace(ev, extra={"frames_per_phone": 8.0, "headroom_db": 30.0, "warp": 1.0}, second=second)
    t = decide(g, ev, rule)
    clip = dict(path="x.wav", voice="v", grammar=grammar, value=None, heldout=False, group="tuned", seed=0)
    row = json.loads(json.dumps(measure_recognition.evidence_row(clip, "clean", g, ev, t)))
    again = redecide.redecide([row], RULE_YES_NO, RULE_OTHER)[0]
    assert (again["answer"], again["guess"], again["confidence"]) == (t.answer, t.guess, t.confidence)


def test_a_changed_bar_changes_the_decision_and_dumps_without_unsure_still_read() -> None:
    grammar, ev, second = CASES[0]         # pocketsphinx sure of "my thigh"; Moonshine's "my foot" by 2.5
    g = GRAMMARS[grammar]
    ev = replace(ev, second=second)
    clip = dict(path="x.wav", voice="v", grammar=grammar, value="foot", heldout=False, group="tuned", seed=0)
    row = measure_recognition.evidence_row(clip, "clean", g, ev, decide(g, ev, RULE_OTHER))
    assert redecide.redecide([row], RULE_YES_NO, RULE_OTHER)[0]["answer"] is None
    yes_no, other = redecide.with_settings(["other.second_veto_definite_margin_min=inf"])
    assert yes_no == RULE_YES_NO and redecide.redecide([row], yes_no, other)[0]["answer"] == "thigh"
    # an older dump (no "unsure"): it is worked out from the phrase
    old = dict(row, second={k: v for k, v in row["second"].items() if k != "unsure"})
    idk = replace(ev, text="i don't know", second=replace(second, text="i don't know", unsure=True, engine_agrees=True,
                                                         margin=4.0))
    old_idk = dict(row, text="i don't know",
                   second={k: v for k, v in measure_recognition.evidence_row(
                       clip, "clean", g, idk, decide(g, idk, RULE_OTHER))["second"].items() if k != "unsure"})
    assert redecide.evidence_of(old).second == second
    assert redecide.evidence_of(old_idk).second.unsure
    with pytest.raises(SystemExit):
        redecide.with_settings(["other.no_such_bar=1"])


def test_unsure_place_asks_every_i_dont_know_clip_again_at_both_location_questions() -> None:
    """The benchmark's unsure_place group: "I don't know" where a place is expected (the yes/no
    clips alone never test it there), over the same noise mixes, without moving the other groups'
    noise seeds."""
    plain = measure_recognition.tasks({"tuned", "heldout", "oog"})
    both = measure_recognition.tasks({"tuned", "heldout", "oog", "unsure_place"})
    unsure = [t for t in both if t["group"] == "unsure_place"]
    assert [t for t in both if t["group"] != "unsure_place"] == plain
    idk = {t["path"]: t["seed"] for t in plain if t["value"] == "unknown"}
    assert idk and sorted((t["path"], t["grammar"]) for t in unsure) == sorted(
        (p, g) for p in idk for g in ("pain_location", "pain_spread"))
    assert all(t["value"] == "unknown" and t["seed"] == idk[t["path"]] for t in unsure)
    assert len({t["seed"] for t in plain}) == len({t["path"] for t in plain})   # one mix per clip


def test_totals_count_unsure_place_apart_from_the_answer_clips() -> None:
    def row(group: str, value: str | None, answer: str | None) -> dict:
        return dict(group=group, value=value, answer=answer)

    rows = [row("tuned", "yes", "yes"), row("heldout", "no", "yes"), row("unsure_place", "unknown", "foot"),
            row("unsure_place", "unknown", None), row("oog", None, "thigh"), row("oog", None, None)]
    assert redecide.totals(rows) == ('acted on wrongly: 1 of 2 (50.00%) answers; "I don\'t know" at the location '
                                     'questions 1 of 2 (50.00%); out-of-grammar acted on: 1')
