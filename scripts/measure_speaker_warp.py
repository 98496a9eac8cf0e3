#!/usr/bin/env python3
"""How much following one speaker (pocketsphinx's SPEAKER_WARPS) helps, voice by voice.

    python scripts/measure_speaker_warp.py [--audio DIR] [--answers 3] [--draws 300]

Every clean clip of every voice in DIR's manifest.yaml (default: the committed fixtures; for voices
made for a one-off check: `python scripts/make_fixtures.py --extra-voices DIR`) is decoded by
pocketsphinx alone under each factor of SPEAKER_WARPS. Then, per voice, `--draws` times: pick
`--answers` of its clips at random, choose the factor as the recogniser does from what those
answers show (sphinx.choose_warp), and count the voice's clips pocketsphinx is sure of and right
about under that factor, against no warp. Prints one line per voice and the total.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_triage.audio import load_wav  # noqa: E402
from voice_triage.recognition.sphinx import SPEAKER_WARPS, SphinxRecognizer, choose_warp  # noqa: E402
from voice_triage.yamlio import load_yaml  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audio", type=Path, default=ROOT / "tests" / "fixtures" / "audio")
    ap.add_argument("--answers", type=int, default=3, help="answers learnt from (default: %(default)s)")
    ap.add_argument("--draws", type=int, default=300)
    a = ap.parse_args(argv)

    rec = SphinxRecognizer("en", second_opinion=False)
    manifest = load_yaml(a.audio / "manifest.yaml")
    by_voice: dict[str, list[dict]] = defaultdict(list)
    for c in manifest["clips"]:
        if c.get("lang", "en") != "en":
            continue
        g = rec.grammars[c["grammar"]]
        x = load_wav(a.audio / c["path"])
        ok = {}
        for f in SPEAKER_WARPS:
            rec.warp = f
            ev, decoded = rec.evidence_and_input(x, g)
            ok[f] = bool(ev.text) and rec.rule_for(g).sure(ev) and g.match(ev.text) == c["value"]
            if f == 1.0:
                first = ev, decoded         # what a session learns from: the answer as first decoded
        rec.warp = 1.0
        ev, decoded = first
        fits = rec.warp_fits(decoded, g) if ev.text else {1.0: float("-inf")}
        by_voice[c["voice"]].append({"ok": ok, "fits": fits})
        print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    rng = random.Random(0)
    total = [0.0, 0.0, 0]
    for voice, rows in by_voice.items():
        usable = [r for r in rows if np.isfinite(r["fits"][1.0])]
        plain = float(np.mean([r["ok"][1.0] for r in rows]))
        got, picks = [], defaultdict(int)
        for _ in range(a.draws):
            sample = rng.sample(usable, min(a.answers, len(usable)))
            f = choose_warp([r["fits"] for r in sample])
            picks[f] += 1
            got.append(np.mean([r["ok"][f] for r in rows]))
        top = ", ".join(f"{f}: {n}" for f, n in sorted(picks.items(), key=lambda kv: -kv[1])[:3])
        print(f"{voice:20} n={len(rows):3}  sure and right: no warp {plain:.1%}, followed {np.mean(got):.1%}  "
              f"(factors chosen in {a.draws} draws: {top})")
        total[0] += plain * len(rows)
        total[1] += float(np.mean(got)) * len(rows)
        total[2] += len(rows)
    print(f"{'all':20} n={total[2]:3}  sure and right: no warp {total[0] / total[2]:.1%}, "
          f"followed {total[1] / total[2]:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
