"""A file of answers (`assess --answers FILE`, `simulate --answers FILE`): YAML or JSON mapping
question ids to answer values. A missing question counts as "unknown".

Anything wrong with the file is the user's input, so it is a BadInputError (exit 2) with one
line naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path

from .content import UNKNOWN, Content
from .errors import BadInputError
from .model import Answer, Answers
from .yamlio import load_yaml

# JSON true/false (and YAML true/false) mean yes/no: people write {"cough_sneeze": true}.
_BOOLEANS = {True: Answer.YES.value, False: Answer.NO.value}


def parse_answers(raw: object, content: Content, where: str) -> Answers:
    """Check a mapping of question id -> answer value against the content pack."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInputError("must map question ids to answers (e.g. pain_location: outer_hip)", where=where)
    answers: Answers = {}
    for key, value in raw.items():
        if not isinstance(key, str) or key not in content.questions:
            known = ", ".join(content.questions)
            raise BadInputError(f"unknown question id {key!r} (known: {known})", where=where)
        q = content.questions[key]
        if isinstance(value, bool):
            value = _BOOLEANS[value]
        elif value is None:
            value = UNKNOWN
        if not isinstance(value, str) or value.strip().lower() not in q.options:
            raise BadInputError(f"'{key}': {value!r} is not an answer to this question "
                                f"(expected one of: {', '.join(q.options)})", where=where)
        answers[key] = value.strip().lower()
    return answers


def load_answers_file(path: Path, content: Content) -> Answers:
    """Read and check an answers file (YAML or JSON; JSON is YAML)."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError("is a folder, not an answers file", where=str(path))
    raw = load_yaml(path, error=BadInputError)
    return parse_answers(raw, content, str(path))
