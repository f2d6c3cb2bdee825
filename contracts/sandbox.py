"""Sandbox taxpayers (issue 17): test data that can never be a real person.

A sandbox taxpayer's PINFL starts with ``999``. A real PINFL's first digit says sex and
century of birth (1-6), so ``9`` is never a real person's; the 14th digit is still the
check digit, so sandbox events pass the same validation as real ones and go through the
same pipeline. What differs (docs/integrators.md, "Sandbox"):
- a sandbox taxpayer's tax years count as closed from the first event: the return is
  computed at once, without waiting for the year close or the cut-off;
- a sandbox API key publishes only sandbox taxpayers, and only a sandbox key may use the
  sandbox endpoints (a test taxpayer, a test dispute).
"""

from __future__ import annotations

import secrets

SANDBOX_PREFIX = "999"
_WEIGHTS = (7, 3, 1)


def is_sandbox(pinfl: str) -> bool:
    return pinfl.startswith(SANDBOX_PREFIX)


def check_digit(first13: str) -> str:
    """The 14th digit: digits 1-13 weighted 7, 3, 1 repeating, summed, mod 10."""
    return str(sum(int(d) * _WEIGHTS[i % 3] for i, d in enumerate(first13)) % 10)


def sandbox_pinfl(number: int | None = None) -> str:
    """A sandbox PINFL: ``999``, ten digits (``number``, else random), the check digit."""
    body = f"{SANDBOX_PREFIX}{secrets.randbelow(10**10) if number is None else number:010d}"
    if len(body) != 13:
        raise ValueError("a sandbox number has at most ten digits")
    return body + check_digit(body)
