#!/usr/bin/env python3
"""Build the recorded whole-session fixtures and the demo session from the fixture clips.

    python scripts/make_sessions.py            # all sessions + content/en/demo
    python scripts/make_sessions.py --check    # also replay each through the bundled recogniser

A session folder is what `voice-triage replay DIR` reads: 01.wav, 02.wav, ... in spoken order, a
missing number being silence. Each is made by running the real interview (`session.drive`, the
same loop every front end uses) against a scripted person at the TEXT level: every turn is heard
exactly (confidence 1.0), so the flow is a pure function of the script and a rerun gives identical
folders. The person answers from a set of intended answers, like simulate's speaker, except where
the script says otherwise (silence, a slip of the tongue, "go back", "say that again", "stop").
Each turn's file is a byte copy of that value's clip from one fixture voice
(tests/fixtures/audio/<voice>/<value>[.N].wav, variants in turn), so git stores nothing new.

Beside the turns, expected.yaml says what the person meant, what each turn says, and what replay
must conclude; tests/test_replay.py checks it through the real recogniser.

Rerun this whenever the interview flow or the content changes (question order, confirmations).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_triage import rules  # noqa: E402
from voice_triage.content import Content, load_content  # noqa: E402
from voice_triage.interview import Listen, ListenKind, symptom_questions  # noqa: E402
from voice_triage.model import RED_FLAGS, Answer  # noqa: E402
from voice_triage.recognition.base import Transcript  # noqa: E402
from voice_triage.session import VOICE_POLICY, RecordingVoice, drive, index_phrases, speaker_answer  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
SESSIONS = ROOT / "tests" / "fixtures" / "sessions"
DEMO = ROOT / "content" / "en" / "demo"
SILENCE = "silence"
# A trigger "symptom:N" means the N-th yes/no symptom question asked (which one is chosen
# adaptively, so a session that must act mid-way should not name it).
SYMPTOM_TRIGGER = "symptom:"

CASES = ROOT / "tests" / "cases" / "public.yaml"   # the public vignettes (red flags not listed: "no")


def vignette(case_id: str) -> dict[str, str]:
    """A public vignette's answers, as given (red flags left out)."""
    data = yaml.safe_load(CASES.read_text())
    return dict(next(c for c in data["cases"] if c["id"] == case_id)["answers"])


P01, P02, P03, P04, P05, P06, P07 = (vignette(f"p0{i}") for i in range(1, 8))


@dataclass(frozen=True)
class Script:
    """One recorded session: who speaks, what they mean, and where they stray from it."""

    name: str
    voice: str                      # a tuned fixture voice (tests/fixtures/audio/<voice>)
    about: str
    answers: dict[str, str]         # what the person means (red flags not named: "no")
    top: tuple[str, ...] = ()       # acceptable first causes (empty: whatever the rules give)
    # trigger -> what is said at that listen and the ones after it, before the person goes back
    # to answering from `answers`. A trigger is a question id (its first ANSWER prompt) or
    # "symptom:N". Items: an answer value, a command id, or "silence" (no file for that turn).
    events: dict[str, tuple[str, ...]] = field(default_factory=dict)
    answer_offer: bool = False      # answer "would you like me to repeat that?" (else silence)
    checks: tuple[str, ...] = ()    # extra checks for tests/test_replay.py (see there)
    folder: Path | None = None      # default: tests/fixtures/sessions/<name>


SCRIPTS: tuple[Script, ...] = (
    Script("plain_glute", "flite_slt", "Runner with outer hip pain (vignette p01), every answer clear.",
           P01, top=("gtps", "gluteus_medius")),
    Script("nerve", "flite_rms", "Burning pain from the back to the foot, cough hurts (vignette p03).",
           P03, top=("sciatica",)),
    Script("red_flag_confirmed", "espeak",
           "Saddle numbness: 'yes', confirmed 'yes' at the read-back, so an emergency; otherwise like p03.",
           {**P03, "rf_saddle": "yes"}, top=("sciatica",), checks=("red_flag_confirmed:rf_saddle",)),
    Script("red_flag_corrected", "flite_kal16",
           "Says 'yes' to saddle numbness by mistake, 'no' at the read-back, then 'no' when asked again: "
           "the flag is settled 'no' (otherwise like p02).",
           P02, top=("gluteus_medius", "gtps"), events={"rf_saddle": (Answer.YES.value,)},
           checks=("red_flag_corrected:rf_saddle",)),
    Script("silence_then_answer", "flite_awb",
           "Says nothing when first asked where the pain is (a missing turn), then answers (vignette p05).",
           P05, top=("si_joint",), events={"pain_location": (SILENCE,)}, checks=("silence:pain_location",)),
    Script("go_back", "hibari",
           "Says 'middle of the buttock', then 'go back' at the next question, then 'groin': the settled "
           "answer is the second (vignette p07).",
           P07, top=("hip_joint",), events={"pain_location": ("mid_buttock", "back")},
           checks=("back:pain_location",)),
    Script("repeat", "piper_joe",
           "Asks 'say that again' when asked how far the pain spreads, then answers (vignette p06).",
           P06, top=("lumbar_referred",), events={"pain_spread": ("repeat",)}, checks=("repeat:pain_spread",)),
    Script("stop_halfway", "espeak",
           "Says 'stop' at the second symptom question: the assessment so far, the answers given kept "
           "(vignette p04).",
           P04, events={f"{SYMPTOM_TRIGGER}2": ("stop",)}, checks=("stopped",)),

    # The same four paths in a second voice each: the first voice's versions above show where the
    # bundled recogniser still rejects a plain clip (see tests/test_replay.py, KNOWN_MISHEARD).
    Script("red_flag_confirmed_2", "piper_joe",
           "As red_flag_confirmed, in another voice.",
           {**P03, "rf_saddle": "yes"}, top=("sciatica",), checks=("red_flag_confirmed:rf_saddle",)),
    Script("silence_then_answer_2", "flite_kal16",
           "As silence_then_answer, in another voice.",
           P05, top=("si_joint",), events={"pain_location": (SILENCE,)}, checks=("silence:pain_location",)),
    Script("go_back_2", "flite_kal16",
           "As go_back, in another voice.",
           P07, top=("hip_joint",), events={"pain_location": ("mid_buttock", "back")},
           checks=("back:pain_location",)),
    Script("stop_halfway_2", "flite_rms",
           "As stop_halfway, in another voice.",
           P04, events={f"{SYMPTOM_TRIGGER}2": ("stop",)}, checks=("stopped",)),
)
DEMO_SCRIPT = Script("demo", "piper_joe",
                     "The demo: a runner with pain on the outer hip, sore lying on that side (like vignette p01).",
                     P01, top=("gtps", "gluteus_medius"), answer_offer=True, folder=DEMO)


def full_answers(answers: dict[str, str]) -> dict[str, str]:
    """The vignette convention: red flags not named are "no"."""
    return {**{f: Answer.NO.value for f in RED_FLAGS}, **answers}


@dataclass
class Turn:
    n: int
    kind: str
    question: str | None
    says: str                       # answer value, command id or "silence"
    clip: str | None = None         # fixture clip copied (relative to tests/fixtures/audio)
    text: str | None = None         # what the clip says


class ScriptedPerson:
    """Answers each prompt at the text level (heard exactly), following a Script."""

    def __init__(self, content: Content, script: Script) -> None:
        self.content = content
        self.script = script
        self.answers = full_answers(script.answers)
        self.pending: list[str] = []
        self.fired: set[str] = set()
        self.symptoms_asked: list[str] = []
        _, self.yes_no_symptoms = symptom_questions(content)
        self.turns: list[Turn] = []

    def _trigger(self, action: Listen) -> str | None:
        if action.kind != ListenKind.ANSWER:
            return None
        qid = action.question_id
        keys = [qid]
        if qid in self.yes_no_symptoms and qid not in self.symptoms_asked:
            self.symptoms_asked.append(qid)
            keys.append(f"{SYMPTOM_TRIGGER}{len(self.symptoms_asked)}")
        for key in keys:
            if key in self.script.events and key not in self.fired:
                self.fired.add(key)
                return key
        return None

    def hear(self, action: Listen, grammar: Any) -> Transcript | None:
        key = self._trigger(action)
        if key is not None:
            self.pending.extend(self.script.events[key])
        if self.pending:
            says = self.pending.pop(0)
        elif action.kind == ListenKind.OFFER_REPEAT and not self.script.answer_offer:
            says = SILENCE
        else:
            says = speaker_answer(self.content, self.answers, action)
        self.turns.append(Turn(len(self.turns) + 1, action.kind.value, action.question_id, says))
        if says == SILENCE:
            return None
        phrase = next(p for p, v in grammar.phrase_table().items() if v == says)
        return Transcript(phrase, says, 1.0, ())


def _clip_texts() -> dict[str, str]:
    manifest = yaml.safe_load((AUDIO / "manifest.yaml").read_text())
    return {c["path"]: c["text"] for c in manifest["clips"]}


def build(content: Content, script: Script, texts: dict[str, str]) -> dict[str, Any]:
    """Run the script, write the folder and its expected.yaml; return the expectations."""
    person = ScriptedPerson(content, script)
    result = drive(content, person.hear, RecordingVoice(), VOICE_POLICY)
    folder = script.folder or SESSIONS / script.name
    if folder.exists():
        for old in folder.iterdir():    # only what this script writes
            if old.suffix == ".wav" or old.name == "expected.yaml":
                old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    clips = {v: itertools.cycle(paths) for v, paths in index_phrases(AUDIO / script.voice).items()}
    width = max(2, len(str(len(person.turns))))
    for turn in person.turns:
        if turn.says == SILENCE:
            continue
        src = next(clips[turn.says])
        rel = src.relative_to(AUDIO).as_posix()
        turn.clip, turn.text = rel, texts.get(rel)
        shutil.copyfile(src, folder / f"{turn.n:0{width}d}.wav")

    assessment = result.assessment
    first = assessment.causes[0].id
    top = list(script.top) or [first]
    if first not in top:
        raise SystemExit(f"{script.name}: the rules now put {first} first, not one of {top}; "
                         "update the script's `top` (or the content) and rerun")
    expected = {
        "about": "Made by scripts/make_sessions.py; do not edit by hand (rerun it). Turn files are copies "
                 "of tests/fixtures/audio clips; a turn with no file is silence.",
        "name": script.name,
        "voice": script.voice,
        "description": script.about,
        "intended": full_answers(script.answers),
        "turns": [{k: v for k, v in vars(t).items() if v is not None} for t in person.turns],
        "expect": {
            "urgency": assessment.urgency.value,
            "first_cause": first,
            "top": top,
            "group": content.causes[first].group.value,
            "red_flags": list(assessment.red_flags),
            "answers": dict(result.answers),
            "turns": result.turns,
            "stopped": result.stopped,
            "checks": list(script.checks),
        },
    }
    text = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=110)
    (folder / "expected.yaml").write_text(text)
    return expected


def check(folder: Path) -> str:
    """Replay a folder through the bundled recogniser: a one-line verdict (and the first turn heard
    differently from the script, if any)."""
    from voice_triage.config import Config, Engine
    from voice_triage.session import replay

    doc = yaml.safe_load((folder / "expected.yaml").read_text())
    exp = doc["expect"]
    data = replay(Config(engine=Engine.SPHINX), folder)
    wrong = {q: (v, data["answers"].get(q)) for q, v in exp["answers"].items() if data["answers"].get(q) != v}
    ok = not wrong and data["urgency"] == exp["urgency"] and data["causes"][0]["id"] in exp["top"] \
        and data["turns"] == exp["turns"]
    line = (f"{folder.name}: {'OK' if ok else 'DIFFERS'} turns {data['turns']}/{exp['turns']} "
            f"urgency {data['urgency']} first {data['causes'][0]['id']}")
    for want, got in zip(doc["turns"], data["transcript"]):
        said = None if want["says"] == SILENCE else want["says"]
        if (want.get("question"), said) != (got["question"], got["answer"]):
            line += (f"; first difference at turn {want['n']}: {want.get('clip', 'silence')} "
                     f"({want['says']}) heard {got['heard']!r} -> {got['answer']} ({got['confidence']})")
            break
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="session names to build (default: all, and the demo)")
    ap.add_argument("--check", action="store_true", help="replay each folder through the bundled recogniser")
    args = ap.parse_args(argv)
    content = load_content("en")
    texts = _clip_texts()
    scripts = [*SCRIPTS, DEMO_SCRIPT]
    if args.only:
        unknown = set(args.only) - {s.name for s in scripts}
        if unknown:
            ap.error(f"unknown session {sorted(unknown)[0]!r}")
        scripts = [s for s in scripts if s.name in args.only]
    total = 0
    for script in scripts:
        exp = build(content, script, texts)
        folder = script.folder or SESSIONS / script.name
        size = sum(p.stat().st_size for p in folder.iterdir())
        total += size
        print(f"{folder.relative_to(ROOT)}: {exp['expect']['turns']} turns, {len(list(folder.glob('*.wav')))} files, "
              f"{size / 1e3:.0f} kB; {exp['expect']['urgency']}, {exp['expect']['first_cause']}")
        if args.check:
            print("  " + check(folder))
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
