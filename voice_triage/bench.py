"""`voice-triage bench`: recognition accuracy, rejection, latency, load time and memory on the fixtures.

Every clip of tests/fixtures/audio/manifest.yaml is recognised under the grammar of its value
(yes_no for yes/no/unknown and the commands, pain_location / pain_spread for the locations), in
every noise condition asked for, by every engine in use (with --engine auto: each engine that
loads for the language). Tuned and held-out voices are reported apart; "babble" noise on a
held-out clip uses the held-out babble track, so nothing held out was ever tuned on.
Out-of-grammar clips (value null) are tried under every answer grammar; they should be rejected.

Numbers, per engine x voices x noise:
  correct / rejected (answer None: the interview asks again) / wrong (accepted, but not what was
  said) as shares of the clips; "yes/no wrong": accepted-but-wrong among the yes/no/unknown clips,
  the answers red-flag questions act on; latency: the audio is fed in 20 ms chunks as fast as
  possible and finish() alone is timed, i.e. the wait after the speaker stops (p50 / p95).
With --out FILE, FILE.clips.jsonl also gets every single recognition (text, answer, confidence).
Load time (median of 3 fresh loads) and peak memory (ru_maxrss after loading and one
recognition) come from separate processes, so that the other engines and the benchmark itself
do not count.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import Config, Engine
from .errors import BadInputError, TriageError
from .grammar import COMMANDS_GRAMMAR, Grammar, load_grammars
from .noise import degrade, parse_conditions
from .yamlio import load_yaml

log = logging.getLogger(__name__)

CHUNK = 320             # 20 ms at 16 kHz
LOADS = 3               # fresh model loads timed per engine


def default_fixtures() -> Path:
    return Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "audio"


@dataclass(frozen=True)
class Clip:
    path: str           # absolute
    voice: str
    grammar: str
    value: str | None   # None: out of grammar
    heldout: bool


@dataclass(frozen=True)
class Result:
    engine: str
    clip: Clip
    condition: str      # "clean", "white:10", ...
    answer: str | None
    latency: float      # seconds, finish() alone
    text: str = ""
    confidence: float = 0.0


# ------------------------------------------------------------------------------ fixtures
def load_clips(fixtures: Path, lang: str, voices: str | None, grammars: dict[str, Grammar]) -> list[Clip]:
    manifest_path = fixtures / "manifest.yaml"
    if not manifest_path.is_file():
        raise BadInputError(f"no manifest.yaml in {fixtures} (make it with scripts/make_fixtures.py)")
    manifest = load_yaml(manifest_path, error=BadInputError)
    if not isinstance(manifest, dict):
        raise BadInputError("manifest.yaml is not a mapping", where=str(manifest_path))
    answers = manifest.get("clips", []) if lang == "en" else manifest.get(lang, [])
    if not answers:
        raise BadInputError(f"the fixtures hold no clips for language '{lang}'", where=str(manifest_path))
    out: list[Clip] = []
    for e in answers:
        out.append(Clip(str(fixtures / e["path"]), e["voice"], e["grammar"], e["value"], bool(e["heldout"])))
    answer_grammars = sorted(n for n in grammars if n != COMMANDS_GRAMMAR)
    for e in manifest.get("oog", []):        # out of grammar: tried under every answer grammar
        for g in answer_grammars:
            out.append(Clip(str(fixtures / e["path"]), "oog:" + e["voice"], g, None, bool(e["heldout"])))
    for c in out:
        if c.grammar not in grammars:
            raise BadInputError(f"clip {c.path} names grammar '{c.grammar}', which '{lang}' does not have")
    if voices:
        wanted = {v.strip() for v in voices.split(",") if v.strip()}
        known = {c.voice for c in out if c.value is not None}
        unknown = wanted - known - {"tuned", "heldout", "oog"}
        if unknown:
            raise BadInputError(f"no voice '{sorted(unknown)[0]}' in the fixtures (have: {', '.join(sorted(known))}; "
                                f"or tuned, heldout, oog)")
        out = [c for c in out if c.voice in wanted
               or ("tuned" in wanted and c.value is not None and not c.heldout)
               or ("heldout" in wanted and c.value is not None and c.heldout)
               or ("oog" in wanted and c.value is None)]
    return out


# ------------------------------------------------------------------------------ workers
_WORKER: dict[str, Any] = {}


def _init_worker(config: Config) -> None:
    from .recognition.select import make_recognizer

    _WORKER["recognizer"] = make_recognizer(config)
    _WORKER["grammars"] = load_grammars(config.lang)
    _WORKER["audio"] = {}


def _samples(path: str) -> np.ndarray:
    from .audio import load_wav

    cache = _WORKER["audio"]
    if path not in cache:
        cache[path] = load_wav(path)
    return cache[path]


def _run_one(task: tuple[Clip, str, str | None, float | None]) -> tuple[str | None, float, str, float]:
    clip, condition, kind, snr = task
    samples = _samples(clip.path)
    if kind is not None and snr is not None:
        if kind == "babble" and clip.heldout:
            kind = "babble_heldout"
        seed = zlib.crc32(f"{Path(clip.path).name}|{clip.voice}|{condition}".encode())
        samples = degrade(samples, kind, snr, seed=seed)
    stream = _WORKER["recognizer"].stream(_WORKER["grammars"][clip.grammar])
    for start in range(0, len(samples), CHUNK):
        stream.feed(samples[start:start + CHUNK])
    t0 = time.perf_counter()
    transcript = stream.finish()
    latency = time.perf_counter() - t0
    return transcript.answer, latency, transcript.text, float(transcript.confidence)


def run_engine(config: Config, clips: list[Clip], conditions: list[tuple[str, float | None]],
               jobs: int) -> list[Result]:
    tasks = [(c, "clean" if kind == "clean" else f"{kind}:{snr:g}", None if kind == "clean" else kind, snr)
             for kind, snr in conditions for c in clips]
    if jobs <= 1:
        _init_worker(config)
        answers = [_run_one(t) for t in tasks]
    else:
        # (Not "fork": a process that has run Moonshine holds onnxruntime's threads, and a child
        # forked from it can wait forever on a lock one of them held; each worker loads its own
        # recogniser in _init_worker anyway.)
        with multiprocessing.get_context("spawn").Pool(jobs, _init_worker, (config,)) as pool:
            answers = pool.map(_run_one, tasks, chunksize=8)
    engine = config.engine.value
    return [Result(engine, t[0], t[1], a, lat, text, conf) for t, (a, lat, text, conf) in zip(tasks, answers)]


_PROBE = """
import json, resource, sys, time
from pathlib import Path
from voice_triage.config import Config, Engine
from voice_triage.recognition.select import make_recognizer
from voice_triage.audio import load_wav
from voice_triage.grammar import load_grammars
from voice_triage.errors import TriageError
a = json.loads(sys.argv[1])
cfg = Config(lang=a["lang"], engine=Engine(a["engine"]), model=Path(a["model"]) if a["model"] else None)
t = time.perf_counter()
try:
    rec = make_recognizer(cfg)
except TriageError as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(0)
load = time.perf_counter() - t
getattr(rec, "judge", None)      # the bundled engine's second opinion loads in the background
full = time.perf_counter() - t
rec.recognize(load_wav(a["clip"]), load_grammars(a["lang"])[a["grammar"]])
print(json.dumps({"load": load, "load_all": full, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def probe_engine(config: Config, clip: Clip, loads: int = LOADS) -> dict[str, float]:
    """Load time (median of fresh processes) and peak memory (max) of one engine."""
    arg = json.dumps({"lang": config.lang, "engine": config.engine.value,
                      "model": str(config.model) if config.model else None,
                      "clip": clip.path, "grammar": clip.grammar})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    runs = []
    for _ in range(loads):
        done = subprocess.run([sys.executable, "-c", _PROBE, arg], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise TriageError(f"engine {config.engine.value} failed to load in a fresh process: "
                              f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
        if "error" in run:
            raise TriageError(run["error"])
        runs.append(run)
    return {"load_s": statistics.median(r["load"] for r in runs),
            "load_all_s": statistics.median(r.get("load_all", r["load"]) for r in runs),
            "rss_mb": max(r["rss_mb"] for r in runs)}


# ------------------------------------------------------------------------------ numbers
def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "-"


def summarize(results: Iterable[Result]) -> list[dict[str, Any]]:
    """One row per engine x voice group (tuned / held-out / out of grammar) x condition."""
    groups: dict[tuple[str, str, str], list[Result]] = {}
    for r in results:
        group = "out-of-grammar" if r.clip.value is None else ("held-out" if r.clip.heldout else "tuned")
        groups.setdefault((r.engine, group, r.condition), []).append(r)
    rows = []
    for (engine, group, condition), rs in groups.items():
        n = len(rs)
        correct = sum(r.answer is not None and r.answer == r.clip.value for r in rs)
        rejected = sum(r.answer is None for r in rs)
        wrong = n - correct - rejected
        yn = [r for r in rs if (r.clip.value in ("yes", "no", "unknown")) or (r.clip.value is None and r.clip.grammar == "yes_no")]
        yn_wrong = sum(r.answer is not None and r.answer != r.clip.value for r in yn)
        lat = [r.latency for r in rs]
        rows.append({"engine": engine, "voices": group, "noise": condition, "clips": n,
                     "correct": correct / n, "rejected": rejected / n, "wrong": wrong / n,
                     "yes_no_clips": len(yn), "yes_no_wrong": yn_wrong / len(yn) if yn else None,
                     "latency_p50_ms": 1000 * float(np.percentile(lat, 50)),
                     "latency_p95_ms": 1000 * float(np.percentile(lat, 95))})
    return rows


def per_voice(results: Iterable[Result]) -> dict[tuple[str, str, bool], dict[str, tuple[int, int, int]]]:
    """(engine, voice, heldout) -> condition -> (correct, rejected, clips)."""
    out: dict[tuple[str, str, bool], dict[str, list[int]]] = {}
    for r in results:
        if r.clip.value is None:
            continue
        cell = out.setdefault((r.engine, r.clip.voice, r.clip.heldout), {}).setdefault(r.condition, [0, 0, 0])
        cell[0] += r.answer == r.clip.value
        cell[1] += r.answer is None
        cell[2] += 1
    return {k: {c: (v[0], v[1], v[2]) for c, v in d.items()} for k, d in out.items()}


def markdown(rows: list[dict[str, Any]], engines: dict[str, dict[str, Any]],
             voices: dict[tuple[str, str, bool], dict[str, tuple[int, int, int]]], conditions: list[str],
             lang: str, seconds: float) -> str:
    lines = [f"# voice-triage recognition benchmark ({lang})", ""]
    lines += ["| engine | model | load s (median of 3) | with second opinion s | peak memory MB |",
              "|---|---|---|---|---|"]
    for name, info in engines.items():
        lines.append(f"| {name} | {info.get('model') or 'bundled'} | {info['load_s']:.2f} | "
                     f"{info.get('load_all_s', info['load_s']):.2f} | {info['rss_mb']:.0f} |")
    lines += ["", "Shares of clips. rejected = no answer (the interview asks again); wrong = accepted but not "
              "what was said; yes/no wrong = the same among yes/no/unknown clips (for out-of-grammar rows: "
              "accepted under the yes/no grammar). Latency = finish() after the last audio.", ""]
    lines += ["| engine | voices | noise | clips | correct | rejected | wrong | yes/no wrong | latency p50 ms | p95 ms |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    order = {"tuned": 0, "held-out": 1, "out-of-grammar": 2}
    for r in sorted(rows, key=lambda r: (r["engine"], order[r["voices"]], conditions.index(r["noise"]))):
        ynw = "-" if r["yes_no_wrong"] is None else f"{100 * r['yes_no_wrong']:.1f}%"
        correct = "-" if r["voices"] == "out-of-grammar" else f"{100 * r['correct']:.1f}%"
        lines.append(f"| {r['engine']} | {r['voices']} | {r['noise']} | {r['clips']} | {correct} | "
                     f"{100 * r['rejected']:.1f}% | {100 * r['wrong']:.1f}% | {ynw} | "
                     f"{r['latency_p50_ms']:.0f} | {r['latency_p95_ms']:.0f} |")
    lines += ["", "Per voice: correct / rejected (of the clips).", ""]
    lines += ["| engine | voice | held out | " + " | ".join(conditions) + " |",
              "|---|---|---|" + "---|" * len(conditions)]
    for (engine, voice, heldout), cells in sorted(voices.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        parts = []
        for c in conditions:
            ok, rej, n = cells.get(c, (0, 0, 0))
            parts.append(f"{_pct(ok, n)} / {_pct(rej, n)}")
        lines.append(f"| {engine} | {voice} | {'yes' if heldout else 'no'} | " + " | ".join(parts) + " |")
    lines += ["", f"Run time {seconds:.0f} s ({os.cpu_count()} CPUs)."]
    return "\n".join(lines) + "\n"


def write_clip_results(path: Path, results: list[Result]) -> None:
    """Every recognition, one JSON object a line, for looking into what went wrong."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps({"engine": r.engine, "file": r.clip.path, "voice": r.clip.voice,
                                 "heldout": r.clip.heldout, "grammar": r.clip.grammar, "noise": r.condition,
                                 "value": r.clip.value, "answer": r.answer, "text": r.text,
                                 "confidence": round(r.confidence, 4), "latency_ms": round(1000 * r.latency, 1)},
                                ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------ entry point
def engines_in_use(config: Config) -> list[Config]:
    """The engines to measure: the one asked for, or with auto every engine that can serve the language."""
    if config.engine is not Engine.AUTO:
        return [config]
    from .recognition.models import locate_model

    out = []
    if locate_model(config.lang, config.model) is not None:
        out.append(replace(config, engine=Engine.VOSK))
    out.append(replace(config, engine=Engine.SPHINX))
    return out


def run_bench(config: Config, fixtures: Path | None = None, noise: str = "clean,white:10,babble:10",
              voices: str | None = None, out: Path | None = None, jobs: int | None = None) -> int:
    started = time.perf_counter()
    fixtures = Path(fixtures) if fixtures else default_fixtures()
    conditions = parse_conditions(noise)
    names = ["clean" if k == "clean" else f"{k}:{s:g}" for k, s in conditions]
    grammars = load_grammars(config.lang)
    clips = load_clips(fixtures, config.lang, voices, grammars)
    if not clips:
        raise BadInputError("no clips left to run after --voices")
    jobs = jobs or max(1, min(2, os.cpu_count() or 1))
    results: list[Result] = []
    engines: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for engine_config in engines_in_use(config):
        name = engine_config.engine.value
        probe_clip = next((c for c in clips if c.value is not None), clips[0])
        try:    # load time and memory in fresh processes; an engine that cannot load fails here
            info: dict[str, Any] = dict(probe_engine(engine_config, probe_clip))
        except TriageError as exc:
            if config.engine is not Engine.AUTO:
                raise
            skipped.append(f"{name}: {exc}")
            continue
        print(f"bench: {name}: {len(clips)} clips x {len(conditions)} conditions, {jobs} processes ...",
              file=sys.stderr, flush=True)
        info["model"] = None
        if name == "vosk":
            from .recognition.models import locate_model

            loc = locate_model(config.lang, config.model)
            info["model"] = f"{loc.path.parent.name}/{loc.path.name}" if loc else None
        engines[name] = info
        results += run_engine(engine_config, clips, conditions, jobs)
    if not engines:
        raise TriageError("no engine could be loaded: " + "; ".join(skipped))
    rows = summarize(results)
    seconds = time.perf_counter() - started
    table = markdown(rows, engines, per_voice(results), names, config.lang, seconds)
    if skipped:
        table += "\nNot measured: " + "; ".join(skipped) + "\n"
    if out:
        Path(out).write_text(table, encoding="utf-8")
        write_clip_results(Path(str(out) + ".clips.jsonl"), results)
    if config.json:
        print(json.dumps({"lang": config.lang, "engines": engines, "rows": rows, "seconds": round(seconds, 1),
                          "skipped": skipped}))
    else:
        print(table, end="")
    return 0
