"""The command line: `voice-triage` and `python -m voice_triage`. See CONTRACT.md."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .config import Config, Engine
from .errors import TriageError

log = logging.getLogger(__name__)

DISCLAIMER = "voice-triage does not diagnose and does not replace a clinician."


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On sub-commands SUPPRESS keeps a value given before the sub-command from being reset.
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    parser.add_argument("--lang", default=d("en"), help="language of content and speech (default en)")
    parser.add_argument("--engine", choices=["vosk", "sphinx"], default=d(None),
                        help="recogniser (default: vosk when a model for the language is installed, else sphinx)")
    parser.add_argument("--model", type=Path, default=d(None), metavar="PATH", help="a vosk model folder")
    parser.add_argument("--json", action="store_true", default=d(False), help="print one JSON object on stdout")
    parser.add_argument("--debug", action="store_true", default=d(False), help="show tracebacks and debug logs")


def _voice_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    parser.add_argument("--rate", type=int, default=d(None), metavar="WPM", help="speech rate in words per minute")
    parser.add_argument("--volume", type=float, default=d(1.0), help="speech volume, 0 to 1")
    parser.add_argument("--timeout", type=float, default=d(None), metavar="SECONDS",
                        help="how long to wait for an answer to start (default: no limit)")
    parser.add_argument("--input-device", default=d(None), metavar="NAME|NUMBER", help="microphone")
    parser.add_argument("--output-device", default=d(None), metavar="NAME|NUMBER", help="speaker")
    parser.add_argument("--report", type=Path, default=d(None), metavar="PATH",
                        help="write the session as PATH.md and PATH.json")
    parser.add_argument("--save-audio", type=Path, default=d(None), metavar="FILE",
                        help="save the spoken prompts of the session to a WAV file")
    parser.add_argument("--quiet", action="store_true", default=d(False), help="no speech out")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-triage",
        description="A hands-free, offline spoken check for pain high in the buttock. " + DISCLAIMER,
    )
    parser.add_argument("--version", action="version", version=f"voice-triage {__version__}")
    _common(parser, top=True)
    _voice_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_ + " " + DISCLAIMER)
        _common(p, top=False)
        return p

    p = add("text", "the interview typed, for keyboards and screen readers")
    p.add_argument("--report", type=Path, default=argparse.SUPPRESS, metavar="PATH")
    p = add("assess", "assess a file of answers")
    p.add_argument("--answers", type=Path, required=True, metavar="FILE", help="YAML or JSON: question id -> answer")
    p = add("transcribe", "recognise one answer per WAV file under a question's grammar")
    p.add_argument("wavs", nargs="+", type=Path, metavar="WAV")
    p.add_argument("--question", required=True, metavar="ID", help="question id whose grammar to use")
    p = add("simulate", "a full spoken interview against a simulated speaker")
    p.add_argument("--answers", type=Path, required=True, metavar="FILE")
    p.add_argument("--phrases", type=Path, required=True, metavar="DIR", help="folder of <value>.wav phrases")
    p = add("replay", "a recorded session: DIR holds 01.wav, 02.wav, ...")
    p.add_argument("dir", type=Path, metavar="DIR")
    p = add("doctor", "say which engine, model and audio devices are in use, and what is missing")
    p = add("download-model", "fetch a vosk model for a language (an explicit download)")
    p.add_argument("model_lang", nargs="?", default=None, metavar="LANG")
    p.add_argument("--url", default=None, help="where to fetch the model zip from (default: the known model)")
    p.add_argument("--sha256", default=None, help="expected checksum of the zip")
    p = add("bench", "measure recognition accuracy, latency and memory on recorded phrases")
    p.add_argument("--fixtures", type=Path, default=None, metavar="DIR")
    p.add_argument("--noise", default="clean,white:10,babble:10",
                   help="conditions, e.g. clean,white:10,babble:5 (noise at an SNR in dB), reverb:0.6 or far:0.6 "
                        "(a room's RT60 in s), narrowband:8000, gain:-20")
    p.add_argument("--voices", default=None, help="comma-separated voices (default: all)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the table as Markdown")
    return parser


def make_config(args: argparse.Namespace) -> Config:
    return Config(
        lang=args.lang,
        engine=Engine(args.engine) if args.engine else Engine.AUTO,
        model=args.model,
        json=args.json,
        debug=args.debug,
        rate=getattr(args, "rate", None),
        volume=getattr(args, "volume", 1.0),
        timeout=getattr(args, "timeout", None),
        input_device=getattr(args, "input_device", None),
        output_device=getattr(args, "output_device", None),
        report=getattr(args, "report", None),
        save_audio=getattr(args, "save_audio", None),
        quiet=getattr(args, "quiet", False),
    )


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _cmd_assess(config: Config, args: argparse.Namespace) -> int:
    from .answers import load_answers_file
    from .content import load_content
    from .rules import assess

    content = load_content(config.lang)
    answers = load_answers_file(args.answers, content)
    result = assess(content, answers)
    if config.json:
        _print_json(result.to_json())
    else:
        print(result.explanation)
    return 0


def _cmd_text(config: Config, args: argparse.Namespace) -> int:
    from .text_mode import run_text

    return run_text(config)


def _cmd_transcribe(config: Config, args: argparse.Namespace) -> int:
    from .recognition.transcribe import transcribe_files

    results = transcribe_files(config, list(args.wavs), args.question)
    if config.json:
        if len(results) == 1:
            _print_json({k: v for k, v in results[0].items() if k != "file"})
        else:
            _print_json({"results": results})
    else:
        for r in results:
            prefix = f"{r['file']}: " if "file" in r else ""
            print(f"{prefix}{r['answer'] or 'not understood'} (heard {r['text']!r}, confidence {r['confidence']:.2f})")
    return 0


def _print_session(config: Config, result: dict[str, Any]) -> None:
    if config.json:
        _print_json(result)
    else:
        for turn in result.get("transcript", []):
            print(f"Q: {turn['prompt']}\n   heard: {turn['heard']!r} -> {turn['answer']}")
        print(result["explanation"])


def _cmd_simulate(config: Config, args: argparse.Namespace) -> int:
    from .session import simulate

    _print_session(config, simulate(config, args.answers, args.phrases))
    return 0


def _cmd_replay(config: Config, args: argparse.Namespace) -> int:
    from .session import replay

    _print_session(config, replay(config, args.dir))
    return 0


def _cmd_doctor(config: Config, args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    return run_doctor(config)


def _cmd_download_model(config: Config, args: argparse.Namespace) -> int:
    from .recognition.models import download_model

    lang = args.model_lang or config.lang
    path = download_model(lang, url=args.url, sha256=args.sha256, dest=config.model)
    if config.json:
        _print_json({"lang": lang, "model": str(path)})
    return 0


def _cmd_bench(config: Config, args: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(config, fixtures=args.fixtures, noise=args.noise, voices=args.voices, out=args.out)


def _cmd_voice(config: Config, args: argparse.Namespace) -> int:
    from .voice_mode import run_voice

    return run_voice(config)


COMMANDS: dict[str | None, Callable[[Config, argparse.Namespace], int]] = {
    None: _cmd_voice,
    "text": _cmd_text,
    "assess": _cmd_assess,
    "transcribe": _cmd_transcribe,
    "simulate": _cmd_simulate,
    "replay": _cmd_replay,
    "doctor": _cmd_doctor,
    "download-model": _cmd_download_model,
    "bench": _cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = make_config(args)
        return COMMANDS[args.command](config, args)
    except TriageError as exc:
        if args.debug:
            raise
        print(f"voice-triage: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("voice-triage: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if args.debug:
            raise
        print(f"voice-triage: unexpected error: {exc.__class__.__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
