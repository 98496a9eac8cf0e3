"""The recogniser protocol: 16 kHz mono audio in, a Transcript under a grammar out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..grammar import Grammar

SAMPLE_RATE = 16_000
# audio.headroom_db below this counts as a noisy room. Over the 333 fixture clips (5th-95th
# percentiles): clean speech 46-59 dB; white noise mixed at 20 dB SNR 22-25, at 15 dB 17-20, at 10 dB
# 12-15; background talk at 20 dB 23-31, at 15 dB 18-26, at 10 dB 14-21. So it flags white noise at
# 15 dB SNR or worse (96% at 15) and background talk at 10 dB (88%), never clean speech.
NOISY_BELOW_DB = 20.0


@dataclass(frozen=True)
class Transcript:
    """What an engine heard.

    text: the grammar phrase heard ("" when nothing was heard).
    answer: the value or command id the product would act on, or None when nothing was heard
        or the engine was too unsure (the interview then asks again).
    confidence: in [0, 1]; how sure the product is that `answer` is what was said.
    alternatives: other (text, confidence) hypotheses, best first.
    guess: when `answer` is None, the value the recogniser leans to if it is a fair guess (None
        otherwise): not acted on, but the spoken interview may read it back ("I think you said
        ... Is that right?") instead of asking the whole question again. Not in the JSON.
    lean: when `answer` is None, the value the recogniser's best reading points to, even slightly
        (None when it heard nothing plausible; see decision._lean). Not a guess on its own: the
        interview reads it back when two tries in a row lean the same way. Not in the JSON.
    noisy: the sound around the answer was loud next to it (audio.headroom_db under NOISY_BELOW_DB,
        about 15 dB SNR or worse), so a failed try may be the room's fault: the spoken interview
        says so once. Not in the JSON.
    """

    text: str
    answer: str | None
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()
    guess: str | None = None
    lean: str | None = None
    noisy: bool = False

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "answer": self.answer, "confidence": round(float(self.confidence), 4)}


@runtime_checkable
class RecognitionStream(Protocol):
    """One utterance, fed as it arrives so that the answer is ready when the speaker stops."""

    def feed(self, samples: np.ndarray) -> None:
        """int16 samples at 16 kHz, mono."""

    def ready(self) -> None:
        """The speaker seems to have stopped (the endpointer has heard them quiet a while): get the
        answer ready now, so that finish() has little left to do. More audio may still come."""

    def finish(self) -> Transcript:
        """End of the utterance: the answer."""


@runtime_checkable
class Recognizer(Protocol):
    name: str   # engine name: "sphinx" or "vosk"
    lang: str

    def stream(self, grammar: Grammar) -> RecognitionStream:
        """Start recognising one utterance under `grammar`."""

    def recognize(self, samples: np.ndarray, grammar: Grammar) -> Transcript:
        """A whole utterance at once (int16, 16 kHz, mono)."""
