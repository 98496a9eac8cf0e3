"""The closed sets and the data every part shares: ids from CONTRACT.md and EVIDENCE.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Answer(str, Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Command(str, Enum):
    REPEAT = "repeat"
    HELP = "help"
    BACK = "back"
    STOP = "stop"
    SLOWER = "slower"
    FASTER = "faster"


class Group(str, Enum):
    GLUTE = "glute"
    NERVE = "nerve"
    JOINT_SPINE = "joint_spine"


class Urgency(str, Enum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


class QuestionKind(str, Enum):
    YES_NO = "yes_no"
    LOCATION = "location"


PAIN_LOCATIONS = ("upper_buttock", "outer_hip", "mid_buttock", "si_dimple", "lower_back", "groin")
PAIN_SPREADS = ("none", "thigh", "below_knee", "foot")

SYMPTOM_QUESTIONS = (
    "pain_location", "pain_spread", "nerve_sensations", "leg_worse_than_back", "cough_sneeze",
    "single_leg_stance", "tender_side", "lying_on_side", "walking_stairs", "sitting_worse",
    "socks_shoes", "bending_back",
)
EMERGENCY_FLAGS = ("rf_saddle", "rf_bladder_bowel", "rf_both_legs", "rf_weakness")
URGENT_FLAGS = ("rf_fever", "rf_cancer", "rf_weight_loss", "rf_trauma", "rf_night_pain")
RED_FLAGS = EMERGENCY_FLAGS + URGENT_FLAGS
CAUSES = ("gluteus_medius", "gtps", "piriformis", "sciatica", "si_joint", "lumbar_referred", "hip_joint")

# Answers by question id: "yes" / "no" / "unknown" or a location id.
Answers = dict[str, str]


@dataclass(frozen=True)
class CauseScore:
    id: str
    group: Group
    score: float  # in [0, 1]
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "group": self.group.value, "score": round(self.score, 4),
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Assessment:
    urgency: Urgency
    red_flags: tuple[str, ...]          # red flags answered yes
    unknown_red_flags: tuple[str, ...]  # red flags not answered clearly
    likely_group: Group
    causes: tuple[CauseScore, ...]      # every cause, highest score first
    explanation: str                    # the text read aloud
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "urgency": self.urgency.value,
            "red_flags": list(self.red_flags),
            "likely_group": self.likely_group.value,
            "causes": [c.to_json() for c in self.causes],
            "explanation": self.explanation,
            "unknown_red_flags": list(self.unknown_red_flags),
        }
