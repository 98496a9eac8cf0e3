"""Speech recognition under a grammar: one protocol, one adapter per engine.

The interview imports only this module's protocol and types, never an engine.
"""

from .base import Recognizer, RecognitionStream, Transcript

__all__ = ["Recognizer", "RecognitionStream", "Transcript"]
