"""Typed, frozen law parameters parsed from the OpenFisca-style YAML files.

Each parameter has a unit and dated values; each value carries its effective period
(``from`` and an optional inclusive ``until``), a legal reference and a confidence mark
(``verified`` / ``secondary`` / ``unverified``). A lookup for a date no value covers raises
``MissingParameter``: the engine never falls back to a default.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import itertools
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import yaml

from tax.errors import MissingParameter, ParameterFileError
from tax.rounding import RoundingRule

CONFIDENCE = ("verified", "secondary", "unverified")
UNITS = (
    "rate",  # "12%" -> Fraction(12, 100)
    "soum",  # integer soums -> stored as tiyin
    "mw_multiple",  # integer multiple of the minimum wage
    "months",
    "count",
    "bool",
    "month_day",  # "04-01" -> (4, 1)
    "date_list",  # non-working days of one calendar year
    "weekday_list",  # ISO weekdays, 1 = Monday
    "category_list",  # income categories (see tax.rules.CATEGORIES)
    "rounding",  # {unit_tiyin, mode} -> RoundingRule
)
INCOME_CATEGORIES = ("employment", "rental", "property_sale", "dividend")


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    article: str
    source: str

    def __str__(self) -> str:
        return f"{self.article} <{self.source}>"


@dataclasses.dataclass(frozen=True, slots=True)
class ParameterValue:
    name: str
    unit: str
    start: dt.date
    until: dt.date | None  # inclusive; None = until the next value starts
    value: Any
    confidence: str
    reference: Reference
    note: str = ""

    def render(self) -> str:
        """The value as a short, unit-bearing string for a line's ``parameters``."""
        return render_value(self.unit, self.value)


@dataclasses.dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    description: str
    unit: str
    values: tuple[ParameterValue, ...]  # sorted by start
    _starts: tuple[dt.date, ...] = dataclasses.field(repr=False, compare=False)

    def at(self, day: dt.date) -> ParameterValue:
        index = bisect.bisect_right(self._starts, day) - 1
        if index < 0:
            raise MissingParameter(
                self.name,
                f"no value on {day.isoformat()} (first value from {self._starts[0].isoformat()})",
            )
        found = self.values[index]
        if found.until is not None and day > found.until:
            raise MissingParameter(
                self.name,
                f"no value on {day.isoformat()} (the value "
                f"from {found.start.isoformat()} ends "
                f"{found.until.isoformat()})",
            )
        if found.value is None:
            raise MissingParameter(
                self.name,
                f"no value on {day.isoformat()} (explicitly "
                f"unknown from {found.start.isoformat()})",
            )
        return found

    def covers(self, first: dt.date, last: dt.date) -> bool:
        """True when every day from ``first`` to ``last`` has a value."""
        day = first
        while day <= last:
            try:
                found = self.at(day)
            except MissingParameter:
                return False
            index = self.values.index(found)
            ends = [found.until] if found.until else []
            if index + 1 < len(self.values):
                ends.append(self.values[index + 1].start - dt.timedelta(days=1))
            if not ends:
                return True
            day = min(ends) + dt.timedelta(days=1)
        return True


@dataclasses.dataclass(frozen=True)
class ParameterSet:
    """Every law parameter, plus a version string derived from the YAML contents."""

    version: str
    parameters: Mapping[str, Parameter]
    _year_cache: dict[int, Any] = dataclasses.field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    def get(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise MissingParameter(name, "no such parameter") from None

    def at(self, name: str, day: dt.date) -> ParameterValue:
        """The value of ``name`` in force on ``day``; ``MissingParameter`` if none."""
        return self.get(name).at(day)

    def for_year(self, year: int) -> Any:
        """The parameters of one tax year (``tax.parameters.year.YearParameters``).

        Raises ``MissingParameter`` when any parameter the engine needs has no value on
        some day of the year. Built once per year and cached.
        """
        cached = self._year_cache.get(year)
        if cached is None:
            from tax.parameters.year import YearParameters  # the year view needs this module

            cached = YearParameters.build(self, year)
            self._year_cache[year] = cached
        return cached


def render_value(unit: str, value: Any) -> str:
    if unit == "rate":
        percent = value * 100
        text = str(percent.numerator) if percent.denominator == 1 else f"{float(percent):g}"
        return f"{text}%"
    if unit == "soum":
        return f"{value // 100} soum"
    if unit == "mw_multiple":
        return f"{value} × minimum wage"
    if unit == "months":
        return f"{value} months"
    if unit == "bool":
        return "yes" if value else "no"
    if unit == "month_day":
        return f"{value[0]:02d}-{value[1]:02d}"
    if unit == "date_list":
        return ", ".join(d.isoformat() for d in value)
    if unit in ("weekday_list", "category_list"):
        return ", ".join(str(v) for v in value)
    if unit == "rounding":
        return str(value.describe())
    return str(value)


# --- parsing -------------------------------------------------------------------------


def parse_parameter_files(documents: Mapping[str, str]) -> ParameterSet:
    """Parse YAML texts (file name -> text) into a ``ParameterSet``; pure, no file access.

    The version is a digest of the file names and texts, so any edit of any value, date,
    reference or confidence mark gives a new version (and a new reproducibility hash).
    """
    digest = hashlib.sha256()
    parameters: dict[str, Parameter] = {}
    for file_name in sorted(documents):
        text = documents[file_name]
        digest.update(file_name.encode() + b"\0" + text.encode() + b"\0")
        try:
            loaded = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date
            raise ParameterFileError(f"{file_name}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ParameterFileError(f"{file_name}: top level must be a mapping of parameters")
        for name, node in loaded.items():
            if name in parameters:
                raise ParameterFileError(f"{file_name}: parameter {name!r} defined twice")
            parameters[name] = _parse_parameter(file_name, str(name), node)
    return ParameterSet(version=digest.hexdigest()[:16], parameters=parameters)


def _parse_parameter(file_name: str, name: str, node: Any) -> Parameter:
    where = f"{file_name}: {name}"
    if not isinstance(node, dict):
        raise ParameterFileError(f"{where}: must be a mapping")
    unknown = set(node) - {"description", "unit", "reference", "confidence", "values", "note"}
    if unknown:
        raise ParameterFileError(f"{where}: unknown keys {sorted(unknown)}")
    description = node.get("description")
    unit = node.get("unit")
    if not isinstance(description, str) or not description.strip():
        raise ParameterFileError(f"{where}: needs a description")
    if unit not in UNITS:
        raise ParameterFileError(f"{where}: unit must be one of {UNITS}, got {unit!r}")
    raw_values = node.get("values")
    if not isinstance(raw_values, dict) or not raw_values:
        raise ParameterFileError(f"{where}: needs dated values")
    values = []
    for start, entry in raw_values.items():
        if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
            raise ParameterFileError(f"{where}: value key {start!r} is not a YYYY-MM-DD date")
        values.append(_parse_value(where, name, str(unit), start, entry, node))
    values.sort(key=lambda v: v.start)
    for earlier, later in itertools.pairwise(values):
        if earlier.until is not None and earlier.until >= later.start:
            raise ParameterFileError(f"{where}: value from {earlier.start} overlaps the next")
    return Parameter(
        name=name,
        description=description.strip(),
        unit=str(unit),
        values=tuple(values),
        _starts=tuple(v.start for v in values),
    )


def _parse_value(
    where: str, name: str, unit: str, start: dt.date, entry: Any, parent: Mapping[str, Any]
) -> ParameterValue:
    where = f"{where} @ {start}"
    if not isinstance(entry, dict) or "value" not in entry:
        raise ParameterFileError(f"{where}: each value must be a mapping with 'value'")
    unknown = set(entry) - {"value", "until", "reference", "confidence", "note"}
    if unknown:
        raise ParameterFileError(f"{where}: unknown keys {sorted(unknown)}")
    until = entry.get("until")
    if until is not None and (not isinstance(until, dt.date) or until < start):
        raise ParameterFileError(f"{where}: 'until' must be a date on or after the start")
    confidence = entry.get("confidence", parent.get("confidence"))
    if confidence not in CONFIDENCE:
        raise ParameterFileError(f"{where}: confidence must be one of {CONFIDENCE}")
    raw_reference = entry.get("reference", parent.get("reference"))
    if (
        not isinstance(raw_reference, dict)
        or not str(raw_reference.get("article") or "").strip()
        or not str(raw_reference.get("source") or "").strip()
    ):
        raise ParameterFileError(f"{where}: needs a reference with 'article' and 'source'")
    reference = Reference(str(raw_reference["article"]).strip(), str(raw_reference["source"]))
    raw = entry["value"]
    value = None if raw is None else _convert(where, unit, raw, start, until)
    return ParameterValue(
        name=name,
        unit=unit,
        start=start,
        until=until,
        value=value,
        confidence=str(confidence),
        reference=reference,
        note=str(entry.get("note") or parent.get("note") or "").strip(),
    )


def _convert(where: str, unit: str, raw: Any, start: dt.date, until: dt.date | None) -> Any:
    def fail(expected: str) -> ParameterFileError:
        return ParameterFileError(f"{where}: unit {unit} expects {expected}, got {raw!r}")

    if unit == "rate":
        # Quoted percent strings only: a YAML float (0.12) would be inexact.
        if not isinstance(raw, str) or not raw.endswith("%"):
            raise fail('a quoted percentage such as "12%"')
        try:
            rate = Fraction(raw[:-1].strip()) / 100
        except ValueError:
            raise fail('a quoted percentage such as "12%"') from None
        if not 0 <= rate <= 1:
            raise fail("a percentage between 0% and 100%")
        return rate
    if unit in ("soum", "mw_multiple", "months", "count"):
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise fail("a non-negative integer")
        return raw * 100 if unit == "soum" else raw
    if unit == "bool":
        if not isinstance(raw, bool):
            raise fail("true or false")
        return raw
    if unit == "month_day":
        try:
            parsed = dt.date.fromisoformat(f"2000-{raw}")
        except (TypeError, ValueError):
            raise fail('a quoted "MM-DD"') from None
        return (parsed.month, parsed.day)
    if unit == "date_list":
        if not isinstance(raw, list) or not all(
            isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in raw
        ):
            raise fail("a list of YYYY-MM-DD dates")
        if until is None or any(not start <= d <= until for d in raw):
            raise fail(f"dates within the value's own period from {start} with an 'until'")
        return tuple(sorted(set(raw)))
    if unit == "weekday_list":
        if not isinstance(raw, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in raw
        ):
            raise fail("a list of ISO weekdays 1-7")
        return tuple(sorted(set(raw)))
    if unit == "category_list":
        if not isinstance(raw, list) or not all(c in INCOME_CATEGORIES for c in raw):
            raise fail(f"a list drawn from {INCOME_CATEGORIES}")
        return tuple(c for c in INCOME_CATEGORIES if c in raw)
    if unit == "rounding":
        if not isinstance(raw, dict) or set(raw) != {"unit_tiyin", "mode"}:
            raise fail("{unit_tiyin, mode}")
        try:
            return RoundingRule(unit_tiyin=int(raw["unit_tiyin"]), mode=str(raw["mode"]))
        except ValueError as exc:
            raise fail(str(exc)) from None
    raise fail("a known unit")  # unreachable: units are checked first
