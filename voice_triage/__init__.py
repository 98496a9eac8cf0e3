"""voice-triage: a hands-free, offline spoken triage for pain high in the buttock.

It does not diagnose and does not replace a clinician.
"""

__version__ = "0.1.0"
