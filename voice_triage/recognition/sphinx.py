"""The bundled engine: pocketsphinx (US English acoustic model + CMUdict) under each prompt's grammar.

How an utterance is recognised (each step measured on the fixture voices; figures in the
recognition report):
1. The foreground speaker's stretch is found from frame energies (`audio.speech_segment`): the
   noise and background talk before and after the answer never reach the decoder, which would
   otherwise turn them into words.
2. Noise is cleaned. When the 0.5 s before that stretch hold steady noise (white, fans, hum:
   frame energies within ~1 dB, `audio.steady_noise`), RNNoise (the `pyrnnoise` wheel's bundled
   model, run at 48 kHz) cleans it: at 10 dB white noise it lifts the best-phrase accuracy from
   76% to 88%. Otherwise gentle spectral subtraction, with the noise spectrum measured just before
   the stretch: RNNoise hurts background talk and clean speech (measured).
3. The stretch (plus 150 ms before and 80 ms after) is decoded under the prompt's grammar (an FSG of every
   phrase of every answer value and command), and by a free phone loop. Their per-frame score gap
   is the utterance-verification score: out-of-grammar speech, coughs and noise fit the grammar
   far worse than they fit the phone loop, while noise lowers both alike.
4. A second grammar decode without the winning value gives the margin to the best *different*
   answer (for yes/no: best "yes" phrase vs best "no"/"unknown"/command phrase). With
   `full_evidence` the raw (unsuppressed) audio is decoded too (`agreement`, for calibration).
5. `decision.decide` turns that evidence into an answer or None, with a confidence. When
   pocketsphinx is not sure, Moonshine (moonshine.py), a neural recogniser that errs differently
   and copes far better with background talk, scores every phrase of the grammar on the
   unsuppressed audio and writes its own free transcription; its best answer is acted on only when
   it clearly leads every other answer and is close to what it would have written freely.

Streaming: `feed` keeps the audio; as soon as the speaker has been quiet for 80 ms pocketsphinx
decodes the stretch heard so far, and once they have been quiet for 200 ms (or the endpointer calls
`ready`) Moonshine gives its opinion when the rule wants one, so `finish` at the end of the
end-of-speech wait usually just returns that result (if the speaker goes on, the stretch changes
and is decoded again; a stretch whose edges moved by 30 ms or less is not).
The lattice N-best of pocketsphinx is not used: with FSG search its `bestpath` pass often returns
partial phrases, so `bestpath` is off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import threading
import time
from typing import Iterable, Mapping

import numpy as np

from ..audio import (ANSWER_PAD_FRAMES, ANSWER_TAIL_FRAMES, FRAME, NOISE_FRAMES, SAMPLE_RATE, Denoiser,
                     frame_energies_db, headroom_db, high_band_db, resample, speech_segment, steady_noise,
                     suppress_noise)
from ..errors import ContentError, ModelError
from ..grammar import Grammar, load_grammars
from ..model import Answer
from .base import Transcript
from .decision import Evidence, RejectionRule, SecondOpinion, decide, is_yes_no
from .moonshine import MoonshineJudge, Opinion

log = logging.getLogger(__name__)

# Words the prompts use that CMUdict lacks (ARPAbet, as CMUdict writes them).
EXTRA_WORDS: dict[str, str] = {
    "glute": "G L UW T",
    "glutes": "G L UW T S",
    "sacroiliac": "S AE K R OW IH L IY AE K",
    "tailbone": "T EY L B OW N",
}

PAD_FRAMES = ANSWER_PAD_FRAMES    # 150 ms of context kept before the answer
TAIL_FRAMES = ANSWER_TAIL_FRAMES  # and 80 ms after it
PAUSE_FRAMES = TAIL_FRAMES  # decode early once the speaker has been quiet this long (80 ms)
OPINION_PAUSE_FRAMES = 20  # ... and asks Moonshine, when the rule wants it, once it has been this long (200 ms)
STRETCH_SLACK_FRAMES = 3  # a stretch whose edges moved this little is the one already decoded
# NOISE_FRAMES (from audio): noise measured on up to 0.5 s before that context
PHONE_LOOP = "_phone_loop"
SCALE = 1000.0   # pocketsphinx scores are tiny in natural-log units: per-frame scores in thousandths
SS_OVER, SS_FLOOR = 1.0, 0.3  # gentle: stronger subtraction hurts with background talk
MAX_FRAMES_PER_PHONE = 18.0   # longer speech squeezed onto a short phrase is something else said

# Calibrated on the tuned fixture voices (clean, white and babble noise at 10 dB, plus out-of-grammar
# sentences under every grammar; scripts/measure_recognition.py --evidence), checked on the held-out
# voices. yes/no gets the stricter bar: no wrong answer to a red-flag question on the tuned set, with
# 0.1 of room above the best-scoring wrong one. Both use the margin to the best phrase meaning
# something else (for yes/no: the best "yes" phrase against the best "no"/"unknown"/command phrase).
# Scores are per-frame log-likelihoods in thousandths (SCALE).
# When pocketsphinx is not sure, Moonshine scores every phrase of the grammar (decision.SecondOpinion)
# and its best answer is acted on when it leads the next answer by 6 nats, or by 3 when pocketsphinx's
# best phrase means the same (on the benchmark mixes no answer with a lead of 4 or more was wrong,
# except one below). For yes/no the lead must be 5 when pocketsphinx's phrase means the same, else 6
# with Moonshine's own free transcription meaning the same answer. Over three seed offsets this
# settles 165 more yes/no answers than a bar of 6 both ways did, and 1 wrong one: a "faster" under
# background talk at 5 dB taken as "yes" (both models heard "that's right"; lead 5.1); with a bar
# of 3 it was the only wrong one too.
# Below those bars, a lead of 4 (or 3 for yes/no, and 2 otherwise until 2026-11-26, when
# pocketsphinx's phrase means the same) is a guess the interview reads back instead of asking
# again: over 1,442 rejected benchmark answers (seed offsets 0 and 1000) such guesses were right
# 93-98% of the time (seed offset 2000, not used for choosing: 93% and 97%), and 1 of 814
# out-of-grammar tries made one.
# (A guess is only ever an answer: the interview never reads a command back.)
# Where the pain is and where it travels decide the result, and there pocketsphinx can be sure and
# wrong ("thigh" for hibari's "foot" in noise): Moonshine hears those answers too, and one it
# contradicts by a lead of 6 is read back as its guess instead (on the benchmark, seed offsets 0
# and 1000: 8 of the 30 wrong answers among 1,867 pocketsphinx was sure of caught, no right one
# lost; seed offset 2000: 3 of 18, none lost). Under yes/no a veto caught nothing there at a lead
# of 3 or more, so yes/no answers pocketsphinx is sure of do not wait for Moonshine. Nor do location
# answers it is very sure of (confidence 0.99 or more): in the dumps of all three seed offsets, 841
# of the 1,867 sure location answers, none of them wrong, and every answer the veto caught was below
# 0.99. Waiting for Moonshine (then 0.3-0.5 s, past the end-of-speech wait; 0.2-0.35 s since its
# scoring got faster) then falls on about a quarter of location answers in a quiet room, not all.
# When pocketsphinx is not sure of a location answer but its best phrase and Moonshine's mean the
# same, that answer is read back as a guess whatever Moonshine's lead (dumps of the three seed
# offsets: right 48 times in 51, against 16 in 17 with a lead of 2 or more) instead of asking again.
# A location answer pocketsphinx is sure of only just (confidence below 0.7, which the spoken
# interview reads back) is not read back when Moonshine's best answer is the same by a lead of 3:
# over the three seed offsets such answers (either grammar) were right 100 times in 100; those it
# did not back were wrong 14 times in 68, and are still read back. The same for yes/no: 63 backed
# over the three seed offsets and 26 more in this round's run, none wrong; it saves 0.05 turns per
# question on clean sessions (1.26 instead of 1.31). Until Moonshine's scoring got faster
# (2026-11-26, third round) its wait cost too much (p95 813 ms instead of 763 ms then).
# When pocketsphinx's best phrase means something else but its runner-up, within
# ENGINE_CLOSE_MARGIN, means Moonshine's answer (SecondOpinion.engine_close), the two models do not
# disagree: pocketsphinx could not tell the two apart. Moonshine's lead then needs 5, not 6 (for
# yes/no, the same as when both models' best phrases agree; the free transcription must still
# agree). Re-decided over the benchmark dumps of seed offsets 0, 1000 and 2000 (7,602 answers,
# every voice and noise level): 12 more answers acted on, none wrong (10 more, none wrong, on two
# dumps of the older scoring). The nearest such answers that would be wrong lead by 4.44 (a
# location answer: flite slt's "my thigh", heard by pocketsphinx, with Moonshine leaning "foot",
# white noise 10 dB) and 4.23 under yes/no ("go back" taken as "no", white noise 5 dB, older
# scoring). It settles hibari's clean "no" (pocketsphinx "help" with "no" 0.14 behind, Moonshine
# "no" by 5.2), which was read back every time.
# Since Moonshine's encoder runs in float (2026-11-26, fifth round; moonshine.py) its leads are
# larger on clean speech (hibari's "no" by 11.8); every bar here was re-checked on full benchmark
# runs of seed offsets 0 and 1000 with it: no answer Moonshine settled alone was wrong, 3 settled
# with both models agreeing were (places taken as "I don't know" under background talk), and the
# nearest wrong yes/no answer led by 3.88 (4.41 for an out-of-grammar sentence, wide window).
# A command (repeat, help, go back, stop, slower, faster) that both models' best phrases mean is acted
# on with a lead of 2 (second_command_agree_margin_min), under every grammar, and under yes/no
# Moonshine's free transcription need not agree for a command (the check guards red-flag answers).
# Over the benchmark dumps of seed offsets 0 and 1000 with the int8 encoder (5,068 recognitions,
# every voice and noise level), Moonshine's best answer was a command 0 times under yes/no when something else was said,
# and never, under any grammar, when pocketsphinx's best phrase meant the same command; the 123 + 97
# times it wrongly led with a command were all at the location questions with pocketsphinx hearing
# something else (lead 5.36 at most, under the bar of 6 there). So 64 + 46 more commands are acted
# on, none wrong (with the float encoder, 56 more on seed offset 0, none wrong); before, a command
# said in noise was asked again even when both models heard it.
# Three readings agreeing (pocketsphinx's best phrase, Moonshine's best phrase and its own free
# transcription all meaning the same yes, no or "I don't know"): a lead of 2, whatever the window
# (2026-11-27). Over the fifth round's dumps (seed offsets 0 and 1000, white noise and background
# talk at 10 and 20 dB, every voice and the out-of-grammar clips) the three agreed on a wrong answer
# once under yes/no, at a lead of 0.46, and on 26 right answers left unsettled at leads of 2-5;
# after the change, on seed offsets 0, 1000 and 2000 (5 dB included), every answer so settled
# under the old bars was right. See README, "How well it hears".
# A yes or no pocketsphinx is sure of with a confidence under 0.9 is heard by Moonshine too, and not
# acted on when Moonshine clearly hears another answer (lead 3.5; 2026-11-27). On the recognition
# benchmark (seed offsets 0, 1000 and 2000; 1,720 answers under yes/no that pocketsphinx settled)
# its 8 wrong answers all had a confidence under 0.9, three of them a "stop" taken as "no", "yes" or
# "I don't know" while Moonshine heard "stop" by 3.81, 4.38 and 7.27; where pocketsphinx was right
# and Moonshine heard something else, Moonshine's lead was 2.84 at most.
# Eighth round (2026-11-27), the location questions, re-decided over evidence dumps
# (`measure_recognition.py --evidence`) of the fixtures (seed offsets 0 and 3000; clean, white noise
# and background talk at 10 and 5 dB), of every voice's "I don't know" phrasings decoded under both
# location grammars, and of three sets of eight voices nobody tuned on (`make_fixtures.py
# --extra-voices DIR --extra-set a|b|c`, every phrasing; clean, white noise and background talk at
# 10 dB). The bars were chosen on the fixtures' seed offset 0 and set a (the "I don't know" bar
# saw seed offset 3000 too), checked on seed offset 3000 and set b, and set c was made and measured
# after they were final:
# - A location answer pocketsphinx is sure of (confidence under 0.99) is not acted on when Moonshine
#   hears *another place* by a lead of 2 (second_veto_definite_margin_min); "I don't know" or a
#   command, which Moonshine falls back on in noise, still needs 6. Where Moonshine's plausible
#   best answer was another place, pocketsphinx was wrong all 24 times it led by 2 or more (the
#   times pocketsphinx was right, it led by 1.84 at most); where it was "I don't know" or a
#   command, pocketsphinx was right at leads up to 4.85. 10 wrong answers fewer, no right one lost,
#   each read back as Moonshine's place (right all 10 times); set c: 1 fewer, none lost.
# - "I don't know" at the location questions needs Moonshine's lead of 5 (6 since the ninth round,
#   below) even when pocketsphinx's best phrase means it too (second_unsure_margin_min; a place
#   needs 3). Taken wrongly, a place
#   (what decides the result) is lost without a word: under background talk both models fall
#   back on "I don't know" when a place was said. Agreed "I don't know"s settled by Moonshine: said
#   66 times, 4 of them at leads of 4.5-4.95; not said, 11 times, 8 of them at leads of 3.07-3.99.
#   8 wrong answers fewer, 4 right ones read back instead of taken; set c: 1 fewer, 3 read back.
# - Tried and not kept: taking a place Moonshine hears by 4.5 when pocketsphinx is not sure and heard
#   something else (the bar stays 6; from 4 such a place is read back as a guess). On the data the
#   bar was chosen on, 29 more answers right and none wrong (at 4: 35 and none, but seed offset 3000
#   then had flite slt's "my thigh" taken as "foot" at 4.27); on set c, 10 more right and 1 wrong (an
#   out-of-grammar "no idea" where the pain travels heard as "nowhere" by 5.95). In whole interviews
#   it added a misheard answer (held-out white noise 2 -> 3): espeak-ng f3's "I don't know", which
#   both models hear as "nowhere" (where the pain travels) in 18 of 40 white-noise mixes at 10 dB
#   already, was taken so in 9 more. What it saved was read-backs of guesses that were right; a
#   misheard place is worse than a read-back, so the read-back stays.
# - Under yes/no, Moonshine now also hears (and can veto) answers pocketsphinx is sure of with a
#   confidence of 0.9 to 0.97 (veto_below, was 0.9). Over all the dumps above, 2 wrong answers fewer
#   and none lost: hibari pitched down saying "change my answer", taken as a danger-sign "yes" at
#   0.95 (Moonshine "change my answer" by 11.0), and piper's "previous question" taken as "repeat"
#   at 0.95; with every yes/no answer heard (veto_below above 1), still those 2. It adds Moonshine's
#   opinion to about 1 in 9 clean yes/no answers (11% of them fall in 0.9-0.97), run at the pause
#   inside the end-of-speech wait.
# Ninth round (2026-11-27): "I don't know" at the location questions needs Moonshine's lead of 6,
# as a place it alone hears does, even when pocketsphinx's best phrase means it too (was 5 since the
# eighth round). The benchmark now asks every "I don't know" clip at the location questions too
# (measure_recognition.py's unsure_place group), and with "no idea" and "I can't tell" in the location
# grammars (grammars/en/pain_location.yaml) there are more rivals for a place. Over the fixtures
# (seed offsets 0 and 3000) and the three extra sets: with the new grammars 4 places taken as "I
# don't know" at leads of 5.22-5.94 (a place lost without a word) are no longer taken, and 7 right
# "I don't know"s with leads of 5-6 are read back ("you are not sure ... is that right?") instead;
# on the old grammars' dumps, 4 (5.02-5.98) and 10. Nearly all under background talk at 5-10 dB.
# Eleventh round (2026-11-27): in a quiet room (the answer's headroom, audio.headroom_db, at least
# QUIET_DB), Moonshine's definite answers (a place, a yes, a no; not "I don't know", not a command)
# are taken at lower bars: a place with a lead of 3 whatever pocketsphinx heard (6 elsewhere), a yes
# or no with 5, its free transcription agreeing or not (elsewhere 6, agreeing), or 3.5 when
# pocketsphinx's best phrase means it too (5); and a place leading by 10, its free transcription
# agreeing, is taken over a place pocketsphinx was sure of (read back elsewhere). The bars elsewhere were set by noise: what
# Moonshine gets wrong with a lead of 3-6 is almost all under background talk and white noise at
# 5-10 dB. On clean speech from voices nobody tuned on, pocketsphinx often hears nothing or a
# command where Moonshine hears the answer clearly (espeak-ng variants above all). Chosen on
# evidence dumps of the fixtures (seed offset 0, all 7 conditions) and the clean extra sets a-c:
# 31 more answers right, none wrong; Moonshine's definite answers wrong in quiet led by 4.56 at most
# under yes/no (an espeak-ng "go back" heard as "no", its free transcription agreeing: hence 5) and
# never by 2 at the location questions (the place bar of 3 took no wrong answer even applied at
# every noise level of the fixtures, where one at 2 did: a "the outer hip" as "inside of my hip" by
# 2.63 under background talk at 10 dB). Checked afterwards on a fourth set of eight voices made for
# it (make_fixtures.py --extra-set d) and on the sets' white noise / background talk at 10 dB, where
# the rule does not apply (headroom 12-22 dB): see CHANGES.md, eleventh round.
# Twelfth round (2026-11-27): rooms and microphones (noise.degrade: reverberation, a narrow band,
# too quiet, clipped). In a reverberant room (synthetic, RT60 0.6-0.8 s) pocketsphinx was sure of
# out-of-grammar tries (a cough as "hip bone", "what time is it" as "what did you say") 7 times in
# 78 and of 3 wrong places in 266 answers (clean and noisy speech: 0-2 in 273 and about 0.3%), while
# Moonshine, asked already (the veto), found no phrase of the grammar like what was said: its best
# phrase, meaning another answer, 11.3-17 nats below its own free transcription. In a quiet room such
# an answer is doubted (RejectionRule.second_doubt_gap_max = -11): read back, not taken. Chosen on
# every dump at hand (the fixtures in 7 noise conditions and 6 rooms, seed offsets 0 and 1000 at 10
# dB, the four extra sets): 7 out-of-grammar tries and 2 wrong answers no longer acted on, 3 right
# answers read back instead of taken, none lost; none of it in noise (headroom under QUIET_DB, where
# Moonshine's free transcription is poor and its gap says little). See CHANGES.md, twelfth round.
QUIET_DB = 30.0
DOUBT_GAP = -11.0
# Thirteenth round (2026-11-27): an answer heard through an 8 kHz channel (a Bluetooth headset's
# narrowband link, a phone line; audio.high_band_db under NARROWBAND_DB) is open to Moonshine's veto
# however sure pocketsphinx is (RejectionRule.narrowband_below_db). pocketsphinx's model is a 16 kHz
# one and there it was very sure (0.99 and over, where Moonshine is not asked) of "my buttock" for
# "my back" twice and "go back" for "stop", while Moonshine, whose 8 kHz answers are about as good
# as its 16 kHz ones, heard what was said by 4.8-11.5. See CHANGES.md, thirteenth round.
NARROWBAND_DB = -53.0
RULE_YES_NO = RejectionRule(score_min=-1.40, margin_weight=0.3, max_frames_per_phone=MAX_FRAMES_PER_PHONE,
                            second_margin_min=6.0, second_agree_margin_min=5.0, second_close_margin_min=5.0,
                            second_command_agree_margin_min=2.0, second_free_agree=True,
                            second_wide_margin_min=5.5, guess_margin_min=4.0, guess_agree_margin_min=3.0,
                            corroborate_below=0.7, lean_margin_min=1.5, second_all_agree_margin_min=2.0,
                            second_veto_margin_min=3.5, veto_below=0.97,
                            quiet_db=QUIET_DB, second_quiet_margin_min=5.0, second_quiet_agree_margin_min=3.5,
                            second_doubt_gap_max=DOUBT_GAP, narrowband_below_db=NARROWBAND_DB)
RULE_OTHER = RejectionRule(score_min=-2.05, margin_weight=0.2, margin_min=0.2,
                           max_frames_per_phone=MAX_FRAMES_PER_PHONE, second_margin_min=6.0,
                           second_agree_margin_min=3.0, second_close_margin_min=5.0, second_unsure_margin_min=6.0,
                           second_command_agree_margin_min=2.0, guess_margin_min=4.0,
                           guess_agree_margin_min=0.0,
                           second_veto_margin_min=6.0, second_veto_definite_margin_min=2.0,
                           veto_below=0.99, corroborate_below=0.7, lean_margin_min=3.0, lean_engine=True,
                           quiet_db=QUIET_DB, second_quiet_margin_min=3.0, second_quiet_overrule_margin_min=10.0,
                           second_doubt_gap_max=DOUBT_GAP, narrowband_below_db=NARROWBAND_DB)
OPINION_PAD_FRAMES = 20   # audio either side of the answer given to the second model (200 ms) ...
# ... and in steady noise (white, fans, hum), 350 ms: over the benchmark mixes, answers acted on at
# 10 dB white noise rose from 78.9% to 81.2% (tuned voices) and 68.4% to 71.9% (held-out), at 5 dB
# from 59.4% to 63.9%, with one more wrong there (3 of 266); with the wider window everywhere,
# clean held-out voices lost 3 of 57 answers and background talk 1-5 points, so only steady noise
# gets it. Checked on other mixes (seed offset 1000, white noise at 10 and 5 dB): yes/no answers
# acted on 184 -> 202 of 306, but one was wrong, flite awb's "help" taken as "no" (both models
# heard "no", Moonshine's lead 5.03 against the bar of 5). So under yes/no an answer heard over
# the wider window needs a lead of 5.5 (second_wide_margin_min): 195 of 306 there and 332 of 459
# on the first mixes (313 with the narrow window), none wrong in either.
OPINION_PAD_STEADY_FRAMES = 35
# pocketsphinx's runner-up (its best phrase meaning another answer) within this many units of
# `margin` (per-frame acoustic score; answers it is sure of lead by about 3) of its best phrase: it
# could not tell the two apart, so when that runner-up means the answer Moonshine leads with, the
# two models do not disagree, and Moonshine's lead needs the rule's second_close_margin_min.
ENGINE_CLOSE_MARGIN = 0.5
# Following one speaker through a session (vocal tract length normalisation, done on the audio):
# pocketsphinx's model fits an average adult voice, and a voice pitched and formed higher or lower
# (a short or long vocal tract, a child, a pitch-shifted recording) fits it badly. The first answers
# of a session are decoded again with their spectrum stretched by each factor of SPEAKER_WARPS
# (the audio resampled: 0.87 lowers every frequency by 13%), and from the second answer on, the
# factor under which the grammar's best phrase fits the audio best (acoustic score per frame), on
# average over the answers heard, is used when it beats no stretch by SPEAKER_WARP_GAIN. Measured
# on pocketsphinx's own decodes of clean speech, as shipped (`python scripts/measure_speaker_warp.py
# [--audio DIR]`, 3 answers of a voice learnt from, 300 draws): answers it is sure of and right
# about, the 12 fixture voices 90.1% -> 90.9% (none worse), 8 voices made for the check
# (make_fixtures.py --extra-voices) 59.2% -> 76.8%: pitched down 3 semitones 48.7% -> 98.0%, pitched
# up 39.5% -> 94.7%, espeak-ng en-us-nyc+f4 15.8% -> 40.5%. (Whole interviews: CHANGES.md.) The warp only
# rescues: an answer the plain decode is sure of is kept as it is, and only what it is not sure of
# is decoded again with the warp (so a voice the model already fits loses nothing); a rescued
# answer can always be vetoed by Moonshine (decision.RejectionRule._vetoable), since a warp can
# make a wrong phrase fit surer. The learning costs one decode per factor, run when the next
# answer starts (inside the speaking time, not before the next prompt).
SPEAKER_WARPS = (0.87, 0.93, 1.0, 1.07, 1.14)
SPEAKER_WARP_GAIN = 0.3
SPEAKER_WARP_ANSWERS = 4     # answers learnt from; the choice then stays for the session


def _model_dir() -> str:
    try:
        from pocketsphinx import get_model_path
    except ImportError as exc:   # pragma: no cover - pocketsphinx is a dependency
        raise ModelError(f"pocketsphinx is not installed ({exc}): pip install pocketsphinx") from exc
    return get_model_path()


def jsgf(grammar: Grammar) -> str:
    """The grammar as JSGF: one alternative per phrase (answers and commands)."""
    body = "\n    | ".join(grammar.phrases())
    return f"#JSGF V1.0;\ngrammar {grammar.name};\npublic <answer> = {body};\n"


class SphinxRecognizer:
    """pocketsphinx under the prompt grammars. One utterance at a time (a stream owns the decoders)."""

    name = "sphinx"

    def __init__(self, lang: str = "en", grammars: Mapping[str, Grammar] | None = None, *,
                 rules: tuple[RejectionRule, RejectionRule] | None = None, second_opinion: bool = True,
                 threads: int | None = None) -> None:
        if lang != "en":
            raise ModelError(f"the bundled engine only speaks English, not '{lang}': "
                             "install a vosk model for it (voice-triage download-model " + lang + ")")
        self.lang = lang
        self.grammars: dict[str, Grammar] = dict(grammars) if grammars is not None else load_grammars(lang)
        self.rule_yes_no, self.rule_other = rules or (RULE_YES_NO, RULE_OTHER)
        # Only the decodes the rejection rule uses are run (speed); True runs them all (calibration).
        self.full_evidence = False
        # RNNoise instead of spectral subtraction when the noise before the answer is steady.
        self.enhance = True
        # Following one speaker (follow_speaker()): the warp in use, what was learnt, what is to learn.
        self.warp = 1.0
        self._following = False
        self._fits: list[dict[float, float]] = []
        self._to_learn: tuple[np.ndarray, Grammar] | None = None
        self._warp_memo: dict[tuple[bytes, str], dict[float, float]] = {}
        try:
            self._denoiser: Denoiser | None = Denoiser()
        except (ImportError, OSError) as exc:     # the optional wheel is missing: subtraction only
            log.debug("RNNoise unavailable (%s): spectral subtraction only", exc)
            self._denoiser = None
        t0 = time.perf_counter()
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise ModelError(f"pocketsphinx is not installed ({exc}): pip install pocketsphinx") from exc
        model = _model_dir()
        common = dict(hmm=os.path.join(model, "en-us", "en-us"),
                      dict=os.path.join(model, "en-us", "cmudict-en-us.dict"),
                      lm=None, loglevel="FATAL", cmn="batch", bestpath=False)
        try:
            self._words = Decoder(**common)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"the pocketsphinx model cannot be loaded from {model}: {exc}") from exc
        for word, phones in EXTRA_WORDS.items():
            if self._words.lookup_word(word) is None:
                self._words.add_word(word, phones, False)
        self._words.add_allphone_file(PHONE_LOOP, None)
        self.check_vocabulary(self.grammars.values())
        self._searches: set[str] = set()
        for g in self.grammars.values():
            self._add_search(g)
            if self.rule_for(g).margin_weight > 0 or self.rule_for(g).margin_min > 0:
                for value in {*g.values, *g.commands}:
                    self._competitor_search(g, value)
        # Moonshine's second opinion on answers it is not sure of, when its wheel is installed. It loads in
        # the background (about 1 s; 10 s the very first time): the first prompt is being spoken
        # meanwhile, and an answer that needs it waits for it.
        self._judge: MoonshineJudge | None = None
        self.judge_problem = "turned off" if not second_opinion else ""
        self._judge_loader: threading.Thread | None = None
        if second_opinion:
            # Not a daemon: a process that ends while onnxruntime is still loading would abort.
            self._judge_loader = threading.Thread(target=self._load_judge, args=(threads,), name="moonshine-load")
            self._judge_loader.start()
        self.load_seconds = time.perf_counter() - t0
        log.debug("pocketsphinx loaded in %.2f s", self.load_seconds)

    def _load_judge(self, threads: int | None) -> None:
        try:
            self._judge = MoonshineJudge(threads=threads)
        except ModelError as exc:
            self.judge_problem = str(exc)
            log.info("no second opinion: %s", exc)
        except Exception as exc:   # a thread must not die silently: the engine works without it
            self.judge_problem = f"{exc.__class__.__name__}: {exc}"
            log.warning("the second opinion could not be loaded: %s", self.judge_problem)

    @property
    def judge(self) -> MoonshineJudge | None:
        """The second-opinion model (waits for the background load), or None without one."""
        if self._judge_loader is not None:
            self._judge_loader.join()
            self._judge_loader = None
        return self._judge

    # -- vocabulary ------------------------------------------------------------------------------
    def in_vocabulary(self, word: str) -> bool:
        return self._words.lookup_word(word) is not None

    def missing_words(self, grammar: Grammar) -> list[str]:
        return grammar.words_outside(self.in_vocabulary)

    def check_vocabulary(self, grammars: Iterable[Grammar]) -> None:
        """ContentError naming the first grammar word the engine cannot pronounce."""
        for g in grammars:
            missing = self.missing_words(g)
            if missing:
                raise ContentError(f"word '{missing[0]}' of grammar '{g.name}' is not in the pocketsphinx "
                                   "dictionary: add it to EXTRA_WORDS in recognition/sphinx.py or rephrase")

    def _add_search(self, grammar: Grammar) -> str:
        key = f"g_{grammar.name}_{abs(hash(tuple(grammar.phrases()))) % 10**8}"
        if key not in self._searches:
            missing = self.missing_words(grammar)
            if missing:
                raise ContentError(f"word '{missing[0]}' of grammar '{grammar.name}' is not in the "
                                   "pocketsphinx dictionary")
            try:
                self._words.add_jsgf_string(key, jsgf(grammar))
            except (RuntimeError, ValueError) as exc:
                raise ContentError(f"grammar '{grammar.name}' cannot be compiled for pocketsphinx: {exc}") from exc
            self._searches.add(key)
        return key

    # -- following one speaker ---------------------------------------------------------------------
    def follow_speaker(self, on: bool = True) -> None:
        """A new session of one speaker begins: forget the last speaker and learn this one's warp
        from the first answers (see SPEAKER_WARPS). Without this call (or with on=False) the
        engine does not warp."""
        self.warp = 1.0
        self._following = on
        self._fits = []
        self._to_learn = None

    def heard(self, grammar: Grammar, evidence: Evidence, decoded: np.ndarray | None) -> None:
        """An answer was decided from `evidence`, decoded from `decoded` (the cleaned, unwarped
        stretch pocketsphinx heard; SphinxStream.decoded): when following a speaker, keep it to learn
        from when the next stream starts (the learning costs a few decodes, so it runs then, inside
        the next answer's speaking time, not before the next prompt). A stream calls this itself;
        a caller that replays a stream's result from a cache calls it with what the stream kept."""
        if self._following and evidence.text and decoded is not None and len(self._fits) < SPEAKER_WARP_ANSWERS:
            self._to_learn = (decoded, grammar)

    def _learn(self) -> None:
        if self._to_learn is None:
            return
        audio, grammar = self._to_learn
        self._to_learn = None
        fits = self.warp_fits(audio, grammar)
        if not math.isfinite(fits[1.0]):
            return
        self._fits.append(fits)
        self.warp = choose_warp(self._fits)
        log.debug("speaker warp %.2f after %d answers", self.warp, len(self._fits))

    def warp_fits(self, audio: np.ndarray, grammar: Grammar) -> dict[float, float]:
        """How well the grammar's best phrase fits `audio` (what pocketsphinx decoded, unwarped)
        under each factor of SPEAKER_WARPS: acoustic score per frame (-inf: nothing decoded).
        Memoised by audio (the session benchmark replays the same clips)."""
        key = (hashlib.sha1(np.ascontiguousarray(audio).tobytes()).digest(), grammar.name)
        fits = self._warp_memo.get(key)
        if fits is None:
            search = self._add_search(grammar)
            fits = {}
            for a in SPEAKER_WARPS:
                raw = np.ascontiguousarray(warp_audio(audio, a), dtype=np.int16).tobytes()
                text, _, acoustic, frames = self._run(raw, search)
                fits[a] = SCALE * acoustic / frames if text else -math.inf
            if len(self._warp_memo) > 512:
                self._warp_memo.clear()
            self._warp_memo[key] = fits
        return fits

    def rule_for(self, grammar: Grammar) -> RejectionRule:
        return self.rule_yes_no if is_yes_no(grammar) else self.rule_other

    # -- recognition -----------------------------------------------------------------------------
    def stream(self, grammar: Grammar) -> "SphinxStream":
        """A stream for the next answer (learning first from the answer before, when following a
        speaker: `warp` is then what this answer is decoded with)."""
        self._learn()
        return SphinxStream(self, grammar)

    def recognize(self, samples: np.ndarray, grammar: Grammar) -> Transcript:
        s = self.stream(grammar)
        s.feed(samples)
        return s.finish()

    def evidence(self, samples: np.ndarray, grammar: Grammar) -> Evidence:
        """Segment, clean and decode a whole utterance (int16, 16 kHz)."""
        return self.evidence_and_input(samples, grammar)[0]

    def evidence_and_input(self, samples: np.ndarray, grammar: Grammar) -> tuple[Evidence, np.ndarray | None]:
        """`evidence`, and the cleaned, unwarped stretch that was decoded (None: no speech found)."""
        x = np.asarray(samples, dtype=np.int16)
        seg = speech_segment(frame_energies_db(x))
        if seg is None:
            return Evidence("", -math.inf, 0.0), None
        return self._evidence(x, seg, grammar)

    def _evidence(self, x: np.ndarray, seg: tuple[int, int], grammar: Grammar) -> tuple[Evidence, np.ndarray]:
        """Everything the rule reads about the stretch `seg` of `x`: pocketsphinx's decodes, then
        Moonshine's opinion when the rule wants one."""
        ev, decoded, later = self._engine_evidence(x, seg, grammar)
        return self._with_opinion(ev, grammar, later, x), decoded

    def _engine_evidence(self, x: np.ndarray, seg: tuple[int, int],
                         grammar: Grammar) -> tuple[Evidence, np.ndarray, "_OpinionWanted | None"]:
        """pocketsphinx's part of `_evidence` (about a third of its time under noise), and what
        Moonshine would be asked (None: the rule does not want its opinion). A stream runs this at
        every pause and Moonshine only once the pause looks like the end of the answer."""
        n_frames = len(x) // FRAME
        start, end = max(0, seg[0] - PAD_FRAMES), min(n_frames, seg[1] + TAIL_FRAMES)
        # Noise is measured on up to NOISE_FRAMES before the answer (what a stream has heard by the
        # time the speaker pauses), so a stream and a whole recording decode the same audio; and
        # only that much goes through suppression, whatever ran before.
        lo = max(0, start - NOISE_FRAMES)
        noise = np.arange(0, start - lo) if start - lo >= 10 else None
        piece = x[lo * FRAME:end * FRAME]
        energies = frame_energies_db(piece)
        steady = noise is not None and steady_noise(energies[:start - lo], energies[seg[0] - lo:seg[1] - lo])
        if self.enhance and self._denoiser is not None and steady:
            clean = self._denoiser(piece)      # steady noise: RNNoise
        else:
            clean = suppress_noise(piece, noise, over=SS_OVER, floor=SS_FLOOR)
        clean = np.concatenate([np.zeros(lo * FRAME, dtype=np.int16), clean])
        rule = self.rule_for(grammar)
        decoded = clean[start * FRAME:end * FRAME]
        rival = self.full_evidence or rule.margin_weight > 0 or rule.margin_min > 0
        ev = self._decode(decoded, grammar, rival=rival)
        warp = 1.0
        if self.warp != 1.0 and not (ev.text and rule.sure(ev)):
            # The speaker's warp rescues what the plain decode is not sure of; it never replaces
            # an answer the plain decode is sure of (so a voice the model already fits loses nothing).
            warped = self._decode(warp_audio(decoded, self.warp), grammar, rival=rival)
            if warped.text and rule.sure(warped):
                ev, warp = warped, self.warp
        ev = dataclasses.replace(ev, extra={**ev.extra, "headroom_db": headroom_db(energies), "warp": warp,
                                            "high_band_db": high_band_db(x[seg[0] * FRAME:seg[1] * FRAME])})
        later = None
        if rule.wants_opinion(ev) or (self.full_evidence and rule.uses_second()):
            # (Decided on the evidence before `agreement` below, as it always has been.)
            pad = OPINION_PAD_STEADY_FRAMES if steady else OPINION_PAD_FRAMES
            # (The end is cut to the audio there is when Moonshine is asked, not now.)
            later = _OpinionWanted(max(0, seg[0] - pad), seg[1] + pad, ev.text, steady, _close_runner_up(ev))
        if not ev.text or not (self.full_evidence or rule.agreement_min > 0):
            return ev, decoded, later
        # A second opinion from the untouched audio: noise suppression helps against steady
        # noise and hurts against background talk, and an answer both readings agree on is rarely
        # wrong.
        raw = np.ascontiguousarray(warp_audio(x[start * FRAME:end * FRAME], ev.extra["warp"])).tobytes()
        other, _, _, _ = self._run(raw, self._add_search(grammar))
        table = grammar.phrase_table()
        agree = 1.0 if table.get(other) == table[ev.text] else 0.0
        return dataclasses.replace(ev, agreement=agree), decoded, later

    def _with_opinion(self, ev: Evidence, grammar: Grammar, later: "_OpinionWanted | None",
                      x: np.ndarray) -> Evidence:
        """`ev` with Moonshine's opinion of `later`'s stretch of `x` (the audio so far), when one is
        wanted and Moonshine is there (a sure answer never waits for Moonshine to load)."""
        if later is None or self.judge is None:
            return ev
        # (Starting Moonshine beside the pocketsphinx decode was tried: no faster over 243
        # answers, p50 385 vs 384 ms; the two do not overlap in one process.)
        rule = self.rule_for(grammar)
        op = self.judge.opinion(x[later.start * FRAME:later.end * FRAME], grammar.phrases(),
                                rule.second_logp_min, rule.second_gap_min)
        return dataclasses.replace(ev, second=self._second(op, grammar, later.heard, wide=later.steady,
                                                           close=later.close))

    def _second(self, op: Opinion, grammar: Grammar, heard: str, wide: bool = False,
                close: str | None = None) -> SecondOpinion:
        """Moonshine's scores over every phrase of the grammar, summed up: its best answer, that
        answer's lead over the next one, and how it compares with Moonshine's own free
        transcription (decision.RejectionRule.settled_by_second reads these). `close`: the engine's
        runner-up phrase when it scored within ENGINE_CLOSE_MARGIN of the best."""
        if not op.scores:     # every phrase far below what the rules act on (see moonshine.BEAM)
            return SecondOpinion(text="", margin=0.0, logp=-math.inf, gap=-math.inf, free_agrees=False,
                                 engine_agrees=False, wide=wide)
        table = grammar.phrase_table()
        by_value: dict[str, list[float]] = {}
        for phrase, logp in op.scores.items():
            by_value.setdefault(table[phrase], []).append(logp)
        totals = {v: float(np.logaddexp.reduce(s)) for v, s in by_value.items()}
        value = max(totals, key=totals.__getitem__)
        best = max((p for p in op.scores if table[p] == value), key=op.scores.__getitem__)
        runner_up = max((t for v, t in totals.items() if v != value), default=-math.inf)
        # (Phrases Moonshine left unscored are at most op.unscored_below: far below, see moonshine.BEAM.)
        runner_up = max(runner_up, op.unscored_below)
        return SecondOpinion(text=best, margin=totals[value] - runner_up, logp=op.scores[best],
                             gap=op.scores[best] - op.free_logp,
                             free_agrees=grammar.match_typed(op.free_text) == value,
                             engine_agrees=bool(heard) and table.get(heard) == value, wide=wide,
                             engine_close=bool(close) and table.get(close) == value,
                             command=value in grammar.commands, unsure=value == Answer.UNKNOWN.value)

    def _competitor_search(self, grammar: Grammar, value: str) -> str | None:
        """A search over every phrase of `grammar` except those meaning `value` (None if nothing is left)."""
        table = {p: v for p, v in grammar.phrase_table().items() if v != value}
        if not table:
            return None
        key = f"c_{grammar.name}_{value}_{abs(hash(tuple(sorted(table)))) % 10**8}"
        if key not in self._searches:
            body = "\n    | ".join(sorted(table))
            self._words.add_jsgf_string(key, f"#JSGF V1.0;\ngrammar c;\npublic <answer> = {body};\n")
            self._searches.add(key)
        return key

    def _hypothesis(self, raw: bytes, search: str):
        """One whole-utterance decode under `search`; the hypothesis or None."""
        d = self._words
        d.activate_search(search)
        # A fresh front end every time: pocketsphinx otherwise carries its cepstral mean and noise
        # estimates over from the previous utterance, and the same audio would score differently.
        d.reinit_feat()
        d.start_utt()
        d.process_raw(raw, False, True)
        d.end_utt()
        return d.hyp()

    def _loop_score(self, raw: bytes) -> float:
        """Score of the best free phone string for the audio (the yardstick for verification)."""
        hyp = self._hypothesis(raw, PHONE_LOOP)
        return _log(self._words.logmath, hyp.score) if hyp is not None else -1e6

    def _run(self, raw: bytes, search: str) -> tuple[str, float, float, int]:
        """(hypothesis, its path score, its acoustic score from the word segments, frames) for one decode."""
        d = self._words
        hyp = self._hypothesis(raw, search)
        if hyp is None:
            return "", -1e6, -1e6, max(1, d.n_frames())
        acoustic = sum(_log(d.logmath, s.ascore) for s in (d.seg() or []))
        return hyp.hypstr.strip(), _log(d.logmath, hyp.score), acoustic, max(1, d.n_frames())

    def _decode(self, audio: np.ndarray, grammar: Grammar, rival: bool = True) -> Evidence:
        raw = np.ascontiguousarray(audio, dtype=np.int16).tobytes()
        table = grammar.phrase_table()
        text, path, acoustic, frames = self._run(raw, self._add_search(grammar))
        if text not in table:
            return Evidence("", -math.inf, 0.0, frames=frames)
        value = table[text]
        alts: list[tuple[str, float]] = []
        margin = math.inf
        rival_search = self._competitor_search(grammar, value) if rival else None
        if rival_search is not None:
            other, other_path, other_acoustic, _ = self._run(raw, rival_search)
            if other in table:
                margin = max(0.0, SCALE * (acoustic - other_acoustic) / frames)
                alts.append((other, margin))
        loop = self._loop_score(raw)
        # Utterance verification: how much worse the grammar's best explanation fits the audio
        # than the best free phone string does, per frame. Noise lowers both alike.
        verify = SCALE * (path - loop) / frames
        phones = sum(len((self._words.lookup_word(w) or "x").split()) for w in text.split())
        speech = max(1, frames - PAD_FRAMES - TAIL_FRAMES)
        return Evidence(text, verify, margin, tuple(alts), frames,
                        extra={"acoustic": SCALE * acoustic / frames, "loop": SCALE * loop / frames,
                               "frames_per_phone": speech / max(1, phones)})


@dataclasses.dataclass(frozen=True)
class _OpinionWanted:
    """What Moonshine is to hear: the answer's frames start..end (10 ms; the end is cut to the
    audio there is when it is asked), and what `_second` compares its opinion with."""
    start: int
    end: int
    heard: str                 # pocketsphinx's phrase
    steady: bool               # the noise around the answer is steady (a wider bar, more context)
    close: str | None          # pocketsphinx's runner-up, when it scored close to the best


def _close_runner_up(ev: Evidence) -> str | None:
    """The engine's runner-up phrase (the best one meaning another answer) when it scored within
    ENGINE_CLOSE_MARGIN of the best phrase: pocketsphinx could not tell the two apart."""
    if ev.alternatives and ev.alternatives[0][1] <= ENGINE_CLOSE_MARGIN:
        return ev.alternatives[0][0]
    return None


def choose_warp(fits: list[dict[float, float]]) -> float:
    """The factor of SPEAKER_WARPS for a speaker whose answers fit as `fits` (SphinxRecognizer.
    warp_fits, one per answer): the one fitting best against no warp on average, when at least two
    answers were heard and it gains SPEAKER_WARP_GAIN; else 1.0."""
    usable = [f for f in fits if math.isfinite(f.get(1.0, -math.inf))]
    if len(usable) < 2:
        return 1.0
    gain = {a: sum((f[a] - f[1.0]) if math.isfinite(f[a]) else -10.0 for f in usable) / len(usable)
            for a in SPEAKER_WARPS if a != 1.0}
    best = max(gain, key=gain.__getitem__, default=1.0)
    return best if gain.get(best, 0.0) >= SPEAKER_WARP_GAIN else 1.0


def warp_audio(x: np.ndarray, factor: float) -> np.ndarray:
    """int16 audio with every frequency multiplied by `factor` (played faster or slower: resampled
    from 16 kHz to 16 kHz / factor and taken as 16 kHz), for SPEAKER_WARPS."""
    if factor == 1.0 or x.size == 0:
        return x
    y = resample(np.asarray(x, dtype=np.float64), SAMPLE_RATE, int(round(SAMPLE_RATE / factor)))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _log(lm, prob: float) -> float:
    """A pocketsphinx probability back to natural log (underflow -> a very poor score)."""
    if prob <= 0.0:
        return -1e6
    return float(lm.log_to_ln(lm.log(prob)))


def _log_sum(lm, probs: Iterable[float]) -> float:
    return sum(_log(lm, p) for p in probs)


def _same_stretch(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two stretches (10 ms frames) that differ at each edge by at most STRETCH_SLACK_FRAMES: as
    audio comes in, the levels the segmenter judges against move, and an answer's edges with them."""
    return abs(a[0] - b[0]) <= STRETCH_SLACK_FRAMES and abs(a[1] - b[1]) <= STRETCH_SLACK_FRAMES


@dataclasses.dataclass
class _Decoded:
    """One stretch a stream decoded: pocketsphinx's evidence, and Moonshine's opinion to come."""
    seg: tuple[int, int]
    evidence: Evidence
    decoded: np.ndarray
    later: _OpinionWanted | None     # None once Moonshine has been heard (or was never wanted)


class SphinxStream:
    """One utterance. `feed` keeps the audio and decodes at pauses; `finish` returns the answer, and
    leaves `evidence` (what the answer was decided from) and `decoded` (the cleaned, unwarped audio
    that evidence was decoded from; None when no speech was found).

    At a pause of PAUSE_FRAMES pocketsphinx decodes the stretch so far; Moonshine, when the rule
    wants it (about two thirds of a decode's time under noise), waits until the pause has lasted
    OPINION_PAUSE_FRAMES, by which time it is most likely the end of the answer: under noise the
    quiet closure of a "p" or "t" is a pause too, and a stretch is often decoded three or four times
    before the speaker stops. Every stretch decoded is kept: one the segmenter comes back to (its
    edges move as the background is heard) is not decoded again."""

    def __init__(self, recognizer: SphinxRecognizer, grammar: Grammar) -> None:
        self._rec = recognizer
        self._grammar = grammar
        self._chunks: list[np.ndarray] = []
        self._n = 0
        self._energies = np.zeros(0)
        self._tail = np.zeros(0, dtype=np.int16)    # samples not yet filling a whole frame
        self._done: list[_Decoded] = []             # every stretch decoded, the latest last
        self._finished = False
        self.evidence: Evidence | None = None
        self.decoded: np.ndarray | None = None

    def feed(self, samples: np.ndarray) -> None:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        x = np.asarray(samples)
        if x.dtype.kind == "f":          # float audio in [-1, 1], as some sound APIs deliver it
            x = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
        elif x.dtype != np.int16:
            x = x.astype(np.int16)
        if x.ndim != 1:
            x = x.reshape(-1)
        if x.size == 0:
            return
        self._chunks.append(x)
        self._n += x.size
        pending = np.concatenate([self._tail, x])
        whole = (pending.size // FRAME) * FRAME
        if whole:
            self._energies = np.concatenate([self._energies, frame_energies_db(pending[:whole])])
        self._tail = pending[whole:]
        self._maybe_decode_at_pause()

    def _audio(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, dtype=np.int16)

    def _find(self, seg: tuple[int, int]) -> _Decoded | None:
        return next((d for d in reversed(self._done) if _same_stretch(d.seg, seg)), None)

    def _decode(self, seg: tuple[int, int]) -> _Decoded:
        ev, decoded, later = self._rec._engine_evidence(self._audio(), seg, self._grammar)
        d = _Decoded(seg, ev, decoded, later)
        self._done.append(d)
        return d

    def _complete(self, d: _Decoded) -> tuple[Evidence, np.ndarray]:
        """`d`'s evidence with Moonshine's opinion (asked now if it was still to come)."""
        if d.later is not None:
            d.evidence = self._rec._with_opinion(d.evidence, self._grammar, d.later, self._audio())
            d.later = None
        return d.evidence, d.decoded

    def _maybe_decode_at_pause(self) -> None:
        e = self._energies
        if e.size < 2 * PAUSE_FRAMES:
            return
        seg = speech_segment(e)
        if seg is None or e.size - seg[1] < PAUSE_FRAMES:
            return
        d = self._find(seg) or self._decode(seg)
        if d.later is not None and e.size - seg[1] >= OPINION_PAUSE_FRAMES:
            self._complete(d)

    def ready(self) -> None:
        """The endpointer has heard the speaker quiet a while: the stretch so far is decoded, with
        Moonshine's opinion when the rule wants it, now rather than at finish()."""
        seg = speech_segment(self._energies)
        if seg is not None and not self._finished:
            self._complete(self._find(seg) or self._decode(seg))

    def _kept_at_the_pause(self, seg: tuple[int, int]) -> _Decoded | None:
        """The answer's stretch, decoded at the last pause and acted on, has since grown into the
        very end of the audio with no pause after it. The endpointer ended the answer on silence,
        so what joined the stretch is background sound (under background talk, a voice behind the
        speaker): the answer stands, rather than hold it up by a whole decode (0.2-0.9 s). A decode
        at the pause that gave nothing to act on is not kept: the longer stretch is decoded.
        Measured on the benchmark's mixes fed in 20 ms blocks (all 362 clips; background talk at
        10 and 5 dB): 28 and 98 stretches grew so. Of the 23 acted on at the pause, decoding again
        gave the same answer 19 times, and nothing 3 times (1 was wrong both ways); of the other
        103, decoding again found 9 answers, none wrong. Returns that decode, else None."""
        if not self._done:
            return None
        d = self._done[-1]
        c0, c1 = d.seg
        if not (self._energies.size - seg[1] < PAUSE_FRAMES and c0 < seg[1] and seg[0] < c1):
            return None
        ev, _ = self._complete(d)
        return d if decide(self._grammar, ev, self._rec.rule_for(self._grammar)).answer is not None else None

    def finish(self) -> Transcript:
        self._finished = True
        seg = speech_segment(self._energies)
        if seg is None:
            ev, decoded = Evidence("", -math.inf, 0.0), None
        else:
            d = self._find(seg) or self._kept_at_the_pause(seg) or self._decode(seg)
            ev, decoded = self._complete(d)
        self.evidence, self.decoded = ev, decoded
        self._rec.heard(self._grammar, ev, decoded)
        return decide(self._grammar, ev, self._rec.rule_for(self._grammar))
