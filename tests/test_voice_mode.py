"""The hands-free front end on real devices (the PulseAudio null sinks), the real sphinx
recogniser and real speech out: answers heard through the microphone, the half-duplex rule,
the demo when there is no microphone, and Ctrl-C keeping the answers."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from voice_triage.audio import load_wav, write_wav
from voice_triage.config import Config, Engine
from voice_triage.content import load_content
from voice_triage.paths import demo_dir
from voice_triage.session import VOICE_POLICY, run_interview
from voice_triage.tts import SpeechVoice
from voice_triage.voice_mode import NO_MICROPHONE, MicrophoneEar, RecordedEar

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio" / "espeak"



@pytest.fixture(scope="module")
def sphinx():
    from voice_triage.recognition.select import make_recognizer

    return make_recognizer(Config(engine=Engine.SPHINX))


def surest(recognizer, value: str) -> Path:
    """The recorded yes or no that the recogniser accepts most surely: these tests are about
    the front end, not about how well the engine of the day hears one voice."""
    grammar = load_content("en").grammars["yes_no"]
    scored = []
    for path in sorted((ROOT / "tests" / "fixtures" / "audio").glob(f"*/{value}.*wav")):
        heard = recognizer.recognize(load_wav(path), grammar)
        if heard.answer == value:
            scored.append((heard.confidence, path))
    if not scored:
        pytest.skip(f"the recogniser accepts none of the recorded '{value}' answers")
    return max(scored)[1]


def play_into_mic(server, path: Path, after: float) -> threading.Thread:
    def run() -> None:
        time.sleep(after)
        subprocess.run(["paplay", f"--device={server.mic_sink}", str(path)], check=True, timeout=30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.audio_server
@pytest.mark.slow
@pytest.mark.parametrize("value,grammar", [("no", "yes_no"), ("upper_buttock", "pain_location"),
                                           ("foot", "pain_spread"), ("slower", "yes_no")])
def test_an_answer_spoken_into_the_microphone_is_understood(audio_server, sphinx, value: str, grammar: str) -> None:
    from voice_triage.devices import Microphone

    g = load_content("en").grammars[grammar]
    path = FIXTURES / f"{value}.wav"
    offline = sphinx.recognize(load_wav(path), g)
    with Microphone() as mic:
        ear = MicrophoneEar(mic, sphinx)
        ear.calibrate()
        player = play_into_mic(audio_server, path, after=0.4)
        began = time.monotonic()
        heard = ear.listen(g, None, "")
        took = time.monotonic() - began
        player.join()
    assert heard is not None
    assert g.match(heard.text) == value, f"heard {heard.text!r}"
    # Through the microphone the product never acts on anything but what was said. Whether it
    # acts at all sits near the rejection bar for one-word answers (CI saw espeak "no" and "my
    # foot" heard right but held at 0.48 through the microphone, accepted from the file): that
    # is the acceptance rate the benchmarks measure, not something one recording can pin down.
    assert heard.answer in {None, value}
    assert offline.answer in {None, value}
    # ... and is done within the answer plus the end-of-speech wait (and some slack).
    assert took < 0.4 + load_wav(path).size / 16000 + 1.2


@pytest.mark.audio_server
def test_silence_until_the_timeout_is_none(audio_server, sphinx) -> None:
    from voice_triage.devices import Microphone

    with Microphone() as mic:
        ear = MicrophoneEar(mic, sphinx, timeout=1.0)
        began = time.monotonic()
        assert ear.listen(load_content("en").grammars["yes_no"], None, "") is None
        assert 1.0 <= time.monotonic() - began < 2.0


@pytest.mark.audio_server
def test_what_the_microphone_heard_before_listening_is_dropped(audio_server, sphinx) -> None:
    """Half-duplex: sound that arrived while a prompt played (before listen()) is not an answer."""
    from voice_triage.devices import Microphone

    with Microphone() as mic:
        mic.start()
        subprocess.run(["paplay", f"--device={audio_server.mic_sink}", str(FIXTURES / "yes.wav")],
                       check=True, timeout=30)
        ear = MicrophoneEar(mic, sphinx, timeout=1.0)
        assert ear.listen(load_content("en").grammars["yes_no"], None, "") is None


@pytest.mark.slow
def test_the_demo_ear_plays_and_recognises_a_recorded_session(tmp_path: Path, sphinx) -> None:
    # No to the four emergency red flags and to the urgent ones together, then yes to "you said
    # no to all of these?".
    no, yes = load_wav(surest(sphinx, "no")), load_wav(surest(sphinx, "yes"))
    for n, answer in enumerate([no, no, no, no, no, yes], start=1):
        write_wav(tmp_path / f"{n:02d}.wav", answer)
    out = io.StringIO()
    content = load_content("en")
    with SpeechVoice(None, out=out, save_audio=tmp_path / "demo.wav") as voice:
        ear = RecordedEar(tmp_path, sphinx, voice, out)
        result = run_interview(content, ear, voice, VOICE_POLICY)
    assert [result.answers[q] for q in ("rf_saddle", "rf_bladder_bowel", "rf_both_legs", "rf_weakness")] == ["no"] * 4
    printed = out.getvalue()
    assert content.questions["rf_saddle"].prompt.split()[0] in printed
    assert f"(recorded answer, heard: {result.transcript[0]['heard']})" in printed
    assert (tmp_path / "demo.wav").stat().st_size > 16000


@pytest.mark.slow
def test_no_devices_at_all_runs_the_demo(tmp_path: Path) -> None:
    if not any(demo_dir("en").glob("*.wav")):
        pytest.skip(f"the demo session is not there yet ({demo_dir('en')})")
    env = dict(os.environ, PULSE_SERVER="unix:/nonexistent/pulse")   # PortAudio finds no device
    r = subprocess.run([sys.executable, "-m", "voice_triage", "--engine", "sphinx"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == NO_MICROPHONE
    assert "No speaker found, so the questions are printed here." in lines
    assert "Traceback" not in r.stderr


@pytest.mark.audio_server
@pytest.mark.slow
def test_ctrl_c_mid_interview_keeps_the_answers(audio_server, latency_rig, sphinx, tmp_path: Path) -> None:
    no = load_wav(surest(sphinx, "no"))
    rig = latency_rig
    room = rig.VirtualRoom()
    report = tmp_path / "session"
    # Ctrl-C reaches a program in the terminal's foreground. A test run started in the background
    # by a shell without job control (`cmd &` in a script) has SIGINT ignored, and Python then
    # leaves it ignored in the program too: give the program the disposition a terminal would.
    proc = subprocess.Popen([sys.executable, "-m", "voice_triage", "--engine", "sphinx", "--rate", "300",
                             "--report", str(report)], env=audio_server.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        t0 = time.monotonic()
        assert room.wait_for_prompt(t0, quiet=0.8, timeout=120) is not None, "the program never spoke"
        _, end = room.answer(no)
        deadline = time.monotonic() + 15
        while room.speaker.first_sound_after(end) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert room.speaker.first_sound_after(end) is not None, "no next prompt after the answer"
        time.sleep(0.3)                      # mid-prompt
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        room.close()
    assert proc.returncode == 0, err
    assert "Stopped. Your answers so far are kept." in out
    assert "Traceback" not in err
    saved = json.loads(report.with_name("session.json").read_text())
    assert saved["answers"]["rf_saddle"] == "no"
    assert saved["interrupted"] is True
    assert report.with_name("session.md").exists()


def test_typed_lines_are_answers_to_the_prompt_they_reach() -> None:
    """The keyboard beside the microphone: each typed line answers the next prompt, as in the
    typed interview (words, y/n, an option's number, ? for help); a bare Enter is no answer."""
    from voice_triage.voice_mode import Keyboard

    content = load_content("en")
    g = content.grammars
    read, write = os.pipe()
    kb = Keyboard(content, read)
    os.write(write, "\nyes\n   \n2\n?\nthe kitchen\nside of my hip\n".encode())
    os.close(write)
    kb._thread.join(timeout=5)
    got = [kb.answer(g["yes_no"], "rf_saddle"), kb.answer(g["pain_location"], "pain_location"),
           kb.answer(g["pain_spread"], "pain_spread"), kb.answer(g["yes_no"], "tender_side"),
           kb.answer(g["pain_location"], "pain_location")]
    assert [(t.answer, t.confidence) for t in got] == [("yes", 1.0), (content.questions["pain_location"].options[1], 1.0),
                                                      ("help", 1.0), (None, 0.0), ("outer_hip", 1.0)]
    assert kb.answer(g["yes_no"], None) is None        # nothing more typed: the ear listens on
    os.close(read)


@pytest.mark.audio_server
@pytest.mark.slow
def test_a_whole_spoken_interview_can_be_answered_on_the_keyboard(audio_server, tmp_path: Path) -> None:
    """The microphone open and silent, every answer typed: the interview runs to its end with
    exactly the typed answers (nobody spoke, so nothing was guessed or read back for noise)."""
    typed = ["no"] * 5 + ["yes", "side of my hip", "it stays there"] + ["yes"] * 12 + ["no"] * 3
    proc = subprocess.run([sys.executable, "-m", "voice_triage", "--engine", "sphinx", "--quiet", "--json",
                           "--timeout", "30"], env=audio_server.env, input="\n".join(typed) + "\n",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert all(out["answers"][f] == "no" for f in ("rf_saddle", "rf_bladder_bowel", "rf_both_legs", "rf_weakness"))
    assert (out["answers"]["pain_location"], out["answers"]["pain_spread"]) == ("outer_hip", "none")
    assert out["likely_group"] == "glute" and out["urgency"] == "routine"
    heard = [t["heard"] for t in out["transcript"]]
    assert heard[:8] == typed[:8] and set(heard) <= set(typed)
