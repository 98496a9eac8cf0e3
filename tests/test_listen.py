"""Listening live: the endpointer and the recogniser's stream together (voice_mode.MicrophoneEar),
fed a recording in 20 ms blocks as the microphone delivers them, through the real bundled
recogniser. What is checked is how the two share the work: what the recogniser is given after the
speaker stops, and what is left for the moment the answer is needed. (The microphone itself, on
the virtual audio devices, is test_voice_mode's.)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from voice_triage.audio import frame_energies_db, load_wav, speech_segment
from voice_triage.content import load_content
from voice_triage.recognition.base import SAMPLE_RATE
from voice_triage.voice_mode import HOLD_SECONDS, PREROLL_SECONDS, MicrophoneEar

AUDIO = Path(__file__).parent / "fixtures" / "audio"

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bench_listen import LEAD, listen_once, room_scene  # noqa: E402  (the microphone on a virtual clock)


class Watched:
    """The real recogniser's stream, with what it was fed and asked, in order."""

    def __init__(self, stream, log: list[str] | None = None) -> None:
        self.stream = stream
        self.fed: list[np.ndarray] = []
        self.calls: list[str] = [] if log is None else log

    def feed(self, samples: np.ndarray) -> None:
        self.fed.append(np.array(samples))
        self.calls.append("feed")
        self.stream.feed(samples)

    def ready(self) -> None:
        self.calls.append("ready")
        self.stream.ready()

    def finish(self):
        self.calls.append("finish")
        return self.stream.finish()


class WatchedRecognizer:
    def __init__(self, recognizer, log: list[str] | None = None) -> None:
        self.recognizer = recognizer
        self.name, self.lang = recognizer.name, recognizer.lang
        self.log = log
        self.streams: list[Watched] = []

    def stream(self, grammar):
        self.streams.append(Watched(self.recognizer.stream(grammar), self.log))
        return self.streams[-1]

    def recognize(self, samples, grammar):
        return self.recognizer.recognize(samples, grammar)


@pytest.fixture(scope="module")
def sphinx():
    from voice_triage.recognition.sphinx import SphinxRecognizer

    return SphinxRecognizer("en")


def listen(recognizer, grammar, x: np.ndarray, log: list[str] | None = None):
    """The ear after learning the room; listen once to the rest (what the stream is fed and asked
    goes into `log` too, when given)."""
    watched = WatchedRecognizer(recognizer, log)
    heard, ear, mic = listen_once(watched, grammar, x)
    assert len(watched.streams) == 1, "one answer, one stream"
    return heard, watched.streams[0], ear, mic


def fed_from(ear: MicrophoneEar) -> int:
    """Where in the microphone's audio the stream's audio begins (the pre-roll before the start)."""
    return max(0, ear.endpointer.start_sample - int(PREROLL_SECONDS * SAMPLE_RATE))


@pytest.mark.slow
def test_after_the_speaker_stops_the_recogniser_is_given_nothing_more(sphinx) -> None:
    """Under background talk, what follows an answer used to reach the recogniser until the end
    wait was over, and its words kept growing the stretch to decode (each growth a decode of
    0.2-0.9 s that the answer waited for). Once the endpointer has heard the speaker quiet for
    HOLD_SECONDS, the audio is held back: the stream gets ready() once, then finish(), and it was
    given the microphone's audio unchanged up to there and none of the rest of the wait."""
    g = load_content("en").grammars["pain_location"]
    x = room_scene([load_wav(AUDIO / "flite_awb" / "upper_buttock.1.wav")], "babble", 10.0, seed=7)
    heard, stream, ear, mic = listen(sphinx, g, x)
    assert heard is not None and ear.endpointer.done
    fed = np.concatenate(stream.fed)
    y, o = mic.samples, fed_from(ear)
    assert np.array_equal(fed, y[o:o + fed.size]), "the stream got the audio as it came, nothing lost"
    assert stream.calls.count("ready") == 1
    assert stream.calls[-2:] == ["ready", "finish"], "nothing fed after ready(), then finish()"
    held = mic.at - (o + fed.size)       # what the endpointer heard that the stream did not
    end_wait = ear.endpointer.settings.end_seconds
    assert held >= (end_wait - HOLD_SECONDS - 0.04) * SAMPLE_RATE, held
    assert o + fed.size >= ear.endpointer.end_sample, "the whole answer reached the stream"


@pytest.mark.slow
def test_a_pause_inside_an_answer_loses_nothing(sphinx) -> None:
    """Quiet long enough to be held back, then the speaker goes on: what was held reaches the
    stream before the new audio, so the stream has every sample from its start; it was told
    ready() at each pause."""
    g = load_content("en").grammars["yes_no"]
    word = load_wav(AUDIO / "espeak" / "no.wav")
    first, last = speech_segment(frame_energies_db(word))
    word = word[first * 160:last * 160]                       # the word alone, no quiet around it
    gap = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.int16)   # held after 0.2 s; the end wait is 0.5 s
    x = room_scene([word, gap, word], "white", 30.0, seed=3)
    heard, stream, ear, mic = listen(sphinx, g, x)
    fed = np.concatenate(stream.fed)
    y, o = mic.samples, fed_from(ear)
    assert np.array_equal(fed, y[o:o + fed.size])
    assert stream.calls.count("ready") == 2, stream.calls.count("ready")
    second_word_end = LEAD + 2 * word.size + gap.size    # in the microphone's audio
    assert o + fed.size >= second_word_end
    assert ear.endpointer.end_sample > LEAD + word.size + gap.size, "one answer, both words"


@pytest.mark.slow
@pytest.mark.parametrize("path,grammar", [
    ("flite_awb/upper_buttock.1.wav", "pain_location"), ("piper_joe/slower.1.wav", "yes_no"),
    ("flite_kal16/si_dimple.1.wav", "pain_location"), ("hibari/faster.wav", "yes_no"),
    ("heldout/flite_kal8/none.wav", "pain_spread"), ("flite_rms/foot.wav", "pain_spread")])
def test_when_the_answer_ends_there_is_nothing_left_to_decode(sphinx, count_decodes, path: str, grammar: str) -> None:
    """The answers the live-path benchmark (scripts/bench_listen.py) found slowest under background
    talk at 10 dB before the hold and ready(): up to 1.7 s from the end of the wait to the answer,
    spent on decodes. Now finish() runs no decode at all, neither pocketsphinx nor Moonshine:
    everything was done by ready(), while the end wait ran."""
    g = load_content("en").grammars[grammar]
    calls = count_decodes(sphinx)
    x = room_scene([load_wav(AUDIO / path)], "babble", 10.0, seed=11)
    heard, stream, ear, mic = listen(sphinx, g, x, log=calls)
    assert heard is not None and ear.endpointer.done
    assert "decode" in calls and calls[-1] == "finish", calls
    assert calls.count("moonshine") <= calls.count("decode")
