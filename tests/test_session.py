"""The session edge: the simulated speaker, simulate/replay input checks, the report, and (slow)
whole sessions through the real bundled recogniser on the fixture recordings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voice_triage import rules
from voice_triage.config import Config, Engine
from voice_triage.content import load_content
from voice_triage.errors import AudioError, BadInputError
from voice_triage.interview import Listen, ListenKind
from voice_triage.model import RED_FLAGS
from voice_triage.recognition.base import Transcript
from voice_triage.report import render_markdown, report_paths, write_report
from voice_triage.session import (VOICE_POLICY, RecordingVoice, _PhrasePlayer, drive, index_phrases,
                                  index_turns, replay, simulate, speaker_answer)
from voice_triage.yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
CASES = ROOT / "tests" / "cases" / "public.yaml"
SPHINX = Config(engine=Engine.SPHINX)


@pytest.fixture(scope="module")
def content():
    return load_content("en")


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voice_triage", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def vignette(case_id: str) -> dict[str, str]:
    data = load_yaml(CASES)
    case = next(c for c in data["cases"] if c["id"] == case_id)
    return {**{f: data.get("red_flags_default", "no") for f in RED_FLAGS}, **case["answers"]}


# --- the simulated speaker ----------------------------------------------------------------------

def test_speaker_answers_from_the_file(content):
    answers = {"rf_saddle": "yes", "pain_location": "groin"}
    ask = lambda q: Listen("yes_no", q, "", ListenKind.ANSWER)  # noqa: E731
    assert speaker_answer(content, answers, ask("rf_saddle")) == "yes"
    assert speaker_answer(content, answers, ask("pain_location")) == "groin"
    assert speaker_answer(content, answers, ask("pain_spread")) == "unknown"  # absent -> unknown


def test_speaker_answers_the_grouped_question(content):
    ask = Listen("yes_no", "rf_urgent_any", "", ListenKind.ANSWER)
    members = content.questions["rf_urgent_any"].members
    all_no = {m: "no" for m in members}
    assert speaker_answer(content, all_no, ask) == "no"
    assert speaker_answer(content, {**all_no, members[2]: "yes"}, ask) == "yes"
    assert speaker_answer(content, {**all_no, members[2]: "unknown"}, ask) == "unknown"
    assert speaker_answer(content, {}, ask) == "unknown"
    assert speaker_answer(content, {**all_no, members[0]: "yes", members[1]: "unknown"}, ask) == "yes"


def test_speaker_answers_read_backs(content):
    answers = {"rf_saddle": "no", "rf_both_legs": "no", "pain_location": "groin"}
    confirm = lambda *pairs: Listen("yes_no", None, "", ListenKind.CONFIRM, tuple(pairs))  # noqa: E731
    assert speaker_answer(content, answers, confirm(("rf_saddle", "no"), ("rf_both_legs", "no"))) == "yes"
    assert speaker_answer(content, answers, confirm(("rf_saddle", "no"), ("rf_weakness", "no"))) == "no"
    assert speaker_answer(content, answers, confirm(("pain_location", "outer_hip"))) == "no"
    assert speaker_answer(content, answers, Listen("yes_no", None, "", ListenKind.OFFER_REPEAT)) == "no"


# --- bad folders ----------------------------------------------------------------------------

def test_phrase_folder_problems(tmp_path):
    with pytest.raises(BadInputError, match="folder not found"):
        index_phrases(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BadInputError, match="not a folder"):
        index_phrases(tmp_path / "file.txt")
    with pytest.raises(BadInputError, match="no phrase WAV files"):
        index_phrases(tmp_path)


def test_phrase_variants_are_used_in_turn(tmp_path):
    for name in ("yes.wav", "yes.2.wav", "yes.1.wav", "no.wav", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = index_phrases(tmp_path)
    assert [p.name for p in found["yes"]] == ["yes.wav", "yes.1.wav", "yes.2.wav"]
    assert set(found) == {"yes", "no"}


def test_turn_folder_problems(tmp_path):
    with pytest.raises(BadInputError, match="folder not found"):
        index_turns(tmp_path / "nope")
    with pytest.raises(BadInputError, match="no numbered WAV files"):
        index_turns(tmp_path)
    (tmp_path / "1.wav").write_bytes(b"")
    (tmp_path / "01.wav").write_bytes(b"")
    with pytest.raises(BadInputError, match="turn 1 is given twice"):
        index_turns(tmp_path)


def test_turns_in_spoken_order(tmp_path):
    for name in ("01.wav", "02.wav", "10.wav", "03.WAV", "readme.txt"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(index_turns(tmp_path)) == [1, 2, 3, 10]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "folder not found"),
    (lambda d: (d.mkdir(), (d / "notes.txt").write_text("x")), "no numbered WAV files"),
    (lambda d: (d.mkdir(), (d / "01.wav").write_text("not audio at all")), "01.wav: not a WAV file"),
])
def test_replay_bad_input_on_the_command_line(tmp_path, setup, message):
    folder = tmp_path / "session"
    setup(folder)
    proc = cli("replay", str(folder), "--json")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_replay_bad_wav_is_an_audio_error(tmp_path):
    (tmp_path / "01.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioError, match="01.wav"):
        replay(SPHINX, tmp_path)


def test_simulate_bad_phrase_folder_on_the_command_line(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("pain_location: groin\n")
    proc = cli("simulate", "--answers", str(answers), "--phrases", str(tmp_path / "none"), "--json")
    assert proc.returncode == 2 and "folder not found" in proc.stderr and proc.stdout == ""


# --- the report ---------------------------------------------------------------------------

def _session(content):
    answers = vignette("p01")

    def hear(action, grammar):
        v = speaker_answer(content, answers, action)
        return Transcript(v, v, 0.9)

    return drive(content, hear, RecordingVoice(), VOICE_POLICY)


def test_report_paths():
    assert report_paths(Path("out/s")) == (Path("out/s.md"), Path("out/s.json"))
    assert report_paths(Path("s.md")) == (Path("s.md"), Path("s.json"))


def test_write_report(tmp_path, content):
    result = _session(content)
    md, js = write_report(tmp_path / "deep" / "session", result, content)
    text = md.read_text()
    assert "not a diagnosis" in text
    assert "**outer hip**" in text                       # answers in words
    assert "Urgency: **routine**" in text
    assert result.assessment.explanation in text
    assert text.count('heard "') == result.turns         # every turn
    data = json.loads(js.read_text())
    assert data == json.loads(json.dumps(result.to_json()))


def test_report_to_an_unwritable_place(tmp_path, content):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadInputError, match="cannot write the report"):
        write_report(blocker / "session", _session(content), content)


def test_report_of_an_interrupted_session(content):
    result = _session(content)
    from dataclasses import replace
    text = render_markdown(replace(result, interrupted=True, stopped=True), content)
    assert "interrupted" in text


# --- whole sessions through the real bundled recogniser (slow) ----------------------------------

def _playlist_session(content, answers, voice_dir):
    """simulate's own speaker, also noting which WAV it played each turn."""
    played: list[Path] = []
    player = _PhrasePlayer(SPHINX, index_phrases(voice_dir), voice_dir)

    def play(value, grammar):
        path = next(player._cycles[value])
        played.append(path)
        samples = player._load_wav(path)
        return player.recognizer.recognize(samples, grammar)

    def hear(action, grammar):
        return play(speaker_answer(content, answers, action), grammar)

    result = drive(content, hear, RecordingVoice(), VOICE_POLICY)
    return result, played


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["p01", "p08"])
def test_simulate_a_public_vignette_with_a_fixture_voice(tmp_path, content, case_id):
    answers = vignette(case_id)
    file = tmp_path / "answers.json"
    file.write_text(json.dumps(answers))
    data = simulate(SPHINX, file, AUDIO / "espeak")
    expected = rules.outcome(content, answers)
    misheard = [f for f in RED_FLAGS if data["answers"].get(f) != answers[f]]
    assert not [f for f in misheard if answers[f] == "yes"], (
        f"red flags said 'yes' but not accepted by the recogniser: {misheard}; heard: "
        + "; ".join(f"{t['question']}: {t['heard']!r}->{t['answer']} ({t['confidence']})"
                    for t in data["transcript"] if t["question"] in misheard))
    assert (data["urgency"], data["causes"][0]["id"]) == (expected[0].value, expected[1])
    for flag in RED_FLAGS:
        assert data["answers"][flag] in (answers[flag], "unknown"), flag
    assert set(data["red_flags"]) == {f for f in RED_FLAGS if answers[f] == "yes"}
    assert data["turns"] == len(data["transcript"])


@pytest.mark.slow
def test_replay_of_a_simulated_session_gives_the_same_result(tmp_path, content):
    answers = vignette("p03")
    result, played = _playlist_session(content, answers, AUDIO / "espeak")
    session = tmp_path / "session"
    session.mkdir()
    for i, path in enumerate(played, 1):
        shutil.copy(path, session / f"{i:02d}.wav")
    data = replay(SPHINX, session)
    assert data["answers"] == result.answers
    assert data["turns"] == result.turns
    assert (data["urgency"], data["causes"][0]["id"]) == \
        (result.assessment.urgency.value, result.assessment.causes[0].id)


@pytest.mark.slow
def test_replay_that_runs_out_of_turns_ends(tmp_path, content):
    session = tmp_path / "session"
    session.mkdir()
    shutil.copy(AUDIO / "espeak" / "no.wav", session / "01.wav")
    shutil.copy(AUDIO / "espeak" / "no.wav", session / "03.wav")   # turn 2 is silence
    data = replay(SPHINX, session)
    assert data["transcript"][1]["heard"] == "" and data["transcript"][1]["answer"] is None
    assert data["turns"] < 150
    assert set(data["unknown_red_flags"]) >= set(RED_FLAGS) - {"rf_saddle"}


@pytest.mark.slow
def test_simulate_missing_phrase_names_it(tmp_path):
    phrases = tmp_path / "phrases"
    phrases.mkdir()
    shutil.copy(AUDIO / "espeak" / "yes.wav", phrases / "yes.wav")
    answers = tmp_path / "a.yaml"
    answers.write_text("rf_saddle: 'no'\n")
    proc = cli("simulate", "--engine", "sphinx", "--answers", str(answers), "--phrases", str(phrases), "--json")
    assert proc.returncode == 2, proc.stderr
    assert "no phrase for the answer 'no' (need no.wav)" in proc.stderr
