"""Voice activity detection for endpointing: where a spoken answer starts and ends in a live stream.

Energy in the speech band (150-7000 Hz), per 20 ms frame, against two pictures of the background
that are learnt while nobody answers and kept from one answer to the next:

- the noise floor (a minimum tracker that rises slowly), so stationary noise (a fan, hiss, hum)
  is not taken for voice;
- the loud end of the recent background (its 90th percentile over a few seconds), so speech
  in the background (a television, someone across the room) at ~10 dB under the person
  answering does not start an answer, and its words do not keep an answer from ending.

An answer starts after 120 ms of voice (their mean power above the bar, and half of the frames
on their own), placed back at its soft onset; it ends after `end_seconds` of quiet, where quiet
is judged against the answer's own level too (the person answering is the loudest voice).
Answers are capped at `max_seconds`. A "voice" that stays steady for a second is a noise that
began (a fan switched on): it is reported as NOISE and becomes background. There is no time
limit for an answer to start: the caller sets one if it wants.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .recognition.base import SAMPLE_RATE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VadSettings:
    frame_seconds: float = 0.02
    start_seconds: float = 0.12      # voice needed to call a start (mean power, half its frames)
    start_window: float = 0.2        # recent frames kept to walk back over a soft onset
    end_seconds: float = 0.5         # trailing quiet that ends an answer
    max_seconds: float = 8.0         # cap on one answer
    margin_db: float = 6.0           # voice: this far above the noise floor ...
    background_db: float = 4.0       # ... and this far above the loud end of the background
    end_background_db: float = 3.0   # quiet: under the loud end of the background plus this ...
    drop_db: float = 20.0            # ... or this far under the answer's own (100 ms) peak
    smooth_frames: int = 5           # the answer goes on while this many frames' mean is voice
    history_seconds: float = 3.0     # how much background the loud end is taken over
    steady_seconds: float = 1.0      # a "voice" this long that is this steady ...
    steady_db: float = 2.0           # ... (std of its frame levels, dB) is a noise, not speech
    floor_rise_db: float = 3.0       # per second: how fast the floor follows rising noise
    min_level_db: float = -75.0      # anything quieter counts as this (digital silence)
    band_hz: tuple[float, float] = (150.0, 7000.0)


class Boundary(str, Enum):
    START = "start"
    END = "end"
    CAPPED = "capped"   # the answer ran to max_seconds
    NOISE = "noise"     # what started was a steady noise (a fan switched on), not an answer:
                        # forget it; the noise is now background and the wait goes on


@dataclass(frozen=True)
class VadEvent:
    kind: Boundary
    sample: int   # where it happened, in samples since begin(): the answer's start or end


class Endpointer:
    """Feed int16 16 kHz audio in blocks of any size; get START, then END (or CAPPED), once."""

    def __init__(self, settings: VadSettings | None = None, rate: int = SAMPLE_RATE) -> None:
        self.settings = s = settings or VadSettings()
        self.rate = rate
        self.frame = int(round(s.frame_seconds * rate))
        self._window = np.hanning(self.frame)
        freqs = np.fft.rfftfreq(self.frame, 1.0 / rate)
        self._band = (freqs >= s.band_hz[0]) & (freqs <= s.band_hz[1])
        # Parseval with the window's power: band power comparable to a plain mean square.
        self._scale = 2.0 / (self.frame * float(np.sum(self._window ** 2))) / (32768.0 ** 2)
        self.floor: float | None = None
        self._history: deque[float] = deque(maxlen=max(1, int(s.history_seconds / s.frame_seconds)))
        self.begin()

    # -- per answer -------------------------------------------------------------------------
    def begin(self) -> None:
        """Start looking for a new answer (what was learnt about the background is kept)."""
        s = self.settings
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames = 0                       # frames seen since begin()
        self._recent: deque[tuple[int, float, bool]] = deque(
            maxlen=max(1, int(round((s.start_window + 0.3) / s.frame_seconds))))
        self._start_frames = max(1, int(round(s.start_seconds / s.frame_seconds)))
        self._end_frames = max(1, int(round(s.end_seconds / s.frame_seconds)))
        self._max_frames = max(1, int(round(s.max_seconds / s.frame_seconds)))
        self.start_frame: int | None = None
        self.end_frame: int | None = None
        self._last_voiced = self._last_loud = 0
        self._warmup_frames = int(round(0.4 / s.frame_seconds))
        self._quiet: list[float] = []
        self._levels: list[float] = []         # frame levels since the start
        self._lagged: deque[float] = deque()
        self._peak_db = -200.0
        self._smooth: deque[float] = deque(maxlen=5)   # linear powers of the last 100 ms
        self._bg_at_start = self.floor if self.floor is not None else s.min_level_db

    @property
    def started(self) -> bool:
        return self.start_frame is not None

    @property
    def done(self) -> bool:
        return self.end_frame is not None

    @property
    def quiet_seconds(self) -> float:
        """While an answer is under way: how long the speaker has been quiet by this endpointer's
        judgement (0 while they speak, and before the start and after the end)."""
        if self.start_frame is None or self.end_frame is not None:
            return 0.0
        return max(0, self._frames - 1 - self._last_voiced) * self.settings.frame_seconds

    @property
    def start_sample(self) -> int | None:
        return None if self.start_frame is None else self.start_frame * self.frame

    @property
    def end_sample(self) -> int | None:
        return None if self.end_frame is None else self.end_frame * self.frame

    # -- levels -----------------------------------------------------------------------------
    def level_db(self, frame: np.ndarray) -> float:
        """Speech-band power of one frame, in dB re full scale."""
        spectrum = np.fft.rfft(frame.astype(np.float64) * self._window)
        power = float(np.sum(np.abs(spectrum[self._band]) ** 2)) * self._scale
        return max(10.0 * np.log10(power + 1e-20), self.settings.min_level_db)

    def _background_high(self) -> float:
        if len(self._history) < 10:
            return self.floor if self.floor is not None else self.settings.min_level_db
        # With little background heard, its loud end is not known yet: take nearly the loudest.
        short = len(self._history) < self._history.maxlen // 2
        return float(np.percentile(self._history, 98 if short else 90))

    def thresholds(self) -> tuple[float, float]:
        """(voice to start, quiet to end) in dB, as things stand."""
        s = self.settings
        floor = self.floor if self.floor is not None else s.min_level_db
        on = max(floor + s.margin_db, self._background_high() + s.background_db)
        off = max(floor + s.margin_db - 3.0, self._bg_at_start + s.end_background_db,
                  self._peak_db - s.drop_db)
        return on, off

    def _learn_background(self, level: float) -> None:
        s = self.settings
        if self.floor is None or level < self.floor:
            self.floor = level
        else:
            self.floor = min(level, self.floor + s.floor_rise_db * s.frame_seconds)
        self._history.append(level)

    def learn(self, samples: np.ndarray) -> None:
        """Audio known to hold no answer (the room before the first question): background only."""
        x = np.asarray(samples, dtype=np.int16).reshape(-1)
        for i in range(len(x) // self.frame):
            self._learn_background(self.level_db(x[i * self.frame:(i + 1) * self.frame]))

    # -- the stream -------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        """Audio in; the boundaries found in it (START, then END or CAPPED), each at most once."""
        if self.done:
            return []
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.int16).reshape(-1)])
        n = len(x) // self.frame
        self._pending = x[n * self.frame:]
        events: list[VadEvent] = []
        for i in range(n):
            event = self._step(x[i * self.frame:(i + 1) * self.frame])
            if event is not None:
                events.append(event)
                if self.done:
                    break
        return events

    def _step(self, frame: np.ndarray) -> VadEvent | None:
        level = self.level_db(frame)
        index = self._frames
        self._frames += 1
        if self.start_frame is None:
            return self._waiting(index, level)
        return self._speaking(index, level)

    def _waiting(self, index: int, level: float) -> VadEvent | None:
        s = self.settings
        on, _ = self.thresholds()
        self._recent.append((index, level, level > on))
        # Until some background has been heard there is nothing to judge a start against.
        warm = len(self._history) >= self._warmup_frames
        window = list(self._recent)[-self._start_frames:]
        loud = sum(v for _, _, v in window)
        # 120 ms whose mean power is voice, with at least half of its frames voice on their own:
        # a louder foreground, not one loud frame of the background or a click.
        mean_db = 10.0 * np.log10(np.mean([10.0 ** (lvl / 10.0) for _, lvl, _ in window]))
        if warm and len(window) == self._start_frames and mean_db > on and 2 * loud >= len(window):
            self._bg_at_start = self._background_high()
            _, off = self.thresholds()
            recent = list(self._recent)
            first = len(recent) - len(window) + next(i for i, (_, _, v) in enumerate(window) if v)
            # Walk back over a soft onset ("it ...", a consonant before the vowel), bridging gaps
            # up to 100 ms, at most 200 ms before the first loud frame.
            k, gap = first, 0
            limit = max(0, first - int(round(0.2 / s.frame_seconds)))
            for j in range(first - 1, limit - 1, -1):
                if recent[j][1] > off:
                    k, gap = j, 0
                else:
                    gap += 1
                    if gap > int(round(0.1 / s.frame_seconds)):
                        break
            self.start_frame = recent[k][0]
            self._last_voiced = self._last_loud = index
            for _, lvl, _ in recent[k:]:
                self._note_voice(lvl)
            log.debug("answer starts at %.2f s (level %.1f dB, on %.1f dB)",
                      self.start_frame * s.frame_seconds, mean_db, on)
            return VadEvent(Boundary.START, self.start_frame * self.frame)
        # A frame becomes background once it has left the start window without starting an
        # answer (so an answer's own first frames never raise the bar it has to clear).
        self._lagged.append(level)
        if len(self._lagged) > self._start_frames:
            self._learn_background(self._lagged.popleft())
        return None

    def _note_voice(self, level: float) -> None:
        self._smooth.append(10.0 ** (level / 10.0))
        if len(self._smooth) == self._smooth.maxlen:
            self._peak_db = max(self._peak_db, 10.0 * np.log10(np.mean(self._smooth)))

    def _speaking(self, index: int, level: float) -> VadEvent | None:
        s = self.settings
        _, off = self.thresholds()
        self._note_voice(level)
        self._levels.append(level)
        steady = int(round(s.steady_seconds / s.frame_seconds))
        if len(self._levels) == steady and float(np.std(self._levels)) < s.steady_db:
            # Speech rises and falls with its syllables; a noise that just began does not.
            self.floor = float(min(self._levels))
            self._history.extend(self._levels)
            at = self.start_frame * self.frame
            self.start_frame = None
            self._levels.clear()
            self._recent.clear()
            self._lagged.clear()
            self._peak_db = -200.0
            self._smooth.clear()
            self._bg_at_start = self._background_high()
            log.debug("a steady noise began at %.2f s; taken as background", at / self.rate)
            return VadEvent(Boundary.NOISE, at)
        # The answer goes on while the last 60 ms carry voice (so one quiet frame inside a word
        # or one loud frame of the background does not decide); it ended at its last loud frame.
        recent = list(self._smooth)[-self.settings.smooth_frames:]
        smoothed = 10.0 * np.log10(np.mean(recent))
        if level > off:
            self._last_loud = index
        if smoothed > off:
            self._last_voiced = index
            self._quiet.clear()
        else:
            self._quiet.append(level)
        if index - self._last_voiced >= self._end_frames:
            self.end_frame = min(self._last_voiced, self._last_loud) + 1
            for lvl in self._quiet:   # the quiet after an answer is background: learn from it
                self._learn_background(lvl)
            log.debug("answer ends at %.2f s", self.end_frame * self.settings.frame_seconds)
            return VadEvent(Boundary.END, self.end_frame * self.frame)
        if index + 1 - self.start_frame >= self._max_frames:
            self.end_frame = index + 1
            log.debug("answer capped at %.2f s", self.settings.max_seconds)
            return VadEvent(Boundary.CAPPED, self.end_frame * self.frame)
        return None
