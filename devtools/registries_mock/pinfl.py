"""Synthetic PINFLs in the published layout (domain brief, "Identity"; low confidence).

Digit 1 = century and sex (3/4: 1900s, 5/6: 2000s; odd = male), digits 2-7 = DDMMYY,
8-10 = area code, 11-13 = serial, 14 = check digit: sum of digits 1-13 weighted 7,3,1
repeating, mod 10.
"""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 3, 1)


def check_digit(first13: str) -> int:
    return sum(int(d) * _WEIGHTS[i % 3] for i, d in enumerate(first13)) % 10


def make_pinfl(birth: date, sex: str, area: int, serial: int) -> str:
    century = 3 if birth.year < 2000 else 5
    lead = century + (0 if sex == "M" else 1)
    body = f"{lead}{birth:%d%m%y}{area % 1000:03d}{serial % 1000:03d}"
    return body + str(check_digit(body))
