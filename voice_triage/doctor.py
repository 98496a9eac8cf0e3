"""`voice-triage doctor`: what this machine would use for the interview, and what is missing.

Each check says what it found and, when something is missing, the command that fixes it.
Exit 0 when the hands-free interview can run (content, a recogniser, a microphone, speech
out), 1 otherwise. With --json: one JSON object on stdout.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .config import Config, Engine
from .errors import ContentError, TriageError

log = logging.getLogger(__name__)


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    fix: str | None = None            # the command or step that fixes it
    details: dict[str, Any] = field(default_factory=dict)
    needed: bool = True               # False: informative only, does not fail the run

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "summary": self.summary, "needed": self.needed}
        if self.fix:
            out["fix"] = self.fix
        out.update(self.details)
        return out


def _check_content(config: Config) -> Check:
    try:
        from .grammar import load_grammars

        grammars = load_grammars(config.lang)
    except TriageError as exc:
        return Check("content", False, f"the grammars for '{config.lang}' cannot be loaded: {exc}",
                     fix="reinstall voice-triage, or pick a language that has grammars with --lang")
    try:
        from .content import load_content

        content = load_content(config.lang)
        summary = f"{len(content.questions)} questions and {len(grammars)} grammars for '{config.lang}'"
    except ImportError:
        summary = f"{len(grammars)} grammars for '{config.lang}'"
    except TriageError as exc:
        return Check("content", False, f"the questions for '{config.lang}' cannot be loaded: {exc}",
                     fix="reinstall voice-triage, or pick a language that has content with --lang")
    return Check("content", True, summary, details={"grammars": sorted(grammars)})


def _check_engine(config: Config) -> tuple[Check, Check]:
    """(which engine and why, the vocabulary check: loading the recogniser)."""
    from .recognition.select import choose_engine, download_command, make_recognizer

    try:
        choice = choose_engine(config)
    except TriageError as exc:
        fix = (download_command(config.lang) if "no vosk model" in str(exc)
               else "pass --model PATH to a complete vosk model folder, or use --engine sphinx")
        engine = Check("engine", False, str(exc), fix=fix,
                       details={"engine": Engine(config.engine).value, "model": None})
        return engine, Check("vocabulary", False, "not checked: no recogniser", needed=False)
    details: dict[str, Any] = {"engine": choice.engine.value, "model": str(choice.model) if choice.model else None,
                               "reason": choice.reason}
    if choice.engine is Engine.SPHINX and Engine(config.engine) is Engine.AUTO:
        details["vosk_hint"] = (f"vosk is usually more accurate: `{download_command(config.lang)}` "
                                f"installs a model, or pass --model PATH")
    engine = Check("engine", True, f"{choice.engine.value}"
                   + (f" with the model in {choice.model}" if choice.model else "") + f" ({choice.reason})",
                   details=details)
    started = time.perf_counter()
    try:
        recognizer = make_recognizer(config)
    except ContentError as exc:   # the engine loads, but a grammar word is not in its vocabulary
        return engine, Check("vocabulary", False, str(exc),
                             fix="use a vosk model with a larger vocabulary (--model PATH), or --engine sphinx")
    except TriageError as exc:
        engine.ok = False
        engine.summary = f"{choice.engine.value} cannot be loaded: {exc}"
        if choice.engine is Engine.VOSK:
            engine.fix = ("pass --model PATH to a complete vosk model folder" if config.model
                          else f"{download_command(config.lang)}, or pass --model PATH")
        elif "not installed" in str(exc):
            engine.fix = "pip install pocketsphinx"
        else:
            engine.fix = f"use --engine vosk with a model for '{config.lang}': {download_command(config.lang)}"
        return engine, Check("vocabulary", False, "not checked: no recogniser", needed=False)
    except Exception as exc:  # an engine library failing in a way of its own: say so, don't crash
        log.debug("loading the recogniser failed", exc_info=True)
        engine.ok = False
        engine.summary = f"{choice.engine.value} cannot be loaded: {exc.__class__.__name__}: {exc}"
        engine.fix = "run with --debug for details, or try the other --engine"
        return engine, Check("vocabulary", False, "not checked", needed=False)
    from .grammar import load_grammars

    engine.details["load_seconds"] = round(time.perf_counter() - started, 2)
    engine.summary += f"; loaded in {engine.details['load_seconds']:.1f} s"
    if recognizer.name == "sphinx":
        judge = getattr(recognizer, "judge", None)
        engine.details["second_opinion"] = "moonshine base-en" if judge is not None else None
        engine.summary += ("; second opinion on unsure answers: Moonshine base (English)" if judge is not None
                           else f"; no second opinion ({getattr(recognizer, 'judge_problem', '')})")
    words = sorted({w for g in load_grammars(config.lang).values() for w in g.words()})
    return engine, Check("vocabulary", True,
                         f"all {len(words)} grammar words are known to {recognizer.name}",
                         details={"words": len(words)})


def _check_audio(config: Config) -> tuple[Check, Check]:
    """(microphone, speaker)."""
    try:
        from .devices import find_device, list_devices

        devices = list_devices()
    except TriageError as exc:
        fix = "sudo apt-get install libportaudio2 (then, in a container, start a sound server: pulseaudio --start)"
        return (Check("microphone", False, str(exc), fix=fix), Check("speaker", False, str(exc), fix=fix))
    except Exception as exc:  # pragma: no cover - sounddevice misbehaving
        msg = f"audio devices cannot be listed: {exc.__class__.__name__}: {exc}"
        return (Check("microphone", False, msg, fix="check PortAudio"), Check("speaker", False, msg, fix="check PortAudio"))
    listing = [{"index": d.index, "name": d.name, "inputs": d.inputs, "outputs": d.outputs,
                "rate": d.default_rate, "hostapi": d.hostapi} for d in devices]
    checks = []
    for kind, spec, what in (("input", config.input_device, "microphone"), ("output", config.output_device, "speaker")):
        chosen_kind = [d for d in listing if d["inputs" if kind == "input" else "outputs"] > 0]
        try:
            device = find_device(spec, kind)  # type: ignore[arg-type]
        except TriageError as exc:
            fix = ("connect a microphone (or use `voice-triage text` to type the answers)" if kind == "input"
                   else "connect a speaker or headphones (or use `voice-triage text`)")
            if spec is not None and chosen_kind:
                fix = f"pick one of the {what}s listed with --{kind}-device NAME|NUMBER"
            checks.append(Check(what, False, str(exc), fix=fix, details={"devices": chosen_kind}))
            continue
        checks.append(Check(what, True, f"{device.name} (device {device.index}, {device.hostapi}); "
                                        f"{len(chosen_kind)} {what}(s) in all",
                            details={"device": device.name, "index": device.index, "devices": chosen_kind}))
    return checks[0], checks[1]


def _check_tts(config: Config) -> Check:
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    try:
        import pyttsx3
    except ImportError:
        return Check("speech out", False, "pyttsx3 is not installed", fix="pip install pyttsx3",
                     details={"espeak": espeak})
    try:
        engine = pyttsx3.init()
        voices = engine.getProperty("voices") or []
    except Exception as exc:  # pyttsx3 raises plain errors when no speech engine is installed
        fix = "sudo apt-get install espeak-ng" if not espeak else "check that espeak-ng runs: espeak-ng hello"
        return Check("speech out", False, f"pyttsx3 has no speech engine ({exc.__class__.__name__}: {exc})",
                     fix=fix, details={"espeak": espeak})

    def langs(v: Any) -> list[str]:
        out = []
        for item in getattr(v, "languages", None) or []:
            out.append(item.decode("utf-8", "replace").lstrip("\x05") if isinstance(item, bytes) else str(item))
        return out

    matching = [v for v in voices
                if any(lang.lower().split("-")[0] == config.lang.lower() for lang in langs(v))
                or str(getattr(v, "id", "")).lower().split("/")[-1].split("-")[0] == config.lang.lower()]
    # the plainest match first: a voice whose language is exactly `lang`
    matching.sort(key=lambda v: (config.lang.lower() not in [x.lower() for x in langs(v)], str(getattr(v, "id", ""))))
    details = {"voices": len(voices), "espeak": espeak,
               "voice": str(getattr(matching[0], "id", "")) if matching else None}
    if not matching:
        return Check("speech out", False, f"pyttsx3 has {len(voices)} voices but none for '{config.lang}'",
                     fix="sudo apt-get install espeak-ng (it has voices for most languages)", details=details)
    return Check("speech out", True, f"pyttsx3 voice '{details['voice']}' ({len(voices)} voices in all)",
                 details=details)


def diagnose(config: Config) -> list[Check]:
    content = _check_content(config)
    engine, vocab = _check_engine(config)
    mic, speaker = _check_audio(config)
    tts = _check_tts(config)
    return [content, engine, vocab, mic, speaker, tts]


def run_doctor(config: Config) -> int:
    checks = diagnose(config)
    ok = all(c.ok for c in checks if c.needed)
    missing = [{"what": c.name, "problem": c.summary, "fix": c.fix} for c in checks if not c.ok and c.fix]
    if config.json:
        report = {"ok": ok, "lang": config.lang, **{c.name.replace(" ", "_"): c.to_json() for c in checks},
                  "missing": missing}
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return 0 if ok else 1
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok " if c.ok else ("-- " if not c.needed else "NO ")
        print(f"{mark} {c.name.ljust(width)}  {c.summary}")
        hint = c.details.get("vosk_hint")
        if hint:
            print(f"    {''.ljust(width)}  ({hint})")
    if missing:
        print("\nTo fix:")
        for m in missing:
            print(f"  {m['what']}: {m['fix']}")
    print("\n" + ("The hands-free interview can run." if ok else
                  "The hands-free interview cannot run yet; `voice-triage text` works without audio."))
    return 0 if ok else 1
