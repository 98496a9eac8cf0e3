"""The one place YAML is read: `yaml.safe_load` semantics, with yes/no/on/off kept as text.

YAML 1.1 turns an unquoted `yes` into True; here answers *are* the words yes and no, so only
`true`/`false` are booleans and the rest stay strings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ContentError


class _Loader(yaml.SafeLoader):
    pass


# Drop the YAML 1.1 bool resolver and put back one that knows only true/false.
_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str, where: str, error: type[Exception] = ContentError) -> Any:
    """Parse YAML (or JSON, which is YAML) text; a syntax error names the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"invalid YAML at {line}: {problem}", where=where) from None


def load_yaml(path: Path, error: type[Exception] = ContentError) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read the file ({exc.__class__.__name__})", where=str(path)) from None
    return parse_yaml(text, str(path), error)
