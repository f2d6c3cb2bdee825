"""The single rounding function of the engine.

The Tax Code has no rounding rule for personal income tax (unverified, see the domain
brief): the default, stored as the parameter ``rounding.tax_amount``, rounds each computed
tax amount to whole soums (100 tiyin), half up. Every rounded figure in the engine goes
through ``round_tiyin`` so that changing the rule is a parameter change, not a code hunt.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

MODES = ("half_up", "half_even", "down", "up")


@dataclasses.dataclass(frozen=True, slots=True)
class RoundingRule:
    unit_tiyin: int = 100  # 100 = whole soums, 1 = whole tiyin
    mode: str = "half_up"

    def __post_init__(self) -> None:
        if self.unit_tiyin < 1:
            raise ValueError(f"rounding unit must be at least 1 tiyin, got {self.unit_tiyin}")
        if self.mode not in MODES:
            raise ValueError(f"rounding mode must be one of {MODES}, got {self.mode!r}")

    def describe(self) -> str:
        unit = "whole soum" if self.unit_tiyin == 100 else f"{self.unit_tiyin} tiyin"
        return f"{unit}, {self.mode.replace('_', ' ')}"


DEFAULT_RULE = RoundingRule()


def round_tiyin(amount: Fraction | int, rule: RoundingRule = DEFAULT_RULE) -> int:
    """Round an exact amount of tiyin to a multiple of ``rule.unit_tiyin``.

    Halves go away from zero for ``half_up`` (symmetric, so a refund and a payment of the
    same size round alike); ``down``/``up`` truncate towards / away from zero.
    """
    # In integers (a Fraction's arithmetic is Python code: this was ≈ 8 µs a call, twice a
    # return): amount / unit = numerator / denominator, and an int is its own numerator.
    numerator = amount.numerator
    denominator = amount.denominator * rule.unit_tiyin
    sign = -1 if numerator < 0 else 1
    whole, remainder = divmod(abs(numerator), denominator)
    if remainder == 0 or rule.mode == "down":
        rounded = whole
    elif rule.mode == "up" or 2 * remainder > denominator:
        rounded = whole + 1
    elif 2 * remainder < denominator:
        rounded = whole
    elif rule.mode == "half_up":
        rounded = whole + 1
    else:  # half_even
        rounded = whole + (whole % 2)
    return sign * rounded * rule.unit_tiyin
