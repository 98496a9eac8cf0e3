"""Measure the bundled pocketsphinx recogniser on the audio fixtures: correct / rejected / wrong per
voice group x noise condition, yes/no wrong, out-of-grammar accepted, finish() latency.

    python scripts/measure_recognition.py [--conditions clean,white:10,babble:10,white:5,babble:5]
        [--groups tuned,heldout,oog,unsure_place] [--jobs 2] [--evidence /tmp/ev.jsonl] [--enhance auto|off]

Clip i of the manifest (answers first, then the out-of-grammar clips) is mixed with
voice_triage.noise.degrade(clean, kind, snr, seed=i) (noise, or a room or microphone:
reverb:RT60, far:RT60, narrowband:RATE, gain:DB); "babble" on a held-out clip uses the held-out
babble track. Group unsure_place: every "I don't know" clip (every voice) asked again under the two
location grammars (where the pain is, where it travels), whose "I don't know" competes with places
rather than with yes and no; same mix as the clip under yes/no. --grammars keeps only the clips
under those grammars, with the seeds of a full run. Every decode is run (full evidence), so
--evidence dumps what a rejection rule needs (for re-fitting the thresholds on the tuned voices,
scripts/redecide.py); the table uses the recogniser's own rules.
Latency (every 7th clip per condition, the product's path without the extra calibration decodes):
a stream is fed 20 ms chunks; finish() is timed (end of audio -> answer), and so is the longest
feed() call, which holds the decode run when the speaker has paused for 80 ms (the live endpointer
waits 500 ms of silence, so that decode is normally done before the end of the audio). These are
bare clips with their recorded ~0.3 s tail and no endpointer: the latency a user waits on (the
live ear, background noise running on after the answer) is scripts/bench_listen.py's.
Second opinion: Moonshine over every phrase when pocketsphinx is not sure, when installed
(--second-opinion off to compare).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_triage.audio import load_wav  # noqa: E402
from voice_triage.noise import degrade, parse_conditions  # noqa: E402
from voice_triage.yamlio import load_yaml  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
YES_NO = {"yes", "no", "unknown"}
UNSURE_PLACE = "unsure_place"
LOCATION_GRAMMARS = ("pain_location", "pain_spread")
GROUPS = ("tuned", "heldout", UNSURE_PLACE)
W: dict = {}


def tasks(groups: set[str]) -> list[dict]:
    m = load_yaml(AUDIO / "manifest.yaml")
    out = []
    english = [c for c in m["clips"] if c.get("lang", "en") == "en"]
    for i, c in enumerate(english):           # clip i's noise seed is i (the table's mixes)
        g = "heldout" if c["heldout"] else "tuned"
        if g in groups:
            out.append(dict(path=c["path"], voice=c["voice"], grammar=c["grammar"], value=c["value"],
                            heldout=c["heldout"], group=g, seed=i))
    if UNSURE_PLACE in groups:               # "I don't know" where a place is expected: the same mix
        out += [dict(path=c["path"], voice=c["voice"], grammar=gname, value="unknown", heldout=c["heldout"],
                     group=UNSURE_PLACE, seed=i)
                for i, c in enumerate(english) if c["value"] == "unknown" for gname in LOCATION_GRAMMARS]
    for i, c in enumerate(m.get("oog") or [], len(english)):
        if "oog" in groups:
            out += [dict(path=c["path"], voice=c["voice"], grammar=gname, value=None, heldout=c["heldout"],
                         group="oog", seed=i) for gname in ("yes_no", "pain_location", "pain_spread")]
    return out


def init(enhance: str, second_opinion: bool, threads: int) -> None:
    from voice_triage.recognition.sphinx import SphinxRecognizer
    rec = SphinxRecognizer("en", second_opinion=second_opinion, threads=threads)
    if enhance != "auto" and hasattr(rec, "enhance"):
        rec.enhance = enhance != "off"
    rec.full_evidence = True
    W["rec"] = rec


def run(job: tuple[dict, str, str | None, float | None, bool]) -> dict:
    from voice_triage.recognition.decision import decide
    clip, cond, kind, snr, time_it = job
    rec = W["rec"]
    x = load_wav(AUDIO / clip["path"])
    if kind:
        if kind == "babble" and clip["heldout"]:
            kind = "babble_heldout"
        x = degrade(x, kind, snr, seed=clip["seed"])
    g = rec.grammars[clip["grammar"]]
    lat = work = None
    if time_it:   # the product's path: only the decodes the rule uses
        rec.full_evidence = False
        s = rec.stream(g)
        work = 0.0
        for i in range(0, len(x), 320):
            t0 = time.perf_counter()
            s.feed(x[i:i + 320])
            work = max(work, time.perf_counter() - t0)
        t0 = time.perf_counter()
        s.finish()
        lat = time.perf_counter() - t0
        rec.full_evidence = True
    ev = rec.evidence(x, g)
    return evidence_row(clip, cond, g, ev, decide(g, ev, rec.rule_for(g)), lat, work)


def evidence_row(clip: dict, cond: str, g, ev, t, lat: float | None = None, work: float | None = None) -> dict:
    """One --evidence line: the clip, what was decided, and everything decide() read (redecide.py
    rebuilds the Evidence from it)."""
    rival = ev.alternatives[0][0] if ev.alternatives else ""
    return dict(clip, cond=cond, text=ev.text, heard=g.match(ev.text) if ev.text else None, answer=t.answer,
                confidence=t.confidence, guess=t.guess,
                rival=rival, rival_heard=g.match(rival) if rival else None,
                verify=ev.verify if np.isfinite(ev.verify) else -99.0,
                margin=ev.margin if np.isfinite(ev.margin) else 99.0, agreement=ev.agreement,
                fpp=ev.extra.get("frames_per_phone", 0.0), latency=lat, work=work,
                extra={k: v for k, v in ev.extra.items()},
                second=dataclasses.asdict(ev.second) if ev.second is not None else None)


def table(rows: list[dict]) -> str:
    conds = list(dict.fromkeys(r["cond"] for r in rows))
    lines = ["| group | condition | n | correct | rejected | (of which a guess read back: right / wrong) | wrong "
             "| yes/no wrong | best-phrase right | OOG accepted (yes/no) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for grp in GROUPS:
        for cond in conds:
            rs = [r for r in rows if r["group"] == grp and r["cond"] == cond]
            if not rs:
                continue
            n = len(rs)
            ok = sum(r["answer"] == r["value"] for r in rs)
            rej = sum(r["answer"] is None for r in rs)
            wrong = n - ok - rej
            ynw = "-" if grp == UNSURE_PLACE else sum(    # (a yes, no or "I don't know" said or taken)
                1 for r in rs if r["answer"] is not None and r["answer"] != r["value"]
                and ({r["answer"], r["value"]} & YES_NO))
            best = sum(r["heard"] == r["value"] for r in rs)
            g_ok = sum(r["answer"] is None and r.get("guess") == r["value"] for r in rs)
            g_bad = sum(r["answer"] is None and r.get("guess") not in (None, r["value"]) for r in rs)
            lines.append(f"| {grp} | {cond} | {n} | {ok / n:.1%} | {rej / n:.1%} | {g_ok / n:.1%} / {g_bad / n:.1%} "
                         f"| {wrong / n:.2%} | {ynw} | {best / n:.1%} | |")
    for cond in conds:
        rs = [r for r in rows if r["group"] == "oog" and r["cond"] == cond]
        if rs:
            acc = sum(r["answer"] is not None for r in rs)
            accyn = sum(r["answer"] is not None and r["grammar"] == "yes_no" for r in rs)
            guessed = sum(r["answer"] is None and r.get("guess") is not None for r in rs)
            lines.append(f"| oog | {cond} | {len(rs)} | | | {guessed} guessed | | | | {acc} ({accyn}) |")
    lat = [r["latency"] for r in rows if r["latency"] is not None]
    if lat:
        work = [r["work"] for r in rows if r["work"] is not None]
        lines.append(f"\nend of audio -> answer (finish()) over {len(lat)} streams: p50 {np.percentile(lat, 50) * 1000:.1f} ms, "
                     f"p95 {np.percentile(lat, 95) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms")
        lines.append(f"longest feed() call (the decode run once the speaker has paused 80 ms): "
                     f"p50 {np.percentile(work, 50) * 1000:.0f} ms, p95 {np.percentile(work, 95) * 1000:.0f} ms, "
                     f"max {max(work) * 1000:.0f} ms")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conditions", default="clean,white:10,babble:10,white:5,babble:5")
    ap.add_argument("--groups", default="tuned,heldout,oog,unsure_place",
                    help="tuned, heldout, oog (out of grammar), unsure_place (\"I don't know\" at the "
                         "location questions) (default: %(default)s)")
    ap.add_argument("--grammars", help="only clips asked under these grammars, e.g. pain_location,pain_spread")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--evidence")
    ap.add_argument("--enhance", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--second-opinion", default="on", choices=["on", "off"],
                    help="Moonshine's second opinion on answers pocketsphinx is not sure of (on when installed)")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="added to every noise seed: other mixes of the same clips (for fitting the rule)")
    ap.add_argument("--audio", type=Path, help="another folder of clips with its manifest.yaml (e.g. made by "
                                               "make_fixtures.py --extra-voices DIR; its voices count as held out)")
    a = ap.parse_args()
    if a.audio is not None:
        global AUDIO
        AUDIO = a.audio
    clips = tasks(set(a.groups.split(",")))
    if a.grammars:     # (after the seeds are given out: the same mixes as a run over every grammar)
        clips = [c for c in clips if c["grammar"] in a.grammars.split(",")]
    for c in clips:
        c["seed"] += a.seed_offset
    jobs = []
    for kind, snr in parse_conditions(a.conditions):
        cond = "clean" if kind == "clean" else f"{kind}:{snr:g}"
        for j, c in enumerate(clips):
            jobs.append((c, cond, None if kind == "clean" else kind, snr, j % 7 == 0))
    t0 = time.perf_counter()
    threads = max(1, (os.cpu_count() or 1) // a.jobs)
    with multiprocessing.get_context("fork").Pool(a.jobs, init, (a.enhance, a.second_opinion == "on", threads)) as pool:
        rows = pool.map(run, jobs, chunksize=4)
    if a.evidence:
        with open(a.evidence, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print(table(rows))
    print(f"\n{len(rows)} recognitions in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
