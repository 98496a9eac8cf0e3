"""The benchmark's bookkeeping: which clips run under which grammar, and the shares it reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_triage import bench
from voice_triage.config import Config, Engine
from voice_triage.errors import BadInputError
from voice_triage.grammar import Grammar, load_grammars
from voice_triage.recognition.base import Transcript

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


class _SaysYes:
    """A scripted recogniser: always hears "yes" when yes is allowed, else nothing."""

    name = "sphinx"
    lang = "en"

    def stream(self, grammar: Grammar) -> "_Stream":
        return _Stream(grammar)

    def recognize(self, samples: np.ndarray, grammar: Grammar) -> Transcript:
        s = self.stream(grammar)
        s.feed(samples)
        return s.finish()


class _Stream:
    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.samples = 0

    def feed(self, samples: np.ndarray) -> None:
        assert samples.dtype == np.int16 and len(samples) <= bench.CHUNK
        self.samples += len(samples)

    def finish(self) -> Transcript:
        if "yes" in self.grammar.values and self.samples > 0:
            return Transcript("yes", "yes", 0.9)
        return Transcript("", None, 0.0)


def test_clips_and_grammars() -> None:
    grammars = load_grammars("en")
    clips = bench.load_clips(FIXTURES, "en", None, grammars)
    answers = [c for c in clips if c.value is not None]
    oog = [c for c in clips if c.value is None]
    assert {c.grammar for c in answers if c.value in ("yes", "no", "unknown", "stop")} == {"yes_no"}
    assert {c.grammar for c in answers if c.value == "groin"} == {"pain_location"}
    assert {c.grammar for c in oog} == {"yes_no", "pain_location", "pain_spread"}
    assert any(c.heldout for c in answers) and any(not c.heldout for c in answers)
    only = bench.load_clips(FIXTURES, "en", "espeak,heldout", grammars)
    assert {c.voice for c in only} == {"espeak"} | {c.voice for c in answers if c.heldout}


def test_unknown_voice_and_missing_manifest(tmp_path: Path) -> None:
    grammars = load_grammars("en")
    with pytest.raises(BadInputError, match="no voice 'nobody'"):
        bench.load_clips(FIXTURES, "en", "nobody", grammars)
    with pytest.raises(BadInputError, match="no manifest.yaml"):
        bench.load_clips(tmp_path, "en", None, grammars)


def test_shares_from_a_scripted_recognizer(monkeypatch: pytest.MonkeyPatch) -> None:
    import voice_triage.recognition.select as select

    monkeypatch.setattr(select, "make_recognizer", lambda config: _SaysYes())
    grammars = load_grammars("en")
    clips = bench.load_clips(FIXTURES, "en", "espeak,oog", grammars)
    results = bench.run_engine(Config(engine=Engine.SPHINX), clips, [("clean", None), ("white", 10.0)], jobs=1)
    assert len(results) == 2 * len(clips)
    rows = {(r["voices"], r["noise"]): r for r in bench.summarize(results)}
    tuned = rows[("tuned", "clean")]
    yes_no_clips = [c for c in clips if c.grammar == "yes_no" and c.value is not None]
    n_yes = sum(c.value == "yes" for c in clips)
    assert tuned["correct"] == pytest.approx(n_yes / tuned["clips"])
    assert tuned["wrong"] == pytest.approx((len(yes_no_clips) - n_yes) / tuned["clips"])
    assert tuned["rejected"] == pytest.approx(1 - len(yes_no_clips) / tuned["clips"])
    # yes/no/unknown clips: 2 of 6 say yes, the other 4 are heard as yes
    assert tuned["yes_no_wrong"] == pytest.approx(4 / 6)
    oog = rows[("out-of-grammar", "white:10")]
    assert oog["rejected"] == pytest.approx(2 / 3)       # only the yes/no grammar hears "yes"
    assert oog["yes_no_wrong"] == pytest.approx(1.0)
    table = bench.markdown(bench.summarize(results), {"sphinx": {"load_s": 0.1, "rss_mb": 50, "model": None}},
                           bench.per_voice(results), ["clean", "white:10"], "en", 1.0)
    assert "| sphinx | tuned | clean |" in table and "| sphinx | espeak | no |" in table


@pytest.mark.slow
def test_bench_runs_on_real_korean_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.md"
    assert bench.run_bench(Config(lang="ko", engine=Engine.VOSK), noise="clean", out=out) == 0
    table = out.read_text(encoding="utf-8")
    assert "| vosk | tuned | clean | 12 |" in table
    # every Korean clip once, and every out-of-grammar clip under each of the three answer grammars
    from voice_triage.yamlio import load_yaml

    manifest = load_yaml(Path(__file__).parent / "fixtures" / "audio" / "manifest.yaml")
    n_ko, n_oog = len(manifest["ko"]), len(manifest["oog"])
    assert (tmp_path / "bench.md.clips.jsonl").read_text(encoding="utf-8").count("\n") == n_ko + 3 * n_oog
    assert "| vosk | tuned | clean |" in capsys.readouterr().out
