"""`voice-triage text`: the typed interview, run as a user runs it (a subprocess, stdin piped)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from voice_triage.config import Config
from voice_triage.content import load_content
from voice_triage.model import RED_FLAGS
from voice_triage.text_mode import TextEar, parse_typed, run_text

ROOT = Path(__file__).resolve().parents[1]


def typed(lines: list[str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    stdin = "".join(line + "\n" for line in lines)
    return subprocess.run([sys.executable, "-m", "voice_triage", "text", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# An outer-hip (GTPS) person. Red flags: 4 emergency "no", the grouped urgent "no"; then location,
# spread, and yes/no answers by question (whatever order the adaptive interview picks).
SYMPTOMS = {"nerve_sensations": "no", "leg_worse_than_back": "no", "cough_sneeze": "no",
            "single_leg_stance": "yes", "tender_side": "yes", "lying_on_side": "yes", "walking_stairs": "yes",
            "sitting_worse": "no", "socks_shoes": "no", "bending_back": "no"}


def _script_for_gtps() -> list[str]:
    """The typed lines for the GTPS person, in the order the interview asks (found by running the
    interview's own fake person once: the adaptive order is deterministic)."""
    from voice_triage.session import TYPED_POLICY, RecordingVoice, drive, speaker_answer
    from voice_triage.recognition.base import Transcript

    content = load_content("en")
    answers = {**{f: "no" for f in RED_FLAGS}, "pain_location": "outer_hip", "pain_spread": "none", **SYMPTOMS}
    lines: list[str] = []

    def hear(action, grammar):
        value = speaker_answer(content, answers, action)
        lines.append(value)
        return Transcript(value, value, 1.0)

    drive(content, hear, RecordingVoice(), TYPED_POLICY)
    return lines


def test_a_whole_typed_interview():
    lines = _script_for_gtps()
    # Use the keyboard forms people type: y/n, numbers, the words.
    keyboard = [{"yes": "y", "no": "n"}.get(v, v) for v in lines]
    keyboard = ["2" if v == "outer_hip" else "1" if v == "none" else v for v in keyboard]
    proc = typed(keyboard)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "not a diagnosis" in out
    assert "\x1b" not in out  # no ANSI codes for screen readers
    assert "1 upper buttock, 2 outer hip" in out
    assert "trochanteric" in out.lower() or "glute" in out.lower()
    assert "Would you like me to repeat that?" in out
    assert "Traceback" not in proc.stderr


def test_typed_json_is_one_object_on_stdout():
    lines = _script_for_gtps()
    proc = typed(lines, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # stdout holds only the JSON
    assert data["urgency"] == "routine"
    assert data["causes"][0]["id"] == "gtps"
    assert data["answers"]["pain_location"] == "outer_hip"
    assert data["turns"] == len(lines) == len(data["transcript"])
    assert {"question", "prompt", "heard", "answer", "confidence"} <= set(data["transcript"][0])
    assert "Where is the pain worst?" in proc.stderr  # the prompts went to stderr


def test_end_of_input_halfway_gives_the_assessment_so_far():
    proc = typed(["n", "n", "n", "n", "n", "2"], "--json")  # stdin ends at pain_spread
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["stopped"] is True
    assert data["answers"]["pain_location"] == "outer_hip"
    assert "pain_spread" not in data["answers"]
    assert data["explanation"] in proc.stderr


def test_garbage_is_asked_again():
    proc = typed(["banana", "n", "n", "n", "n", "n", "qwerty", "?", "upper buttock"], "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["answers"]["rf_saddle"] == "no"
    assert data["answers"]["pain_location"] == "upper_buttock"
    assert proc.stderr.count("Sorry, I didn't catch that.") == 2
    help_text = load_content("en").questions["pain_location"].help
    assert help_text in proc.stderr


def test_a_red_flag_yes_is_confirmed_when_typed():
    proc = typed(["y", "y", "n", "n", "n", "n"], "--json")
    data = json.loads(proc.stdout)
    assert data["answers"]["rf_saddle"] == "yes"
    assert data["urgency"] == "emergency"
    assert "Is that right?" in proc.stderr


def test_typed_back_and_slower():
    proc = typed(["n", "back", "y", "n", "slower", "n", "n", "n", "n"], "--json")
    data = json.loads(proc.stdout)
    assert data["answers"]["rf_saddle"] == "no"     # "y" after back was read back and rejected ("n")
    assert "does not need a speaking speed" in proc.stderr


def test_report_is_written(tmp_path):
    lines = _script_for_gtps()
    proc = typed(lines, "--report", str(tmp_path / "session"))
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "session.md").read_text()
    data = json.loads((tmp_path / "session.json").read_text())
    assert "not a diagnosis" in md and "## Answers" in md and "## Turns" in md
    assert "outer hip" in md
    assert data["causes"][0]["id"] == "gtps"


def test_parse_typed_forms():
    content = load_content("en")
    grammar = content.grammars["pain_location"]
    ear = TextEar(content, io.StringIO(), io.StringIO())
    options = ear.options(grammar, "pain_location")
    assert parse_typed("2\n", grammar, options).answer == "outer_hip"
    assert parse_typed("7", grammar, options).answer == "unknown"
    assert parse_typed("8", grammar, options).answer is None
    assert parse_typed("?", grammar, options).answer == "help"
    assert parse_typed("the side of my hip", grammar, options).answer == "outer_hip"
    assert parse_typed("go back", grammar, options).answer == "back"
    # "I don't know" is one of the options every location prompt lists: typed, it is understood.
    for text in ("I don't know", "not sure", "I dont know", "idk", "I'm not sure"):
        assert parse_typed(text, grammar, options).answer == "unknown", text
        assert parse_typed(text, content.grammars["pain_spread"], options).answer == "unknown", text
    yes_no = content.grammars["yes_no"]
    yn = ear.options(yes_no, "rf_saddle")
    assert [parse_typed(t, yes_no, yn).answer for t in ("y", "N", "not sure", "1", "2", "I dont know")] == \
        ["yes", "no", "unknown", "yes", "no", "unknown"]


def test_ctrl_c_is_a_clean_end():
    class Interrupting(io.StringIO):
        def __init__(self, lines: list[str]) -> None:
            super().__init__("".join(x + "\n" for x in lines))
            self.n = len(lines)

        def readline(self, *args):  # type: ignore[override]
            if self.n == 0:
                raise KeyboardInterrupt
            self.n -= 1
            return super().readline(*args)

    out = io.StringIO()
    code = run_text(Config(), stdin=Interrupting(["n", "n", "n", "n", "n", "2"]), stdout=out)
    text = out.getvalue()
    assert code == 0
    assert "Stopped. Your answers so far are kept." in text
    assert "not a diagnosis" in text.split("Stopped.")[-1]
