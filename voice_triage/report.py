"""The session report: PATH.md for people (answers in words, the result, what was heard each
turn, the safety note) and PATH.json for programs (the same JSON `simulate` prints)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .content import Content
from .errors import BadInputError
from .model import Answer
from .session import SessionResult

SAFETY_NOTE = ("This is not a diagnosis, and it does not replace a doctor or a physiotherapist. "
               "If the pain gets much worse, or you notice numbness around the back passage or "
               "genitals, new bladder or bowel trouble, or weakness in the legs, get medical help "
               "straight away.")


def report_paths(path: Path) -> tuple[Path, Path]:
    """PATH -> (PATH.md, PATH.json); a given .md or .json suffix is dropped first."""
    path = Path(path)
    if path.suffix.lower() in (".md", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".md"), path.with_name(path.name + ".json")


def _answer_words(content: Content, qid: str, value: str) -> str:
    q = content.questions.get(qid)
    if q is None:
        return value
    if value == Answer.UNKNOWN.value:
        return "not sure"
    return (q.option_labels or {}).get(value, value.replace("_", " "))


def _question_words(content: Content, qid: str) -> str:
    q = content.questions.get(qid)
    if q is None:
        return qid
    if q.red_flag is not None:
        m = q.red_flag.meaning
        return m[:1].upper() + m[1:]
    return q.short_prompt


def render_markdown(result: SessionResult, content: Content) -> str:
    a = result.assessment
    lines: list[str] = ["# voice-triage session", ""]
    lines.append(f"Written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")
    status = "interrupted (Ctrl-C)" if result.interrupted else "stopped early" if result.stopped else "complete"
    lines += [f"Session: {status}; {result.turns} turns.", "", f"> {SAFETY_NOTE}", ""]

    lines += ["## Result", "", f"- Urgency: **{a.urgency.value}**",
              f"- Most likely group: **{a.likely_group.value.replace('_', ' / ')}**"]
    if a.red_flags:
        lines.append("- Red flags present: " + "; ".join(_question_words(content, content.red_flag_question(f).id)
                                                         for f in a.red_flags))
    if a.unknown_red_flags:
        lines.append("- Red flags not answered clearly: "
                     + "; ".join(_question_words(content, content.red_flag_question(f).id)
                                 for f in a.unknown_red_flags))
    lines += ["", "| cause | group | score |", "|---|---|---|"]
    for c in a.causes:
        name = content.causes[c.id].name if c.id in content.causes else c.id
        lines.append(f"| {name} | {c.group.value.replace('_', ' / ')} | {c.score:.2f} |")
    lines += ["", "### What was said", "", a.explanation, ""]

    lines += ["## Answers", ""]
    given = result.answers
    for qid, q in content.questions.items():
        if qid in given:
            lines.append(f"- {_question_words(content, qid)}: **{_answer_words(content, qid, given[qid])}**")
        elif not q.members:
            lines.append(f"- {_question_words(content, qid)}: not asked")
    lines.append("")

    lines += ["## Turns", ""]
    if not result.transcript:
        lines.append("No turns.")
    for i, turn in enumerate(result.transcript, 1):
        heard = turn.get("heard") or ""
        answer = turn.get("answer")
        what = f'heard "{heard}"' if heard else "nothing heard"
        meaning = f" -> {answer}" if answer else " -> not understood" if heard else ""
        conf = f" (confidence {turn.get('confidence', 0):.2f})" if heard else ""
        lines.append(f"{i}. {turn.get('prompt', '')}  ")
        lines.append(f"   {what}{meaning}{conf}")
    lines += ["", "---", "", SAFETY_NOTE, ""]
    return "\n".join(lines)


def write_report(path: Path, result: SessionResult, content: Content) -> tuple[Path, Path]:
    """Write PATH.md and PATH.json; returns both paths."""
    md, js = report_paths(path)
    try:
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(render_markdown(result, content), encoding="utf-8")
        js.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"cannot write the report ({exc.strerror or exc.__class__.__name__})",
                            where=str(md.parent)) from None
    return md, js
