"""The bot's button codes: what a press asks for. A button's callback data is
``<token>:<code>`` (notifier/telegram/keyboards.py); a code is two letters, or a letter
or two and a number (which line, which language, which score). These strings are on the
wire and stored with each menu: never change one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum

from contracts.records import DISPUTE_REASONS, DisputeReason


class Action(StrEnum):
    DETAILS = "dt"
    AGREE = "ag"
    DISAGREE = "dg"
    CONFIRM_AGREE = "ok"
    BACK = "bk"
    DONE = "dn"  # done picking lines
    SEND = "sd"  # send the dispute
    CANCEL = "cx"
    SKIP = "sk"  # no comment (a dispute line, or the survey)
    WRONG_AMOUNT = "rw"
    NOT_MINE = "rn"
    ALREADY_PAID = "rp"
    OTHER = "ro"
    LINE = "l"  # + the line's index in the return
    LANGUAGE = "lg"  # + the language's index in notifier.prompts.LANGUAGES
    SCORE = "v"  # + a satisfaction score, 1-5

    def code(self, number: int | None = None) -> str:
        """The code on the wire: the action's letters, and its number if it takes one."""
        if (number is None) == (self in NUMBERED):
            raise ValueError(f"{self.name} takes {'a' if self in NUMBERED else 'no'} number")
        return self.value if number is None else f"{self.value}{number}"


NUMBERED = (Action.LANGUAGE, Action.LINE, Action.SCORE)  # the longer prefix first
# The reason buttons, in the order of contracts.records.DISPUTE_REASONS.
REASONS: Mapping[Action, DisputeReason] = dict(
    zip(
        (Action.WRONG_AMOUNT, Action.NOT_MINE, Action.ALREADY_PAID, Action.OTHER),
        DISPUTE_REASONS,
        strict=True,
    )
)


@dataclasses.dataclass(frozen=True, slots=True)
class Pressed:
    action: Action
    number: int | None = None  # for the numbered actions


def parse(code: str) -> Pressed | None:
    """The action a code names (None: no such code)."""
    try:
        action = Action(code)
    except ValueError:
        for prefix in NUMBERED:
            rest = code.removeprefix(prefix.value)
            if rest != code and rest.isascii() and rest.isdigit():
                return Pressed(prefix, int(rest))
        return None
    return None if action in NUMBERED else Pressed(action)
