"""When to act on what an engine heard: confidence and rejection, shared by the engine adapters.

An engine adapter measures `Evidence` for one utterance: the best grammar phrase, how well that
phrase explains the audio compared with the best unconstrained phone string (utterance
verification: out-of-grammar speech, coughs and noise fit the grammar far worse than they fit a
free phone loop), and how far ahead the best answer value is of the best *different* value. The
rule here turns that into a Transcript: answer None unless the evidence is clearly good enough,
with a stricter bar for yes/no, where a wrong answer to a red-flag question is the costliest
mistake. Scores are engine-specific (calibrate a RejectionRule per engine); the shape is shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..grammar import Grammar
from .base import Transcript

YES_NO_VALUES = frozenset({"yes", "no", "unknown"})


@dataclass(frozen=True)
class Evidence:
    """What one decode of one utterance showed.

    text: best grammar phrase ("" when none).
    verify: per-frame log-likelihood ratio of the grammar path against a free phone loop over the
        same audio (0 = as good as the best phone string; more negative = a worse fit).
    margin: per-frame score gap between the best phrase and the best phrase meaning something
        else (math.inf when no competitor was decoded or none survived the search).
    alternatives: other phrases heard, best first, with their per-frame score gap to the best.
    frames: number of 10 ms frames of speech decoded.
    agreement: share of the engine's independent readings (e.g. raw and noise-suppressed audio)
        that gave the same answer value (1.0 when the engine makes only one).
    extra: engine diagnostics; "frames_per_phone" (speech frames per phone of `text`) is used
        by RejectionRule.max_frames_per_phone.
    """

    text: str
    verify: float
    margin: float
    alternatives: tuple[tuple[str, float], ...] = ()
    frames: int = 0
    agreement: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectionRule:
    """When to act on a decode.

    score = verify + margin_weight * min(margin, margin_cap). An answer is acted on when the speech
    lasts no more than max_frames_per_phone per phone of the phrase heard (a long out-of-grammar
    sentence squeezed onto a short phrase), agreement >= agreement_min, and either
    - the engine alone is sure: score >= score_min and margin >= margin_min; or
    - the score is in the grey zone (>= opinion_from) and a second model agrees (`extra` keys set
      by the engine, log-probabilities in nats): the phrase beats the engine's rival phrase by
      opinion_margin_min ("opinion_margin"; no rival, no vouching), comes within -opinion_gap_min
      of the second model's own free transcription ("opinion_gap") and is itself likely enough
      ("opinion_logp" >= opinion_logp_min); with opinion_agree_min 1 that transcription must also
      mean the same answer ("opinion_agrees").
    When the second model prefers the rival by opinion_switch_min or more, the rival is judged the
    same way instead (`switch`). Confidence is `confidence_at_threshold` at score_min and rises
    toward 1 as the score clears it by `scale`; for an answer the second model vouched for it rises
    with that model's margin.
    """

    score_min: float
    margin_weight: float = 0.0
    margin_cap: float = 3.0
    margin_min: float = 0.0
    agreement_min: float = 0.0
    max_frames_per_phone: float = math.inf
    scale: float = 0.6
    confidence_at_threshold: float = 0.6
    opinion_from: float = math.inf
    opinion_margin_min: float = 2.0
    opinion_gap_min: float = -4.0
    opinion_logp_min: float = -8.0
    opinion_agree_min: float = 0.0
    opinion_switch_min: float = math.inf

    def score(self, evidence: Evidence) -> float:
        margin = min(evidence.margin, self.margin_cap)
        return evidence.verify + self.margin_weight * margin

    def _admissible(self, evidence: Evidence) -> bool:
        return (bool(evidence.text) and evidence.agreement >= self.agreement_min
                and evidence.extra.get("frames_per_phone", 0.0) <= self.max_frames_per_phone)

    def sure(self, evidence: Evidence) -> bool:
        """The engine's own evidence is enough."""
        return (self._admissible(evidence) and self.score(evidence) >= self.score_min
                and evidence.margin >= self.margin_min)

    def wants_opinion(self, evidence: Evidence) -> bool:
        """Not sure, but close enough that a second model's agreement would settle it."""
        return (self._admissible(evidence) and not self.sure(evidence)
                and self.score(evidence) >= self.opinion_from)

    def vouched(self, evidence: Evidence) -> bool:
        """A second model's opinion (in `extra`) settles a grey-zone answer."""
        x = evidence.extra
        return (self.wants_opinion(evidence) and math.isfinite(x.get("opinion_margin", math.inf))
                and x["opinion_margin"] >= self.opinion_margin_min
                and x.get("opinion_gap", -math.inf) >= self.opinion_gap_min
                and x.get("opinion_logp", -math.inf) >= self.opinion_logp_min
                and x.get("opinion_agrees", 0.0) >= self.opinion_agree_min)

    def accepts(self, evidence: Evidence) -> bool:
        return self.sure(evidence) or self.vouched(evidence)

    def switch(self, evidence: Evidence) -> Evidence | None:
        """For a grey-zone answer where the second model prefers the engine's rival phrase by at
        least opinion_switch_min nats: the evidence for that rival (the second model's numbers
        re-expressed for it, "opinion_agrees_rival" as its agreement), else None. The rival is then
        acted on only if it is vouched for like any other answer."""
        x = evidence.extra
        if (not evidence.alternatives or "opinion_margin" not in x or not self.wants_opinion(evidence)
                or x["opinion_margin"] > -self.opinion_switch_min):
            return None
        m = x["opinion_margin"]
        extra = dict(x, opinion_margin=-m, opinion_logp=x.get("opinion_logp", -math.inf) - m,
                     opinion_gap=x.get("opinion_gap", -math.inf) - m,
                     opinion_agrees=x.get("opinion_agrees_rival", 0.0))
        return replace(evidence, text=evidence.alternatives[0][0], alternatives=((evidence.text, 0.0),), extra=extra)


def _squash(x: float, at_zero: float) -> float:
    """Logistic through (0, at_zero), rising to 1 with x."""
    bias = math.log(at_zero / (1.0 - at_zero))
    z = max(-50.0, min(50.0, 2.0 * x + bias))
    return 1.0 / (1.0 + math.exp(-z))


def confidence(evidence: Evidence, rule: RejectionRule) -> float:
    """How sure we are that the best phrase is what was said, in [0, 1]."""
    if not evidence.text or not math.isfinite(evidence.verify):
        return 0.0
    own = _squash((rule.score(evidence) - rule.score_min) / rule.scale, rule.confidence_at_threshold)
    if rule.vouched(evidence):
        # From the acceptance level at the smallest margin allowed toward 1 (e-fold per 2 nats).
        extra = evidence.extra["opinion_margin"] - rule.opinion_margin_min
        at = rule.confidence_at_threshold
        own = max(own, at + (1.0 - at) * (1.0 - math.exp(-extra / 2.0)))
    return round(own, 4)


def is_yes_no(grammar: Grammar) -> bool:
    return bool(set(grammar.values) & YES_NO_VALUES) and set(grammar.values) <= YES_NO_VALUES


def decide(grammar: Grammar, evidence: Evidence, rule: RejectionRule) -> Transcript:
    """The Transcript the product acts on: answer None when nothing, or too unsure, was heard.

    A rejected answer keeps its text (for logs and the transcribe JSON) with a confidence below
    the acceptance bar, so that confidence and answer never disagree.
    """
    accepted = rule.accepts(evidence)
    if not accepted:
        rival = rule.switch(evidence)
        if rival is not None and rule.vouched(rival):
            evidence, accepted = rival, True   # the second model heard the engine's runner-up, clearly
    value = grammar.match(evidence.text) if evidence.text else None
    conf = confidence(evidence, rule) if value is not None else 0.0
    ok = value is not None and accepted
    if not ok:
        conf = min(conf, round(rule.confidence_at_threshold * 0.8, 4))
    alts = tuple((t, round(conf * math.exp(-max(gap, 0.0)), 4)) for t, gap in evidence.alternatives)
    return Transcript(text=evidence.text, answer=value if ok else None, confidence=conf, alternatives=alts)
