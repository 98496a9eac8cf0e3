#!/usr/bin/env python3
"""Session benchmark: whole simulated interviews through the real recogniser.

    python scripts/bench_sessions.py                      # every public vignette x every fixture voice
    python scripts/bench_sessions.py --out bench-out/sessions.md --workers 2
    python scripts/bench_sessions.py --cases p01 p08 --voices espeak flite_kal8 --conditions clean

For every public vignette (red flags it does not list answered "no", as the vignette file says),
every fixture voice (the tuned ones and the held-out ones, reported separately) and every
condition (clean; white noise 10 dB; background talk 10 dB), it runs `session.simulate`: the
interview asks, a simulated person answers from the vignette by playing that voice's clip for
the answer, and the bundled recogniser (or --engine) hears it. Noisy conditions mix every clip
with `voice_triage.noise.degrade` into a temporary phrases folder first (fixed seeds, so a rerun
gives the same numbers), --draws times over independent stretches of noise (default 4), as
`<value>.N.wav` variants that simulate plays in turn: someone who says "no" again is heard over
other noise than the first time. With --draws 1 every repeat of a clip in a session is the very
same recording, so one clip the recogniser cannot hear fails every time it comes round. Speed: each worker takes one voice and condition at a time and
recognises a given clip under a given grammar once, reusing the answer in later sessions (the
recogniser keeps no state between utterances); `--no-cache` calls `session.simulate` for every
session instead (about 20x slower) to check that. Held-out voices hear held-out babble (other talkers than the tuning
babble); a held-out voice says only 3 of every 5 values, so its missing values are filled from
the other held-out voices (never from a tuned voice).

Per condition it reports (sessions pooled over vignettes and voices):
- answers right: share of sessions whose settled answers all equal the intended ones, over every
  question the interview settled (an "I don't know" the interview settled on after failing to
  hear counts as wrong); misheard answers: settled with a wrong value other than "I don't know";
- red-flag yes -> no: settled "no" for a red flag the person said "yes" to (must be 0; the script
  exits 1 when it is not);
- urgency right, first cause right (over vignettes that name acceptable first causes);
- turns per question: spoken turns over questions asked (re-asks, read-backs and the closing
  "repeat that?" included); the "perfect hearing" row is the floor the interview itself sets;
  answer turns per question leaves the read-backs and the closing offer out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_triage.model import RED_FLAGS, Answer  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
CASES = ROOT / "tests" / "cases" / "public.yaml"
CONDITIONS = ("clean", "white:10", "babble:10")
PERFECT = "perfect hearing"


@dataclass(frozen=True)
class Job:
    case: str
    voice: str
    heldout: bool
    condition: str
    phrases: str          # folder of <value>[.N].wav for this voice and condition


def load_cases(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    default = data.get("red_flags_default", Answer.NO.value)
    return [{**c, "answers": {**{f: default for f in RED_FLAGS}, **c["answers"]}} for c in data["cases"]]


def load_voices() -> dict[str, bool]:
    """Voice -> held out, from the fixture manifest."""
    manifest = yaml.safe_load((AUDIO / "manifest.yaml").read_text())
    return {name: bool(v.get("heldout")) for name, v in manifest["voices"].items()}


def voice_dir(voice: str, heldout: bool) -> Path:
    return AUDIO / ("heldout" if heldout else "") / voice


def clips_for(voice: str, heldout: bool, all_voices: dict[str, bool]) -> dict[str, list[Path]]:
    """value -> clip files; a held-out voice's missing values come from the other held-out voices."""
    from voice_triage.session import index_phrases

    clips = index_phrases(voice_dir(voice, heldout))
    if heldout:
        for other in sorted(v for v, h in all_voices.items() if h and v != voice):
            for value, paths in index_phrases(voice_dir(other, True)).items():
                clips.setdefault(value, paths)
    return clips


def noise_kind(condition: str, heldout: bool) -> tuple[str, float] | None:
    """(kind, value) for noise.degrade, None when clean; "babble" on a held-out voice is the held-out track."""
    from voice_triage.noise import parse_conditions

    (kind, value), = parse_conditions(condition)
    if kind == "babble" and heldout:
        kind = "babble_heldout"
    return None if kind == "clean" else (kind, value)


def make_phrases(dest: Path, clips: dict[str, list[Path]], condition: str, heldout: bool, voice: str,
                 draws: int = 1) -> None:
    """A phrases folder for simulate: each clip as <value>[.N].wav, noise mixed in (seeded per clip).

    With `draws` > 1 each clip is mixed with that many independent stretches of noise, numbered so
    that simulate's rotation changes the wording first and then the noise: a person who says "no"
    a second time is heard over other noise, not over the very same noise again (with one draw,
    every repeat of a clip in a session is the identical recording, so a try that failed fails
    again each time that clip comes round)."""
    from voice_triage.audio import load_wav, write_wav
    from voice_triage.noise import degrade

    dest.mkdir(parents=True)
    noise = noise_kind(condition, heldout)
    for value, paths in clips.items():
        variants = [(src, 0) for src in paths] if noise is None else \
            [(src, d) for d in range(max(1, draws)) for src in paths]
        for i, (src, d) in enumerate(variants):
            out = dest / (f"{value}.wav" if i == 0 else f"{value}.{i}.wav")
            if noise is None:
                shutil.copyfile(src, out)
                continue
            tag = f"{voice}/{src.name}/{condition}" + (f"/{d}" if d else "")
            write_wav(out, degrade(load_wav(src), noise[0], noise[1], seed=zlib.crc32(tag.encode())))


def intended_value(content: Any, answers: dict[str, str], qid: str) -> str:
    """What the person means for question `qid` (a grouped red-flag question: any member yes -> yes)."""
    q = content.questions[qid]
    if q.members:
        values = [answers.get(m, Answer.UNKNOWN.value) for m in q.members]
        if Answer.YES.value in values:
            return Answer.YES.value
        if all(v == Answer.NO.value for v in values):
            return Answer.NO.value
    return answers.get(qid, Answer.UNKNOWN.value)


def score(content: Any, case: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    answers = case["answers"]
    expect = case.get("expect", {})
    settled = data["answers"]
    wrong = {q: (intended_value(content, answers, q), v) for q, v in settled.items()
             if v != intended_value(content, answers, q)}
    rf_yes_no = [f for f in RED_FLAGS if answers.get(f) == Answer.YES.value and settled.get(f) == Answer.NO.value]
    top = expect.get("top")
    return {
        "answers_right": not wrong,
        "wrong": {q: f"{a}->{b}" for q, (a, b) in wrong.items()},
        "rf_yes_no": rf_yes_no,
        "urgency_right": data["urgency"] == expect.get("urgency"),
        "cause_right": (data["causes"][0]["id"] in top) if top else None,
        "misheard": sum(1 for a, b in wrong.values() if b != Answer.UNKNOWN.value),
        "turns": data["turns"],
        "answer_turns": sum(1 for t in data["transcript"] if t.get("kind", "answer") == "answer"),
        "questions": data["questions_asked"],
    }


# --- one session per job, in a worker that loads the recogniser once ----------------------------

_STATE: dict[str, Any] = {}


def _init(engine: str, cases_path: str, cache: bool = True, tmp: str | None = None) -> None:
    import logging

    logging.disable(logging.WARNING)
    from voice_triage.config import Config, Engine
    from voice_triage.content import load_content

    _STATE["config"] = Config(engine=Engine(engine), quiet=True)
    _STATE["content"] = load_content("en")
    _STATE["cases"] = {c["id"]: c for c in load_cases(Path(cases_path))}
    # (Inside the run's folder, so that it is removed with it.)
    _STATE["tmp"] = Path(tempfile.mkdtemp(prefix="bench-answers-", dir=tmp))
    _STATE["cache"] = cache


def simulate_cached(answers_file: Path, phrases: Path) -> dict[str, Any]:
    """`session.simulate`, step for step (same speaker, same clip rotation, same interview loop),
    but each (clip, grammar) is recognised once per worker: the recogniser keeps no state between
    utterances (batch CMN per utterance) but the speaker warp it follows, so the answer is the same
    every time for a clip, grammar and warp. --no-cache checks."""
    from voice_triage.answers import load_answers_file
    from voice_triage.audio import load_wav
    from voice_triage.recognition.select import follow_speaker, make_recognizer
    from voice_triage.session import VOICE_POLICY, RecordingVoice, drive, index_phrases, speaker_answer

    content = _STATE["content"]
    answers = load_answers_file(answers_file, content)
    cycles = {v: itertools.cycle(paths) for v, paths in index_phrases(phrases).items()}
    recognizer = make_recognizer(_STATE["config"])
    follow_speaker(recognizer)
    cache = _STATE.setdefault("heard", {})
    warps = hasattr(recognizer, "follow_speaker")

    def hear(action, grammar):
        path = next(cycles[speaker_answer(content, answers, action)])
        if not warps:
            key = (str(path), grammar.name)
            if key not in cache:
                cache[key] = recognizer.recognize(load_wav(path), grammar)
            return cache[key]
        # pocketsphinx following the speaker: the answer depends on the warp learnt so far, and
        # every answer is learnt from as the real recogniser would (its fits are memoised by audio)
        s = recognizer.stream(grammar)       # (learns from the answer before: the warp is now this answer's)
        key = (str(path), grammar.name, recognizer.warp)
        if key not in cache:
            s.feed(load_wav(path))
            cache[key] = (s.finish(), s.evidence, s.decoded)
        else:
            recognizer.heard(grammar, cache[key][1], cache[key][2])
        return cache[key][0]

    return drive(content, hear, RecordingVoice(), VOICE_POLICY).to_json()


def run_job(job: Job) -> dict[str, Any]:
    from voice_triage.session import simulate

    case = _STATE["cases"][job.case]
    answers_file = _STATE["tmp"] / f"{os.getpid()}.json"
    answers_file.write_text(json.dumps(case["answers"]))
    t0 = time.perf_counter()
    if _STATE["cache"]:
        data = simulate_cached(answers_file, Path(job.phrases))
    else:
        data = simulate(_STATE["config"], answers_file, Path(job.phrases))
    out = score(_STATE["content"], case, data)
    out.update(case=job.case, voice=job.voice, heldout=job.heldout, condition=job.condition,
               seconds=time.perf_counter() - t0)
    return out


def run_jobs(jobs: list[Job]) -> list[dict[str, Any]]:
    """One voice and condition: its sessions in one worker, so that the cache is shared."""
    _STATE.pop("heard", None)
    return [run_job(j) for j in jobs]


def perfect_hearing(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same interviews heard exactly: the floor on turns per question."""
    from voice_triage.content import load_content
    from voice_triage.recognition.base import Transcript
    from voice_triage.session import VOICE_POLICY, RecordingVoice, drive, speaker_answer

    content = load_content("en")
    rows = []
    for case in cases:
        def hear(action, grammar, answers=case["answers"]):
            value = speaker_answer(content, answers, action)
            return Transcript(value, value, 1.0, ())
        result = drive(content, hear, RecordingVoice(), VOICE_POLICY).to_json()
        row = score(content, case, result)
        row.update(case=case["id"], voice="-", heldout=False, condition=PERFECT, seconds=0.0)
        rows.append(row)
    return rows


# --- the report ---------------------------------------------------------------------------------

def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}% ({n}/{d})" if d else "-"


def table(rows: list[dict[str, Any]], conditions: list[str]) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        voices = "-" if r["condition"] == PERFECT else ("held-out" if r["heldout"] else "tuned")
        groups[(voices, r["condition"])].append(r)
    order = [("-", PERFECT)] + [(v, c) for v in ("tuned", "held-out") for c in conditions]
    floor = {r["case"]: r["turns"] for r in rows if r["condition"] == PERFECT}
    lines = ["| voices | condition | sessions | answers right | misheard answers | red-flag yes -> no "
             "| urgency right | first cause right | turns / question | answer turns / question "
             "| extra turns / session | s / session |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in order:
        rs = groups.get(key)
        if not rs:
            continue
        causes = [r for r in rs if r["cause_right"] is not None]
        rf = sum(len(r["rf_yes_no"]) for r in rs)
        lines.append(
            f"| {key[0]} | {key[1]} | {len(rs)} | {_pct(sum(r['answers_right'] for r in rs), len(rs))} "
            f"| {sum(r['misheard'] for r in rs)} | {rf} | {_pct(sum(r['urgency_right'] for r in rs), len(rs))} "
            f"| {_pct(sum(r['cause_right'] for r in causes), len(causes))} "
            f"| {sum(r['turns'] for r in rs) / max(1, sum(r['questions'] for r in rs)):.2f} "
            f"| {sum(r['answer_turns'] for r in rs) / max(1, sum(r['questions'] for r in rs)):.2f} "
            f"| {sum(r['turns'] - floor.get(r['case'], r['turns']) for r in rs) / len(rs):.1f} "
            f"| {sum(r['seconds'] for r in rs) / len(rs):.1f} |")
    return "\n".join(lines)


def details(rows: list[dict[str, Any]]) -> str:
    """The sessions that went wrong, for whoever tunes the recogniser."""
    bad = [r for r in rows if r["condition"] != PERFECT and (not r["answers_right"] or r["rf_yes_no"]
                                                              or not r["urgency_right"] or r["cause_right"] is False)]
    if not bad:
        return "Every session settled every answer as intended."
    out = ["| case | voice | condition | urgency | first cause | red-flag yes -> no | wrong answers (meant->settled) |",
           "|---|---|---|---|---|---|---|"]
    for r in sorted(bad, key=lambda r: (r["heldout"], r["voice"], r["condition"], r["case"])):
        wrong = ", ".join(f"{q} {v}" for q, v in r["wrong"].items())
        out.append(f"| {r['case']} | {r['voice']} | {r['condition']} | {'ok' if r['urgency_right'] else 'WRONG'} "
                   f"| {'-' if r['cause_right'] is None else 'ok' if r['cause_right'] else 'WRONG'} "
                   f"| {', '.join(r['rf_yes_no']) or '-'} | {wrong or '-'} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Whole simulated sessions over the public vignettes, "
                                             "fixture voices and noise conditions.")
    ap.add_argument("--cases", nargs="*", help="vignette ids (default: all)")
    ap.add_argument("--voices", nargs="*", help="fixture voices (default: every voice in the manifest)")
    ap.add_argument("--conditions", default=",".join(CONDITIONS),
                    help="comma-separated: clean, white:SNR, babble:SNR, reverb:RT60, far:RT60, narrowband:RATE, "
                         "gain:DB (default: %(default)s)")
    ap.add_argument("--vignettes", type=Path, default=CASES, help="vignette file (default: %(default)s)")
    ap.add_argument("--engine", default="sphinx", choices=["sphinx", "vosk", "auto"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    ap.add_argument("--json", type=Path, help="also write every session's scores as JSON here")
    ap.add_argument("--details", action="store_true", help="list the sessions that went wrong")
    ap.add_argument("--draws", type=int, default=4,
                    help="independent noise draws per clip in noisy conditions (default: %(default)s; 1: "
                         "every repeat of a clip is the same recording, as before 2026-11-26)")
    ap.add_argument("--audio", type=Path, help="another folder of clips with its manifest.yaml (e.g. made by "
                                               "make_fixtures.py --extra-voices DIR)")
    ap.add_argument("--no-cache", action="store_true",
                    help="call session.simulate for every session (slow; checks the cached run)")
    args = ap.parse_args(argv)
    if args.audio is not None:
        global AUDIO
        AUDIO = args.audio

    cases = load_cases(args.vignettes)
    if args.cases:
        cases = [c for c in cases if c["id"] in set(args.cases)]
    all_voices = load_voices()
    voices = {v: h for v, h in all_voices.items() if not args.voices or v in args.voices}
    unknown = set(args.voices or ()) - set(all_voices)
    if unknown or not cases or not voices:
        ap.error(f"unknown voice {sorted(unknown)[0]!r}" if unknown else "no case or no voice selected")
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    from voice_triage.errors import BadInputError
    from voice_triage.noise import parse_conditions
    for c in conditions:
        if c != "clean" and c.partition(":")[0] == "babble_heldout":
            ap.error(f"unknown condition {c!r} (babble: held-out voices hear the held-out talkers)")
        try:
            parse_conditions(c)
        except BadInputError as e:
            ap.error(str(e))

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    try:
        jobs: list[Job] = []
        for voice, heldout in voices.items():
            clips = clips_for(voice, heldout, all_voices)
            for cond in conditions:
                folder = tmp / voice / cond.replace(":", "_")
                make_phrases(folder, clips, cond, heldout, voice, args.draws)
                jobs += [Job(c["id"], voice, heldout, cond, str(folder)) for c in cases]
        rows = perfect_hearing(cases)
        groups = [[j for j in jobs if (j.voice, j.condition) == key]
                  for key in dict.fromkeys((j.voice, j.condition) for j in jobs)]
        print(f"{len(jobs)} sessions, {args.workers} workers ...", file=sys.stderr, flush=True)
        init = (args.engine, str(args.vignettes), not args.no_cache, str(tmp))
        if args.workers > 1:
            with mp.get_context("fork").Pool(args.workers, initializer=_init, initargs=init) as pool:
                for i, done in enumerate(pool.imap_unordered(run_jobs, groups, chunksize=1), 1):
                    rows += done
                    print(f"  {i}/{len(groups)} voice x condition", file=sys.stderr, flush=True)
        else:
            _init(*init)
            for group in groups:
                rows += run_jobs(group)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    tuned = sorted(v for v, h in voices.items() if not h)
    held = sorted(v for v, h in voices.items() if h)
    report = "\n\n".join([
        f"# Session benchmark ({args.engine})",
        f"{len(cases)} vignettes x voices tuned [{', '.join(tuned)}] / held-out [{', '.join(held)}] x "
        f"conditions [{', '.join(conditions)}]; noise draws per clip: {args.draws}; "
        f"{time.perf_counter() - t0:.0f} s wall. Held-out voices hear "
        "held-out babble; their missing values are filled from the other held-out voices.",
        table(rows, conditions),
        "answers right: sessions whose every settled answer is the intended one (an answer given up on "
        "as 'I don't know' counts as wrong). misheard answers: settled answers with a wrong value other "
        "than 'I don't know' (all sessions). red-flag yes -> no: red flags said 'yes' and settled 'no' "
        "(must be 0). turns / question: spoken turns over questions asked (target <= 1.2 clean); the "
        "'perfect hearing' row is the interview's own floor (red-flag read-backs, the closing offer). "
        "answer turns / question: the same without read-backs and the closing offer (1.00 = every "
        "question answered at the first try). extra turns / session: turns beyond the floor for the "
        "same vignette.",
    ])
    if args.details:
        report += "\n\n## Sessions that went wrong\n\n" + details(rows)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    unsafe = [r for r in rows if r["rf_yes_no"]]
    if unsafe:   # the one number that must be 0: fail loudly
        print(f"bench_sessions: {len(unsafe)} session(s) settled a red flag the person said yes to as no",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
