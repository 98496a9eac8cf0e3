"""Live audio at the edge: the microphone and the speaker, through sounddevice (PortAudio).

Everything a user can get wrong here (no PortAudio, no microphone, a device name that does not
exist) becomes a DeviceError with one line; `NoMicrophoneError` says there is no input device at
all, which the voice front end answers with the recorded demo instead of failing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from .errors import DeviceError
from .recognition.base import SAMPLE_RATE

log = logging.getLogger(__name__)

Kind = Literal["input", "output"]
_WHAT = {"input": "microphone", "output": "speaker"}
_OUTPUT_LATENCY = 0.05   # seconds: low enough to start at once, high enough not to underrun
_TAIL_SECONDS = 0.03   # after the last sample left us, before the stream is cut


class NoMicrophoneError(DeviceError):
    """No input device at all (as opposed to one the user named that is missing)."""


class NoSpeakerError(DeviceError):
    """No output device at all."""


def sounddevice() -> ModuleType:
    """The sounddevice module, or a DeviceError when PortAudio itself is missing."""
    try:
        import sounddevice as sd
    except OSError as exc:   # sounddevice raises OSError when libportaudio cannot be loaded
        raise DeviceError(f"PortAudio is not available, so there is no live audio "
                          f"(install the Debian package libportaudio2): {exc}") from None
    _quiet_alsa()
    return sd


_ALSA_HANDLER: Any = None


def _quiet_alsa() -> None:
    """alsa-lib prints its own lines on stderr ("underrun occurred", unknown PCM cards) under
    our one-line messages; route them to the debug log instead."""
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None:
        return
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("asound")
        if not name:
            _ALSA_HANDLER = False
            return
        asound = ctypes.CDLL(name)
        handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                        ctypes.c_int, ctypes.c_char_p)

        def handler(file: bytes, line: int, function: bytes, err: int, fmt: bytes) -> None:
            log.debug("alsa-lib: %s (%s:%d)", fmt.decode(errors="replace") if fmt else "",
                      function.decode(errors="replace") if function else "?", line)

        _ALSA_HANDLER = handler_type(handler)   # kept alive: alsa-lib holds the pointer
        asound.snd_lib_error_set_handler(_ALSA_HANDLER)
    except Exception as exc:   # no ALSA at all: nothing to quieten
        log.debug("cannot quieten alsa-lib: %s", exc)
        _ALSA_HANDLER = False


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    hostapi: str

    def channels(self, kind: Kind) -> int:
        return self.inputs if kind == "input" else self.outputs


def list_devices() -> list[DeviceInfo]:
    """Every audio device PortAudio sees (empty when there is none)."""
    sd = sounddevice()
    try:
        raw = sd.query_devices()
        apis = sd.query_hostapis()
    except Exception as exc:  # PortAudio can fail to initialise (no sound server, no ALSA)
        log.debug("query_devices failed: %s", exc)
        return []
    return [DeviceInfo(index=i, name=str(d["name"]), inputs=int(d["max_input_channels"]),
                       outputs=int(d["max_output_channels"]), default_rate=float(d["default_samplerate"]),
                       hostapi=str(apis[d["hostapi"]]["name"]) if d["hostapi"] < len(apis) else "")
            for i, d in enumerate(raw)]


def _default_index(kind: Kind) -> int:
    sd = sounddevice()
    try:
        idx = sd.default.device[0 if kind == "input" else 1]
        if idx is None or int(idx) < 0:
            idx = sd.query_devices(kind=kind)["index"]
        return int(idx)
    except Exception:
        return -1


def find_device(spec: str | int | None, kind: Kind) -> DeviceInfo:
    """The device a user means by `spec` (a number, a name or part of one; None: the default)."""
    devices = [d for d in list_devices() if d.channels(kind) > 0]
    what = _WHAT[kind]
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        if not devices:
            cls = NoMicrophoneError if kind == "input" else NoSpeakerError
            raise cls(f"no {what} found")
        idx = _default_index(kind)
        return next((d for d in devices if d.index == idx), devices[0])
    text = str(spec).strip()
    if text.isdigit():
        hit = next((d for d in devices if d.index == int(text)), None)
        if hit is None:
            raise DeviceError(f"there is no {what} number {text} ('voice-triage doctor' lists the devices)")
        return hit
    wanted = text.lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    partial = [d for d in devices if wanted in d.name.lower()]
    if exact or partial:
        hit = (exact or partial)[0]
        if not exact and len(partial) > 1:
            log.info("%s %r matches %d devices; using %s", what, text, len(partial), hit.name)
        return hit
    raise DeviceError(f"there is no {what} named '{text}' ('voice-triage doctor' lists the devices)")


def _supported_rate(sd: ModuleType, device: DeviceInfo, kind: Kind, rate: int) -> int:
    """`rate` when the device takes it, else the device's own rate (we resample)."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device.index, samplerate=rate, channels=1, dtype="int16")
        return rate
    except Exception:
        return int(device.default_rate)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """int16 mono at `from_rate` -> int16 mono at `to_rate` (whole buffers)."""
    if from_rate == to_rate or samples.size == 0:
        return samples
    return _StreamResampler(from_rate, to_rate).process(samples)


class _StreamResampler:
    """Block-by-block resampling for a live stream: low-pass FIR (with its tail carried from block
    to block) then linear interpolation at a carried fractional position. Good enough for speech."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.step = from_rate / to_rate             # input samples per output sample
        cutoff = min(1.0, to_rate / from_rate) * 0.45   # of the input rate
        n = np.arange(-16, 17)
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(n.size)
        self.taps = taps / taps.sum()
        self.tail = np.zeros(self.taps.size - 1)
        self.pos = 0.0                               # next output position, in filtered input samples
        self.last = 0.0                              # last filtered sample of the previous block

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.tail, block.astype(np.float64)])
        y = np.convolve(x, self.taps, mode="valid")   # len(block) samples, delayed by 16
        self.tail = x[-(self.taps.size - 1):]
        ext = np.concatenate([[self.last], y])      # ext[i + 1] = y[i]; ext[0] = previous sample
        positions = np.arange(self.pos, len(y), self.step)
        out = np.interp(positions + 1, np.arange(ext.size), ext)
        self.pos = (positions[-1] + self.step - len(y)) if positions.size else self.pos - len(y)
        self.last = y[-1] if y.size else self.last
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


class Speaker:
    """Plays int16 mono audio on one output device; play() returns when done, stop() cuts it short."""

    def __init__(self, device: str | int | None = None) -> None:
        self._sd = sounddevice()
        self.device = find_device(device, "output")
        self._stop = threading.Event()
        self._rates: dict[int, int] = {}
        self.playing = False
        self.last_end = 0.0   # time.monotonic() when the last sound finished

    @property
    def name(self) -> str:
        return self.device.name

    def stop(self) -> None:
        self._stop.set()

    def play(self, samples: np.ndarray, rate: int) -> bool:
        """Play to the end (True) or until stop() (False)."""
        samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        if samples.size == 0:
            return True
        if rate not in self._rates:
            self._rates[rate] = _supported_rate(self._sd, self.device, "output", rate)
        out_rate = self._rates[rate]
        data = resample(samples, rate, out_rate)
        pos = 0
        handed_over = threading.Event()   # the callback has handed the last sample to PortAudio
        self._stop.clear()

        def callback(outdata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
            nonlocal pos
            chunk = data[pos:pos + frames]
            outdata[:len(chunk), 0] = chunk
            outdata[len(chunk):, 0] = 0
            pos += frames
            if pos >= len(data) and not handed_over.is_set():
                handed_over.set()

        # No CallbackStop + drain: ALSA's drain through some plugins (PulseAudio's among them)
        # takes seconds or cuts the tail. We wait out the device's latency ourselves, then abort.
        try:
            stream = self._sd.OutputStream(samplerate=out_rate, device=self.device.index, channels=1,
                                           dtype="int16", callback=callback, latency=_OUTPUT_LATENCY)
        except Exception as exc:
            raise DeviceError(f"cannot play on '{self.device.name}': {exc}") from None
        self.playing = True
        try:
            stream.start()
            while not handed_over.wait(0.02):
                if self._stop.is_set():
                    return False
                if not stream.active:   # the device went away
                    raise DeviceError(f"playback on '{self.device.name}' stopped unexpectedly")
            tail_end = time.monotonic() + float(stream.latency) + _TAIL_SECONDS
            while time.monotonic() < tail_end:
                if self._stop.wait(0.005):
                    return False
            return True
        finally:
            try:
                stream.abort()
                stream.close()
            except Exception as exc:
                log.debug("closing the output stream: %s", exc)
            self.playing = False
            self.last_end = time.monotonic()


class Microphone:
    """16 kHz mono int16 from one input device. The PortAudio callback only queues bytes; read()
    converts (and resamples when the device cannot record at 16 kHz)."""

    def __init__(self, device: str | int | None = None, *, block_seconds: float = 0.02) -> None:
        self._sd = sounddevice()
        self.device = find_device(device, "input")
        self.rate = SAMPLE_RATE
        self.device_rate = _supported_rate(self._sd, self.device, "input", SAMPLE_RATE)
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._resampler = (_StreamResampler(self.device_rate, SAMPLE_RATE)
                           if self.device_rate != SAMPLE_RATE else None)
        try:
            self._stream = self._sd.RawInputStream(
                samplerate=self.device_rate, device=self.device.index, channels=1, dtype="int16",
                blocksize=int(self.device_rate * block_seconds), callback=self._callback, latency="low")
        except Exception as exc:
            raise DeviceError(f"cannot open the microphone '{self.device.name}': {exc}") from None

    @property
    def name(self) -> str:
        return self.device.name

    def _callback(self, indata: Any, frames: int, time_: Any, status: Any) -> None:
        self._queue.put(bytes(indata))

    def start(self) -> None:
        if not self._stream.active:
            try:
                self._stream.start()
            except Exception as exc:
                raise DeviceError(f"cannot record from '{self.device.name}': {exc}") from None

    def close(self) -> None:
        try:
            self._stream.abort()
            self._stream.close()
        except Exception as exc:
            log.debug("closing the microphone: %s", exc)

    def __enter__(self) -> Microphone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Drop everything recorded so far (what the microphone heard while a prompt played)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        """The next block (int16, 16 kHz), or None when nothing came within `timeout` seconds."""
        try:
            raw = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        block = np.frombuffer(raw, dtype=np.int16)
        return self._resampler.process(block) if self._resampler else block

    def skip(self, seconds: float) -> None:
        """Discard the next `seconds` of audio (a guard after a prompt, against its echo)."""
        left = int(seconds * SAMPLE_RATE)
        deadline = time.monotonic() + seconds + 0.5
        while left > 0 and time.monotonic() < deadline:
            block = self.read(0.05)
            if block is not None:
                left -= block.size
