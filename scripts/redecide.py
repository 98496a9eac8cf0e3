"""Re-decide recognition evidence dumps under changed rejection rules, without decoding again.

    python scripts/measure_recognition.py ... --evidence /tmp/ev.jsonl      # once (minutes)
    python scripts/redecide.py /tmp/ev.jsonl [more.jsonl ...]               # the table, shipped rules
    python scripts/redecide.py /tmp/ev.jsonl --set other.second_veto_definite_margin_min=inf
        [--set yes_no.second_veto_margin_min=3] [--changes]                  # a variant, against the shipped rules

A dump row holds everything `decision.decide` reads (pocketsphinx's best phrase, verify, margin,
frames per phone, extra, and Moonshine's SecondOpinion, which measure_recognition computes for every
answer). Re-deciding gives exactly what a fresh run would (checked: the rows' own decisions are
reproduced), because a changed bar never changes what is decoded; only when the rule would not have
asked Moonshine (RejectionRule.wants_opinion) is its opinion dropped first, as the product does. So a
bar can be tried over many dumps (seed offsets, voice sets) in seconds. `--set` names the rule
(yes_no: sphinx.RULE_YES_NO, other: sphinx.RULE_OTHER) and a RejectionRule field; `--changes` lists
every answer decided differently from the shipped rules: right answers gained and lost, wrong
answers added and removed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from voice_triage.grammar import load_grammars  # noqa: E402
from voice_triage.model import Answer  # noqa: E402
from voice_triage.recognition import sphinx  # noqa: E402
from voice_triage.recognition.decision import (Evidence, RejectionRule, SecondOpinion, decide,  # noqa: E402
                                               is_yes_no)

GRAMMARS = load_grammars("en")


def evidence_of(row: dict) -> Evidence:
    """The Evidence a dump row was decided from (measure_recognition.run writes the fields)."""
    g = GRAMMARS[row["grammar"]]
    s = row.get("second")
    second = None
    if s:
        fields = {f.name for f in dataclasses.fields(SecondOpinion)}
        second = SecondOpinion(**{k: v for k, v in s.items() if k in fields})
        if "unsure" not in s:       # (dumps made before SecondOpinion.unsure)
            second = dataclasses.replace(second, unsure=bool(second.text)
                                         and g.match(second.text) == Answer.UNKNOWN.value)
    extra = dict(row.get("extra") or {})
    extra["frames_per_phone"] = row.get("fpp", extra.get("frames_per_phone", 0.0))
    verify = row["verify"] if row["verify"] > -98 else -math.inf      # (dumps write -99 / 99 for inf)
    margin = row["margin"] if row["margin"] < 98 else math.inf
    return Evidence(text=row["text"], verify=verify, margin=margin, agreement=row.get("agreement", 1.0),
                    extra=extra, second=second)


def redecide(rows: list[dict], yes_no: RejectionRule, other: RejectionRule) -> list[dict]:
    """Each row with answer / guess as the given rules decide it."""
    out = []
    for row in rows:
        g = GRAMMARS[row["grammar"]]
        rule = yes_no if is_yes_no(g) else other
        ev = evidence_of(row)
        if ev.second is not None and not rule.wants_opinion(dataclasses.replace(ev, second=None)):
            ev = dataclasses.replace(ev, second=None)      # the product would not have asked Moonshine
        t = decide(g, ev, rule)
        out.append(dict(row, answer=t.answer, guess=t.guess, confidence=t.confidence, latency=None, work=None))
    return out


def with_settings(settings: list[str]) -> tuple[RejectionRule, RejectionRule]:
    rules = {"yes_no": sphinx.RULE_YES_NO, "other": sphinx.RULE_OTHER}
    for item in settings:
        try:
            key, value = item.split("=", 1)
            which, name = key.split(".", 1)
            rule = rules[which]
            current = getattr(rule, name)
        except (ValueError, KeyError, AttributeError):
            raise SystemExit(f"--set {item!r}: expected yes_no.FIELD=VALUE or other.FIELD=VALUE, "
                             "FIELD a RejectionRule field")
        new = (value.lower() in ("1", "true", "yes")) if isinstance(current, bool) else float(value)
        rules[which] = dataclasses.replace(rule, **{name: new})
    return rules["yes_no"], rules["other"]


def changes(base: list[dict], new: list[dict]) -> str:
    counts = {"right gained": 0, "right lost": 0, "wrong added": 0, "wrong removed": 0}
    lines = []
    for a, b in zip(base, new):
        if a["answer"] == b["answer"]:
            continue
        if b["answer"] == b["value"]:
            kind = "right gained"
        elif a["answer"] == a["value"]:
            kind = "right lost"
        elif b["answer"] is not None:
            kind = "wrong added"
        else:
            kind = "wrong removed"
        counts[kind] += 1
        s = b.get("second") or {}
        lines.append(f"  {kind:13} {b['path']} {b['cond']} {b['grammar']}: said {b['value']}, "
                     f"{a['answer']} -> {b['answer']} (read back: {b['guess']}); pocketsphinx {b['text']!r}, "
                     f"Moonshine {s.get('text')!r} by {s.get('margin', float('nan')):.2f}")
    head = ", ".join(f"{k} {v}" for k, v in counts.items())
    return "\n".join([f"against the shipped rules: {head}", *lines])


def totals(rows: list[dict]) -> str:
    """Wrong answers over the answer clips (tuned and held-out voices), over "I don't know" asked at
    the location questions (measure_recognition's unsure_place group), and out-of-grammar tries
    acted on."""
    def wrong(rs: list[dict]) -> str:
        n = sum(r["answer"] is not None and r["answer"] != r["value"] for r in rs)
        return f"{n} of {len(rs)} ({n / max(1, len(rs)):.2%})"

    answers = [r for r in rows if r["group"] in ("tuned", "heldout")]
    unsure = [r for r in rows if r["group"] == "unsure_place"]
    line = f"acted on wrongly: {wrong(answers)} answers"
    if unsure:
        line += f"; \"I don't know\" at the location questions {wrong(unsure)}"
    return line + f"; out-of-grammar acted on: {sum(r['answer'] is not None for r in rows if r['group'] == 'oog')}"


def main(argv: list[str] | None = None) -> int:
    import measure_recognition as mr
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dumps", nargs="+", type=Path, help="measure_recognition.py --evidence files")
    ap.add_argument("--set", action="append", default=[], metavar="RULE.FIELD=VALUE",
                    help="change a bar (repeatable), e.g. other.second_unsure_margin_min=0")
    ap.add_argument("--changes", action="store_true", help="list the answers decided differently")
    a = ap.parse_args(argv)
    rows = []
    for path in a.dumps:
        try:
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{path}: not a measure_recognition.py --evidence dump ({exc})")
    yes_no, other = with_settings(a.set)
    new = redecide(rows, yes_no, other)
    print(mr.table(new))
    print("\n" + totals(new))
    if a.changes or a.set:
        print(changes(redecide(rows, sphinx.RULE_YES_NO, sphinx.RULE_OTHER), new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
