#!/usr/bin/env python3
"""The live listening path on the fixture recordings: accuracy, and the time from the end of the
end-of-speech wait to the answer, through the real voice_mode.MicrophoneEar (endpointer, hold-back,
the recogniser's stream) and the real bundled recogniser.

    python scripts/bench_listen.py [--conditions clean,white:10,babble:10] [--groups tuned,heldout]
        [--every 1] [--jobs 1] [--dump rows.jsonl]

Each answer clip is put in a scene: 1 s of the room (learnt by the endpointer, as the calibration
before the first question does), 0.5 s more, the clip, 1.5 s of the room; the whole scene mixed
with the condition's noise (clip i's seed is i, as in measure_recognition.py; "babble" on a
held-out clip is the held-out babble track). A stand-in microphone delivers it in 20 ms blocks on
a virtual clock: block k arrives at (k + 1) x 20 ms, and the work done between reads (the
endpointer, feeding the stream, decodes at pauses, ready(), finish()) moves the clock on, so a
decode longer than the audio it waits on makes the next blocks late, as a live microphone's would
queue. Latency = the clock when listen() returns - the arrival of the block that ended the answer
(the END of the 0.5 s end-of-speech wait). measure_recognition.py's finish() latency is on the bare
clips (their recorded tail of ~0.3 s, no endpointer): this is the path a user waits on.

Run it on an idle machine for the latency (--jobs 1); accuracy does not depend on it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from voice_triage.audio import load_wav  # noqa: E402
from voice_triage.noise import degrade, parse_conditions  # noqa: E402
from voice_triage.recognition.base import SAMPLE_RATE  # noqa: E402

import measure_recognition  # noqa: E402  (the clip list and seeds)

BLOCK = 320          # 20 ms, as devices.Microphone delivers it
LEARN = SAMPLE_RATE  # the room before the first question
LEAD = SAMPLE_RATE // 2
TAIL = SAMPLE_RATE * 3 // 2
W: dict = {}


class ClockMicrophone:
    """The scene in 20 ms blocks on a virtual clock (see the module docstring)."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples
        self.at = 0
        self.clock = 0.0
        self.arrival = 0.0
        self._since: float | None = None

    def start(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def skip(self, seconds: float) -> None:
        pass

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._since is not None:
            self.clock += now - self._since
        self._since = now

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        self._tick()
        if self.at >= self.samples.size:
            self.clock += timeout
            return None
        block = self.samples[self.at:self.at + BLOCK]
        self.at += block.size
        self.arrival = self.at / SAMPLE_RATE
        self.clock = max(self.clock, self.arrival)    # a block is not there before it is spoken
        self._since = time.perf_counter()
        return block

    def latency(self) -> float:
        """The clock now, after the block that ended the answer arrived."""
        self._tick()
        return self.clock - self.arrival


def room_scene(parts: list[np.ndarray], kind: str | None, snr: float | None, seed: int) -> np.ndarray:
    """The room before the question (LEARN), LEAD more, the parts, TAIL of the room; the whole
    mixed with `kind` noise at `snr` dB (kind None: as it is)."""
    x = np.concatenate([np.zeros(LEARN + LEAD, np.int16), *parts, np.zeros(TAIL, np.int16)])
    return x if kind is None else degrade(x, kind, snr, seed=seed)


def scene(clip: dict, kind: str | None, snr: float | None) -> np.ndarray:
    if kind == "babble" and clip["heldout"]:
        kind = "babble_heldout"
    return room_scene([load_wav(measure_recognition.AUDIO / clip["path"])], kind, snr, clip["seed"])


def listen_once(recognizer, grammar, x: np.ndarray):
    """voice_mode.MicrophoneEar, having learnt the room from x's first LEARN samples, listening once
    to the rest on a ClockMicrophone: (what it heard, the ear, the microphone)."""
    from voice_triage.voice_mode import MicrophoneEar
    mic = ClockMicrophone(x[LEARN:])
    ear = MicrophoneEar(mic, recognizer, timeout=5.0, guard=0.0)
    ear.endpointer.learn(x[:LEARN])
    return ear.listen(grammar, None, ""), ear, mic


def init() -> None:
    from voice_triage.recognition.sphinx import SphinxRecognizer
    W["rec"] = SphinxRecognizer("en")
    # The first decodes of a process are slow (pocketsphinx and Moonshine warm up): the product
    # does this in the background before the first question (MicrophoneEar.warm_up).
    for g in W["rec"].grammars.values():
        W["rec"].recognize(scene(dict(path="espeak/yes.wav", heldout=False, seed=0), "babble", 10.0)[LEARN:], g)


def run(job: tuple[dict, str, str | None, float | None]) -> dict:
    clip, cond, kind, snr = job
    rec = W["rec"]
    heard, _, mic = listen_once(rec, rec.grammars[clip["grammar"]], scene(clip, kind, snr))
    latency = mic.latency() if heard is not None else None
    return dict(path=clip["path"], voice=clip["voice"], group=clip["group"], grammar=clip["grammar"],
                value=clip["value"], cond=cond, answer=None if heard is None else heard.answer,
                guess=None if heard is None else heard.guess, latency=latency)


def table(rows: list[dict], conds: list[str]) -> str:
    lines = [f"{'condition':10s} {'answers':>7s} {'right':>7s} {'wrong':>6s} {'read back':>9s} "
             f"{'p50 ms':>7s} {'p95 ms':>7s} {'max ms':>7s} {'>100 ms':>8s}"]
    for cond in conds:
        rr = [r for r in rows if r["cond"] == cond]
        if not rr:
            continue
        right = sum(r["answer"] == r["value"] for r in rr)
        wrong = sum(r["answer"] not in (None, r["value"]) for r in rr)
        back = sum(r["answer"] is None and r["guess"] == r["value"] for r in rr)
        lat = np.array([r["latency"] for r in rr if r["latency"] is not None]) * 1000
        if lat.size == 0:
            lat = np.array([np.nan])
        lines.append(f"{cond:10s} {len(rr):7d} {100 * right / len(rr):6.1f}% {wrong:6d} {back:9d} "
                     f"{np.percentile(lat, 50):7.0f} {np.percentile(lat, 95):7.0f} {lat.max():7.0f} "
                     f"{100 * np.mean(lat > 100):7.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conditions", default="clean,white:10,babble:10")
    p.add_argument("--groups", default="tuned,heldout")
    p.add_argument("--every", type=int, default=1, help="every Nth clip (the same clips in every condition)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--dump", type=Path, help="one JSON row per answer")
    args = p.parse_args(argv)
    conds = parse_conditions(args.conditions)
    names = ["clean" if snr is None else f"{kind}:{snr:g}" for kind, snr in conds]
    clips = [c for c in measure_recognition.tasks(set(args.groups.split(",")))
             if c["group"] in ("tuned", "heldout")][::args.every]
    jobs = [(c, name, None if snr is None else kind, snr) for (kind, snr), name in zip(conds, names) for c in clips]
    t0 = time.time()
    with multiprocessing.Pool(args.jobs, initializer=init) as pool:
        rows = pool.map(run, jobs, chunksize=4)
    if args.dump:
        args.dump.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"bench_listen: {len(clips)} clips x {len(conds)} conditions, {args.jobs} job(s), {time.time() - t0:.0f} s")
    print(table(rows, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
