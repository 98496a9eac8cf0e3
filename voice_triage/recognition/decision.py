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
from collections.abc import Collection
from dataclasses import dataclass, field

from ..grammar import Grammar
from ..model import Answer
from .base import NOISY_BELOW_DB, Transcript

YES_NO_VALUES = frozenset({"yes", "no", "unknown"})


@dataclass(frozen=True)
class SecondOpinion:
    """What a second model (Moonshine) made of the same utterance, over every phrase of the grammar.

    text: its best grammar phrase.
    margin: log P of the best phrase's answer value (all its phrases summed) over the best other
        value's (commands count as values), in nats.
    logp: log P of `text` as a whole sentence.
    gap: logp minus log P of the model's own free transcription (0 = the phrase is what it would
        have written; out-of-grammar speech gives a large negative gap).
    free_agrees: its free transcription means the same answer value as `text`.
    engine_agrees: the engine's own best phrase means the same answer value as `text`.
    wide: it heard a wider window around the answer (the engine does so in steady noise), where
        RejectionRule.second_wide_margin_min is the least lead it needs.
    engine_close: the engine's best phrase means something else, but its runner-up (the best
        phrase meaning another answer) means this answer and scored within a hair of it (the
        engine could not tell the two apart): RejectionRule.second_close_margin_min applies.
    command: its answer is a command (repeat, help, go back ...), not an answer to the question:
        RejectionRule.second_command_agree_margin_min applies when the engine heard it too, and
        the free transcription need not agree (RejectionRule.second_free_agree is for answers).
    unsure: its answer is "I don't know" (Answer.UNKNOWN). With `command`, this tells a definite
        answer (a place, a yes, a no) from the answers a model falls back on in noise
        (RejectionRule.second_veto_definite_margin_min).
    """

    text: str
    margin: float
    logp: float
    gap: float
    free_agrees: bool
    engine_agrees: bool
    wide: bool = False
    engine_close: bool = False
    command: bool = False
    unsure: bool = False

    @property
    def definite(self) -> bool:
        """A definite answer to the question: neither a command nor "I don't know"."""
        return bool(self.text) and not self.command and not self.unsure


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
    second: a second model's reading, when the engine asked for one (RejectionRule.wants_opinion).
    """

    text: str
    verify: float
    margin: float
    alternatives: tuple[tuple[str, float], ...] = ()
    frames: int = 0
    agreement: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)
    second: SecondOpinion | None = None


@dataclass(frozen=True)
class RejectionRule:
    """When to act on a decode.

    score = verify + margin_weight * min(margin, margin_cap). The engine's answer is acted on when
    it is sure: the speech lasts no more than max_frames_per_phone per phone of the phrase heard (a
    long out-of-grammar sentence squeezed onto a short phrase), agreement >= agreement_min,
    score >= score_min and margin >= margin_min.
    Otherwise, when the engine has a second model (`Evidence.second`, scored over every phrase of
    the grammar), that model's best answer is acted on when it leads the next answer value by
    second_margin_min nats (second_agree_margin_min when the engine's best phrase means the same;
    second_close_margin_min when the engine was split between its best phrase and one meaning the
    second model's answer, SecondOpinion.engine_close; at least second_wide_margin_min when it
    heard the wider window of steady noise; second_command_agree_margin_min, whatever the window,
    when that answer is a command and the engine's best phrase means it too;
    second_all_agree_margin_min, whatever the window, when the engine's best phrase and the second
    model's own free transcription both mean its answer: three readings agreeing; and never less
    than second_unsure_margin_min when that answer is "I don't know", SecondOpinion.unsure),
    its phrase is likely enough as a sentence (logp >= second_logp_min) and close to what the model
    would freely write (gap >= second_gap_min: out-of-grammar speech fails this), and, with
    second_free_agree, that free transcription means the same answer unless the engine's best
    phrase already does (two models agreeing) or the answer is a command.
    Confidence is `confidence_at_threshold` at score_min and rises toward 1 as the score clears it
    by `scale`; for an answer the second model settled it is `second_confidence_at_bar` at the bar
    and rises with its lead over the bar (e-fold per 2 nats).
    What is not acted on may still carry a guess (Transcript.guess, read back by the interview,
    never acted on unconfirmed): the second model's best answer when it leads by guess_margin_min
    (guess_agree_margin_min when the engine's phrase means the same) and passes the logp and gap
    checks (not out-of-grammar speech), free transcription or not.
    With a finite second_veto_margin_min the second model also hears what the engine is sure of
    with a confidence below veto_below, and an answer it clearly contradicts (another answer leading
    by that much, or by second_veto_definite_margin_min when that answer is definite, neither a
    command nor "I don't know" (SecondOpinion.definite); passing the logp and gap checks) is not
    acted on: the second model's answer becomes the guess to read back. (What the engine is surer
    of than veto_below does not wait for the second model, unless it was decoded with a speaker
    warp, Evidence.extra["warp"]: such an answer, rescued from one the plain decode was not sure
    of, is vetoed by a lead of warped_veto_margin_min; or heard through an 8 kHz channel, its
    Evidence.extra["high_band_db"] under narrowband_below_db: the engine's confidence was calibrated
    on 16 kHz audio.)
    An answer the engine is sure of with a confidence below corroborate_below is heard by the
    second model too; when that model's best answer is the same, leading by corroborate_margin_min,
    its confidence is raised to second_confidence_at_bar (so it is not read back needlessly).
    What is not acted on carries a lean (Transcript.lean; two tries in a row leaning the same way are
    read back): see _lean for lean_margin_min and lean_engine.
    In a quiet room (Evidence.extra["headroom_db"] at least quiet_db) the second model's definite
    answers (SecondOpinion.definite) need a lead of only second_quiet_margin_min whatever the engine
    heard, and then no agreeing free transcription (second_quiet_agree_margin_min when the engine's
    best phrase means the same; each applies only where it is lower than the bar above); and where
    the second model vetoes what the engine is sure of with a definite answer of its own, its free
    transcription agreeing, by second_quiet_overrule_margin_min, its answer is taken. Also in a
    quiet room, an answer the engine is sure of (with a confidence below veto_below) is doubted, not
    acted on but read back as a guess (a command is asked again), when the second model's best
    phrase means something else and lies more than -second_doubt_gap_max below its own free
    transcription: to that model none of the grammar's phrases is like what was said (out-of-grammar
    speech, a cough; in a reverberant room pocketsphinx is sure of such things far more often).
    """

    score_min: float
    margin_weight: float = 0.0
    margin_cap: float = 3.0
    margin_min: float = 0.0
    agreement_min: float = 0.0
    max_frames_per_phone: float = math.inf
    scale: float = 0.6
    confidence_at_threshold: float = 0.6
    second_margin_min: float = math.inf
    second_agree_margin_min: float = math.inf
    second_close_margin_min: float = math.inf
    second_command_agree_margin_min: float = math.inf
    second_logp_min: float = -14.0
    second_gap_min: float = -8.0
    second_free_agree: bool = False
    guess_margin_min: float = math.inf
    second_confidence_at_bar: float = 0.8
    second_veto_margin_min: float = math.inf
    second_veto_definite_margin_min: float = math.inf
    second_wide_margin_min: float = 0.0
    veto_below: float = math.inf
    corroborate_below: float = 0.0
    corroborate_margin_min: float = 3.0
    guess_agree_margin_min: float = math.inf
    second_all_agree_margin_min: float = math.inf
    second_unsure_margin_min: float = 0.0
    lean_margin_min: float = 0.0
    lean_engine: bool = False
    warped_veto_margin_min: float = 1.0
    quiet_db: float = math.inf
    second_quiet_margin_min: float = math.inf
    second_quiet_agree_margin_min: float = math.inf
    second_quiet_overrule_margin_min: float = math.inf
    second_doubt_gap_max: float = -math.inf
    narrowband_below_db: float = -math.inf

    def score(self, evidence: Evidence) -> float:
        margin = min(evidence.margin, self.margin_cap)
        return evidence.verify + self.margin_weight * margin

    def sure(self, evidence: Evidence) -> bool:
        """The engine's own evidence is enough."""
        return (bool(evidence.text) and evidence.agreement >= self.agreement_min
                and evidence.extra.get("frames_per_phone", 0.0) <= self.max_frames_per_phone
                and self.score(evidence) >= self.score_min and evidence.margin >= self.margin_min)

    def uses_second(self) -> bool:
        """This rule lets a second model settle what the engine is not sure of."""
        return min(self.second_margin_min, self.second_agree_margin_min) < math.inf

    def wants_opinion(self, evidence: Evidence) -> bool:
        """Not sure, and a second model could settle it; or sure, and a second model could veto it
        or corroborate a low confidence."""
        return self.uses_second() and (not self.sure(evidence) or self._vetoable(evidence)
                                       or confidence(evidence, self) < self.corroborate_below)

    def _vetoable(self, evidence: Evidence) -> bool:
        # (An answer decoded with a speaker warp is always vetoable: the confidence was calibrated
        # on unwarped audio, and a warp can make a wrong phrase fit surer. So is one heard through a
        # narrow band: the engine's confidence was calibrated on 16 kHz audio.)
        return self.second_veto_margin_min < math.inf and (confidence(evidence, self) < self.veto_below
                                                           or _warped(evidence) or self.narrowband(evidence))

    def narrowband(self, evidence: Evidence) -> bool:
        """The answer came through an 8 kHz channel (a Bluetooth headset, a phone line): its 4.5-6 kHz
        band lies more than -narrowband_below_db under its 2-3.5 kHz band (Evidence.extra["high_band_db"],
        audio.high_band_db)."""
        return evidence.extra.get("high_band_db", 0.0) < self.narrowband_below_db

    def corroborated_by_second(self, evidence: Evidence) -> bool:
        """The engine is sure with a low confidence, and the second model hears the same answer."""
        s = evidence.second
        return (s is not None and self.sure(evidence) and confidence(evidence, self) < self.corroborate_below
                and s.engine_agrees and self._plausible(s) and s.margin >= self.corroborate_margin_min)

    def _plausible(self, s: SecondOpinion) -> bool:
        return bool(s.text) and s.logp >= self.second_logp_min and s.gap >= self.second_gap_min

    def quiet(self, evidence: Evidence) -> bool:
        """The answer stood far above the sound around it (Evidence.extra["headroom_db"] at least
        quiet_db): a quiet room, where the second model's definite answers are surer."""
        return evidence.extra.get("headroom_db", -math.inf) >= self.quiet_db

    def second_bar(self, second: SecondOpinion, quiet: bool = False) -> float:
        """The lead the second model needs for its answer (`quiet`: heard in a quiet room)."""
        if quiet and second.definite:
            quiet_bar = self.second_quiet_agree_margin_min if second.engine_agrees else self.second_quiet_margin_min
            return min(self._second_bar(second), quiet_bar)
        return self._second_bar(second)

    def _second_bar(self, second: SecondOpinion) -> float:
        if second.engine_agrees and second.command:
            return min(self.second_command_agree_margin_min, self.second_agree_margin_min)
        if second.engine_agrees:
            bar = self.second_agree_margin_min
        elif second.engine_close:
            bar = min(self.second_close_margin_min, self.second_margin_min)
        else:
            bar = self.second_margin_min
        bar = max(bar, self.second_wide_margin_min) if second.wide else bar
        if second.engine_agrees and second.free_agrees:
            bar = min(bar, self.second_all_agree_margin_min)
        if second.unsure:
            bar = max(bar, self.second_unsure_margin_min)
        return bar

    def settled_by_second(self, evidence: Evidence) -> bool:
        """The second model's best answer is clear enough to act on: the engine not being sure, or,
        in a quiet room, sure of an answer the second model overrules (a definite answer of its
        own, leading by second_quiet_overrule_margin_min, that its free transcription agrees with)."""
        s = evidence.second
        if s is None or not self.uses_second() or not self._plausible(s):
            return False
        if self.sure(evidence):
            return self.overruled_by_second(evidence)
        quiet = self.quiet(evidence)
        return (s.margin >= self.second_bar(s, quiet)
                and (s.free_agrees or s.engine_agrees or s.command or not self.second_free_agree
                     or (quiet and s.definite and s.margin >= self.second_quiet_margin_min)))

    def overruled_by_second(self, evidence: Evidence) -> bool:
        """In a quiet room, the engine is sure, but the second model heard another definite answer
        so clearly (second_quiet_overrule_margin_min, its free transcription agreeing) that its
        answer is taken instead of read back."""
        s = evidence.second
        return (s is not None and s.definite and s.free_agrees and self.quiet(evidence)
                and s.margin >= self.second_quiet_overrule_margin_min and self.vetoed_by_second(evidence))

    def vetoed_by_second(self, evidence: Evidence) -> bool:
        """The engine is sure, but the second model clearly heard another answer (a definite one by
        second_veto_definite_margin_min; for an answer rescued by a speaker warp, any lead of
        warped_veto_margin_min will do)."""
        s = evidence.second
        if s is None:
            return False
        bar = self.second_veto_margin_min
        if s.definite:
            bar = min(bar, self.second_veto_definite_margin_min)
        if _warped(evidence):
            bar = min(bar, self.warped_veto_margin_min)
        return (self.sure(evidence) and self._vetoable(evidence) and not s.engine_agrees
                and self._plausible(s) and s.margin >= bar)

    def doubted_by_second(self, evidence: Evidence) -> bool:
        """The engine is sure (not so sure that the second model is not asked), but to the second
        model no phrase of the grammar is like what was said: its best phrase, meaning another
        answer, lies more than -second_doubt_gap_max below its own free transcription."""
        s = evidence.second
        return (s is not None and bool(s.text) and not s.engine_agrees and s.gap < self.second_doubt_gap_max
                and self.quiet(evidence) and self.sure(evidence) and self._vetoable(evidence))

    def guessed_by_second(self, evidence: Evidence) -> bool:
        """Not clear enough to act on, but the second model's answer is worth reading back."""
        s = evidence.second
        if s is None or not self.uses_second() or not self._plausible(s):
            return False
        if self.vetoed_by_second(evidence):
            return True
        bar = self.guess_agree_margin_min if s.engine_agrees else self.guess_margin_min
        return not self.sure(evidence) and s.margin >= bar


def _warped(evidence: Evidence) -> bool:
    """The engine decoded this answer with a speaker warp (Evidence.extra["warp"], pocketsphinx's
    SPEAKER_WARPS): it rescued one the plain decode was not sure of."""
    return evidence.extra.get("warp", 1.0) != 1.0


def _squash(x: float, at_zero: float) -> float:
    """Logistic through (0, at_zero), rising to 1 with x."""
    bias = math.log(at_zero / (1.0 - at_zero))
    z = max(-50.0, min(50.0, 2.0 * x + bias))
    return 1.0 / (1.0 + math.exp(-z))


def confidence(evidence: Evidence, rule: RejectionRule) -> float:
    """How sure we are that the engine's best phrase is what was said, in [0, 1]."""
    if not evidence.text or not math.isfinite(evidence.verify):
        return 0.0
    return round(_squash((rule.score(evidence) - rule.score_min) / rule.scale, rule.confidence_at_threshold), 4)


def second_confidence(second: SecondOpinion, rule: RejectionRule, quiet: bool = False) -> float:
    """Confidence in an answer the second model settled: `second_confidence_at_bar` at its bar,
    rising toward 1 with its lead over the bar (e-fold per 2 nats). Calibrated on the benchmark:
    of 1,006 answers Moonshine settled (seed offsets 0, 1000 and 2000, every voice and noise level)
    4 were wrong (0.4%; 2 of 129 in the lowest band, 0.8-0.9), while pocketsphinx's own answers
    just over its threshold (confidence 0.6-0.7) were right 87-95% of the time; so a settled answer starts
    above the spoken interview's read-back level (0.7) instead of at pocketsphinx's 0.6, and is not
    read back for its own sake."""
    at = rule.second_confidence_at_bar
    bar = rule.second_bar(second, quiet)
    return round(at + (1.0 - at) * (1.0 - math.exp(-max(0.0, second.margin - bar) / 2.0)), 4)


def _lean(rule: RejectionRule, second: SecondOpinion | None, second_value: str | None,
          heard: str | None, answers: Collection[str]) -> str | None:
    """What a try that was not acted on leans to (two tries in a row leaning the same way are read
    back by the interview): the second model's best answer when it passes the logp and gap checks
    and leads by rule.lean_margin_min, or the engine's best phrase means the same; otherwise, with
    rule.lean_engine, the answer of the engine's best phrase, and without, the second model's
    answer all the same unless the engine heard another answer (not "I don't know", which
    pocketsphinx hears in much background talk; not a command, not nothing).

    Measured on pairs of failed tries of the same voice and answer over independent noise (the
    recognition benchmark's seed offsets 0 and 1000, white noise and background talk at 10 and 20
    dB, every voice; 2026-11-27). Under yes/no, the second model's best answer however slight its
    lead gave a repeated lean that was right 36 times and wrong once for real answers, and was a yes
    or no 23 times for a command (someone who said "repeat" twice would be asked to confirm a yes or
    no they never said); dropping its leads under 1.5 where pocketsphinx heard the other of yes and
    no: 32, 1 and 17. (Under 1.5 always: 31, 1 and 5, but whole spoken interviews under background
    talk then gave up on 78 more answers, red-flag "no"s whose read-back had settled them; under 1.5
    also where pocketsphinx heard "I don't know": 35 more.) In the session benchmark the rule keeps
    a "no it doesn't" that pocketsphinx heard, with Moonshine leaning to "yeah" by 0.02 in white
    noise, from being read back as a "yes". pocketsphinx's own best phrase is a poor yes/no lean (18
    right, 5 wrong, 9 for commands). At the location questions the second model's weak lead was
    mostly wrong (11 right, 21 wrong; under background talk mostly "I don't know"): there
    pocketsphinx's best phrase, unless the second model leads by 3, was right 51 times and wrong 5.
    When pocketsphinx decoded no phrase at all, the second model's answer is the only reading, and a
    place (not "I don't know", not a command) is the lean however slight its lead: at the location
    questions such places were right 42 times in 43 (ninth round, 2026-11-27: the fixtures at seed
    offset 0 in every condition and 24 voices nobody tuned on, clean and at 10 dB; "I don't know" or
    a command, 71 times, is no lean). Before, a clean held-out "side of my hip" that pocketsphinx
    never decodes, with Moonshine's lead 2.76, was given up after three tries."""
    moon = second_value if second is not None and second_value is not None and rule._plausible(second) else None
    if moon is not None and (second.margin >= rule.lean_margin_min or second.engine_agrees):
        return moon
    if rule.lean_engine:
        if heard is None and moon is not None and second.definite:
            return moon
        return heard
    return moon if heard not in answers or heard == Answer.UNKNOWN.value else None


def is_yes_no(grammar: Grammar) -> bool:
    return bool(set(grammar.values) & YES_NO_VALUES) and set(grammar.values) <= YES_NO_VALUES


def decide(grammar: Grammar, evidence: Evidence, rule: RejectionRule) -> Transcript:
    """The Transcript the product acts on: answer None when nothing, or too unsure, was heard.

    A rejected answer keeps the engine's text (for logs and the transcribe JSON) with a confidence
    below the acceptance bar, so that confidence and answer never disagree.
    """
    heard = grammar.match(evidence.text) if evidence.text else None
    text, conf, answer = evidence.text, 0.0, None
    second = evidence.second
    second_value = grammar.match(second.text) if second is not None and second.text else None
    settled = second_value if rule.settled_by_second(evidence) else None
    doubted = heard is not None and rule.doubted_by_second(evidence)
    if heard is not None and rule.sure(evidence) and not rule.vetoed_by_second(evidence) and not doubted:
        conf, answer = confidence(evidence, rule), heard
        if rule.corroborated_by_second(evidence):
            conf = max(conf, rule.second_confidence_at_bar)
    elif second is not None and settled is not None:
        text, conf, answer = second.text, second_confidence(second, rule, rule.quiet(evidence)), settled
    elif heard is not None:
        conf = min(confidence(evidence, rule), round(rule.confidence_at_threshold * 0.8, 4))
    guess = lean = None
    if (answer is None and second is not None and rule.guessed_by_second(evidence)
            and second_value in grammar.values):     # (a command is never read back)
        guess = second_value
    elif answer is None and doubted and heard in grammar.values:
        guess = heard       # the engine's own answer, read back: the second model doubts it, not denies it
    if answer is None:
        lean = _lean(rule, second, second_value, heard, grammar.values)
    alts = tuple((t, round(conf * math.exp(-max(gap, 0.0)), 4)) for t, gap in evidence.alternatives if t != text)
    noisy = evidence.extra.get("headroom_db", math.inf) < NOISY_BELOW_DB
    return Transcript(text=text, answer=answer, confidence=conf, alternatives=alts, guess=guess, lean=lean,
                      noisy=noisy)
