"""Masking for logs: a log line never carries a full PINFL, phone number or name."""

from __future__ import annotations

import re

_PINFL = re.compile(r"(?<!\d)(\d{3})\d{8}(\d{3})(?!\d)")
_PHONE = re.compile(r"\+?998\d{9}")


def mask_pinfl(pinfl: str) -> str:
    """``31234567890123`` -> ``312********123``: enough to tell taxpayers apart in a log."""
    if len(pinfl) != 14:
        return "*" * min(len(pinfl), 14)
    return pinfl[:3] + "*" * 8 + pinfl[-3:]


def redact(text: str) -> str:
    """Mask every PINFL- or phone-shaped run of digits in free text."""
    text = _PHONE.sub("+998*********", text)
    return _PINFL.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
