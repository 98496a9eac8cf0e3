#!/usr/bin/env python3
"""Turn latency of the hands-free interview, through the virtual audio devices.

Start the devices first (`bash scripts/audio_server.sh`). This runs `voice-triage` as a user
would, with a simulated person on the far side of the virtual devices: it hears the program's
speaker (records vt_sink.monitor), and after each prompt says an answer into the program's
microphone (plays into vt_mic). For each turn it measures, on one clock, from the last sound
of the answer (as it arrived in the microphone, vt_mic.monitor) to the first sound of the next
prompt (as it left the speaker). That includes the end-of-speech wait, recognition, the
interview's step, speech synthesis and the audio path.

    python scripts/bench_latency.py --turns 24            # p50/p95 on stdout
    python scripts/bench_latency.py --turns 24 --json     # one JSON object

The answers are espeak-ng recordings made on the fly (nothing is stored); the person cycles
through `--answers` (default: no, I don't know, yes). Target: p95 <= 800 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RATE = 16_000
BLOCK = 160           # 10 ms blocks from the recorders
SOUND = 200           # |sample| above this is sound (the null sinks are digitally silent)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"bench_latency: '{tool}' is missing (Debian: pulseaudio-utils)")
    return path


class Recorder:
    """parec on one source, 10 ms blocks, each stamped with time.monotonic() on arrival."""

    def __init__(self, source: str) -> None:
        self.proc = subprocess.Popen(
            [_need("parec"), f"--device={source}", f"--rate={RATE}", "--channels=1", "--format=s16le",
             "--latency-msec=10"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.times: list[float] = []
        self.peaks: list[int] = []
        self.chunks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = self.proc.stdout.read(BLOCK * 2)
            if not raw:
                return
            x = np.frombuffer(raw, dtype="<i2")
            with self._lock:
                self.times.append(time.monotonic())
                self.peaks.append(int(np.abs(x.astype(np.int32)).max()) if x.size else 0)
                self.chunks.append(x.copy())

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            return np.array(self.times), np.array(self.peaks)

    def audio_since(self, t0: float) -> np.ndarray:
        with self._lock:
            keep = [c for t, c in zip(self.times, self.chunks) if t >= t0]
        return np.concatenate(keep) if keep else np.zeros(0, np.int16)

    def first_sound_after(self, t0: float) -> float | None:
        times, peaks = self.snapshot()
        hit = np.nonzero((times > t0) & (peaks > SOUND))[0]
        return float(times[hit[0]]) if hit.size else None

    def last_sound_between(self, t0: float, t1: float) -> float | None:
        times, peaks = self.snapshot()
        hit = np.nonzero((times > t0) & (times <= t1) & (peaks > SOUND))[0]
        return float(times[hit[-1]]) if hit.size else None

    def quiet_since(self, seconds: float) -> bool:
        """Sound was heard, and nothing for the last `seconds`."""
        times, peaks = self.snapshot()
        if not times.size:
            return False
        loud = np.nonzero(peaks > SOUND)[0]
        return bool(loud.size) and times[-1] - times[loud[-1]] >= seconds

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Mouth:
    """pacat into vt_mic: what is written is heard by whatever records vt_mic.monitor."""

    def __init__(self, sink: str = "vt_mic") -> None:
        self.proc = subprocess.Popen(
            [_need("pacat"), "--playback", f"--device={sink}", f"--rate={RATE}", "--channels=1",
             "--format=s16le", "--latency-msec=20"], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def say(self, samples: np.ndarray) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(np.asarray(samples, dtype="<i2").tobytes())
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def espeak(text: str, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """`text` spoken by espeak-ng, as int16 16 kHz (rendered to a temporary file, deleted)."""
    from voice_triage.audio import load_wav

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.wav"
        subprocess.run([_need("espeak-ng"), "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
        return load_wav(path)


class VirtualRoom:
    """The far side of the virtual devices: the program's speaker and microphone."""

    def __init__(self) -> None:
        self.speaker = Recorder("vt_sink.monitor")   # what the program says
        self.mic = Recorder("vt_mic.monitor")        # what the program's microphone hears
        self.mouth = Mouth("vt_mic")
        time.sleep(0.3)

    def wait_for_prompt(self, after: float, quiet: float = 0.7, timeout: float = 60.0) -> float | None:
        """Wait for the program to speak after `after` and then fall quiet; when it began."""
        deadline = time.monotonic() + timeout
        start = None
        while time.monotonic() < deadline:
            if start is None:
                start = self.speaker.first_sound_after(after)
            if start is not None and self.speaker.quiet_since(quiet):
                times, peaks = self.speaker.snapshot()
                if times[np.nonzero(peaks > SOUND)[0][-1]] > start - 1e-9:
                    return start
            time.sleep(0.02)
        return start

    def answer(self, samples: np.ndarray) -> tuple[float, float]:
        """Say `samples` into the microphone; (when it was sent, its expected end)."""
        sent = time.monotonic()
        self.mouth.say(np.concatenate([samples, np.zeros(RATE // 10, np.int16)]))
        return sent, sent + samples.size / RATE

    def close(self) -> None:
        self.mouth.close()
        self.speaker.close()
        self.mic.close()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def run(turns: int, answers: list[str], extra_args: list[str], debug: bool) -> dict:
    env = dict(os.environ, PULSE_SINK="vt_sink", PULSE_SOURCE="vt_mic.monitor")
    phrases = {a: espeak(a) for a in dict.fromkeys(answers)}
    room = VirtualRoom()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "voice_triage", *extra_args], env=env,
                            stdout=subprocess.DEVNULL, stderr=None if debug else subprocess.DEVNULL)
    latencies: list[float] = []
    missed = 0
    try:
        prompt_at = room.wait_for_prompt(t0, timeout=60.0)
        if prompt_at is None:
            raise SystemExit("bench_latency: the program never spoke (is the audio server running?)")
        n = 0
        while len(latencies) < turns and proc.poll() is None:
            text = answers[n % len(answers)]
            n += 1
            sent, expected_end = room.answer(phrases[text])
            nxt = room.wait_for_prompt(expected_end, timeout=20.0)
            if nxt is None:
                missed += 1
                if proc.poll() is not None or missed > 3:
                    break
                continue
            end = room.mic.last_sound_between(sent, nxt)
            if end is None:
                missed += 1
                continue
            latencies.append(nxt - end)
            if debug:
                print(f"turn {len(latencies):2d}: said {text!r:16} next prompt after {1000 * (nxt - end):4.0f} ms",
                      file=sys.stderr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        room.close()
    ms = [1000 * v for v in latencies]
    return {"turns": len(ms), "missed": missed, "p50_ms": round(percentile(ms, 50)),
            "p95_ms": round(percentile(ms, 95)), "max_ms": round(max(ms)) if ms else None,
            "latencies_ms": [round(v) for v in ms]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=24)
    parser.add_argument("--answers", default="no,I don't know,yes", help="comma-separated answers, said in turn")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--debug", action="store_true", help="print each turn (and the program's stderr)")
    parser.add_argument("args", nargs="*", help="extra arguments for voice-triage (after --)")
    a = parser.parse_args()
    result = run(a.turns, [s.strip() for s in a.answers.split(",") if s.strip()], a.args, a.debug)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"turns {result['turns']} (missed {result['missed']}): end of answer -> next prompt "
              f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms")
    return 0 if result["turns"] else 1


if __name__ == "__main__":
    sys.exit(main())
