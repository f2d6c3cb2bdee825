"""Value rules: what a schema-valid registry event must also satisfy, from the policy and across
fields (PINFL check digit, tax-year window, money ceiling, real dates, leases, amounts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from contracts.problems import Problem, ValidationPolicy, dotted
from contracts.schema_check import load_schema, rank

DATE_MIN = dt.date(1900, 1, 1)
LEASE_END_MAX = dt.date(2100, 12, 31)
OWN_BENEFIT_KINDS = ("mortgage", "voluntary_pension", "investment_account")
PINFL_WEIGHTS = (7, 3, 1)  # digits 1-13, repeating


@dataclasses.dataclass(frozen=True, slots=True)
class _DataFields:
    money: tuple[str, ...]
    dates: tuple[str, ...]
    pinfls: tuple[tuple[str, tuple[str, str] | None], ...]  # (field, (when-field, equals))


@functools.cache
def data_fields(registry: str) -> _DataFields:
    """Money, date and PINFL fields of a registry's data, read from its schema."""
    schema = load_schema(f"registry.{registry}.v1")
    data = schema["properties"]["data"]
    money: list[str] = []
    dates: list[str] = []
    pinfls: list[tuple[str, tuple[str, str] | None]] = []
    for name, node in data["properties"].items():
        ref = str(node.get("$ref", "")).rsplit("/", 1)[-1]
        if ref in ("tiyin", "tiyin_or_null"):
            money.append(name)
        elif ref == "date":
            dates.append(name)
        elif ref == "pinfl":
            pinfls.append((name, None))
    for rule in data.get("allOf", ()):
        condition = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {}).get("properties", {})
        for name, node in then.items():
            if str(node.get("$ref", "")).endswith("/pinfl") and len(condition) == 1:
                ((when, test),) = condition.items()
                pinfls.append((name, (when, test["const"])))
    return _DataFields(tuple(money), tuple(dates), tuple(pinfls))


def pinfl_check_digit_ok(pinfl: str) -> bool:
    """Digits 1-13 weighted 7,3,1 repeating, summed mod 10, equal the 14th (14 ASCII digits)."""
    d = pinfl.encode("ascii")
    if len(d) != 14:
        raise ValueError("a PINFL has 14 digits")
    total = (
        7 * (d[0] + d[3] + d[6] + d[9] + d[12])
        + 3 * (d[1] + d[4] + d[7] + d[10])
        + (d[2] + d[5] + d[8] + d[11])
        - _DIGIT_ZERO_WEIGHTED
    )
    return total % 10 == d[13] - 48


_DIGIT_ZERO_WEIGHTED = 48 * (7 * 5 + 3 * 4 + 1 * 4)  # ord("0") times the weights of 13 digits


def value_problem(value: Mapping[str, Any], policy: ValidationPolicy) -> Problem | None:
    """The first (contract order) value rule a schema-valid registry event breaks."""
    registry = value["registry"]
    context = _Context(value, policy, registry)
    problems: list[Problem] = []
    for step in _plan(registry):
        found = step(context)
        if found:
            problems.extend(found)
    if not problems:
        return None
    schema = load_schema(f"registry.{registry}.v1")
    return min(enumerate(problems), key=lambda p: (rank(schema, p[1].path), p[0]))[1]


def value_problems(
    value: Mapping[str, Any], policy: ValidationPolicy, registry: str
) -> list[Problem]:
    """Every value rule an event breaks, also one with schema problems: a rule that cannot
    read its fields (missing or mistyped, which the schema problems name) is skipped."""
    context = _Context(value, policy, registry)
    problems: list[Problem] = []
    for step in _plan(registry):
        try:
            problems.extend(step(context))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError):
            continue
    schema = load_schema(f"registry.{registry}.v1")
    ranked = sorted(enumerate(problems), key=lambda p: (rank(schema, p[1].path), p[0]))
    return [problem for _, problem in ranked]


class _Context:
    """One event as the rules read it; ``dates`` fills as the date steps pass."""

    __slots__ = ("data", "dates", "policy", "registry", "tax_year", "value")

    def __init__(self, value: Mapping[str, Any], policy: ValidationPolicy, registry: str) -> None:
        self.value = value
        self.policy = policy
        self.registry = registry
        self.tax_year: Any = value.get("tax_year")
        data = value.get("data")
        self.data: Mapping[str, Any] = (
            # type() first: a decoded event's data is a dict, and an ABC's isinstance is slow
            data if type(data) is dict or isinstance(data, Mapping) else {}
        )
        self.dates: dict[str, dt.date] = {}

    @property
    def latest(self) -> dt.date:
        years = self.policy.tax_years
        return dt.date(years.stop - 1 if self.tax_year is None else self.tax_year + 1, 12, 31)


_Step = Callable[[_Context], Sequence[Problem]]
_NONE: tuple[Problem, ...] = ()


@functools.cache
def _plan(registry: str) -> tuple[_Step, ...]:
    """The rules of ``registry`` as independent steps, in contract order (each may fail on
    its own when the value is not schema-valid); data steps do nothing without data."""
    fields = data_fields(registry)
    steps: list[_Step] = [_pinfl, _occurred_at, _tax_year]
    if fields.money:
        steps.append(functools.partial(_money, fields.money))
    steps += [functools.partial(_data_pinfl, name, when) for name, when in fields.pinfls]
    steps += [functools.partial(_date_field, name) for name in fields.dates]
    rule = _RULES.get(registry)
    if rule is not None:
        steps.append(functools.partial(_registry_rule, rule))
    return tuple(steps)


def _pinfl(c: _Context) -> Sequence[Problem]:
    if c.policy.pinfl_check_digit and not pinfl_check_digit_ok(c.value["pinfl"]):
        return (_bad_check_digit(("pinfl",)),)
    return _NONE


def _occurred_at(c: _Context) -> Sequence[Problem]:
    occurred = _datetime(c.value["occurred_at"])
    if occurred is None:
        return (
            Problem(
                "out_of_range",
                "occurred_at",
                "occurred_at is not a real date and time (month, day, hour, minute or offset"
                " out of range).",
                ("occurred_at",),
            ),
        )
    if occurred.year < DATE_MIN.year:
        return (
            Problem("out_of_range", "occurred_at", "occurred_at is before 1900.", ("occurred_at",)),
        )
    return _NONE


def _tax_year(c: _Context) -> Sequence[Problem]:
    years = c.policy.tax_years
    if c.tax_year is not None and c.tax_year not in years:
        return (
            Problem(
                "out_of_range",
                "tax_year",
                f"tax_year {c.tax_year} is outside the accepted years"
                f" {years.start}-{years.stop - 1}.",
                ("tax_year",),
            ),
        )
    return _NONE


def _money(names: tuple[str, ...], c: _Context) -> Sequence[Problem]:
    """Every money field at once (one step, not one a field: this runs for every event)."""
    data, ceiling = c.data, c.policy.money_ceiling_tiyin
    found: list[Problem] = []
    for name in names:
        amount = data.get(name)
        try:
            too_large = amount is not None and amount > ceiling
        except TypeError:  # mistyped (an event with schema problems): the schema names it
            continue
        if too_large:
            found.append(_out_of_range(name, f"is too large: at most {ceiling} tiyin"))
    return found


def _data_pinfl(name: str, when: tuple[str, str] | None, c: _Context) -> Sequence[Problem]:
    if not c.policy.pinfl_check_digit or name not in c.data:
        return _NONE
    if when is not None and c.data.get(when[0]) != when[1]:
        return _NONE
    if not pinfl_check_digit_ok(c.data[name]):
        return (_bad_check_digit(("data", name)),)
    return _NONE


def _date_field(name: str, c: _Context) -> Sequence[Problem]:
    if name not in c.data:
        return _NONE
    parsed = _date(c.data[name])
    if parsed is None:
        return (_out_of_range(name, "is not a calendar date"),)
    high = LEASE_END_MAX if (c.registry, name) == ("rental", "end_date") else c.latest
    if not DATE_MIN <= parsed <= high:
        return (_out_of_range(name, f"must be from {DATE_MIN} to {high}"),)
    c.dates[name] = parsed
    return _NONE


def _registry_rule(rule: _Rule, c: _Context) -> Sequence[Problem]:
    if not c.data:
        return _NONE
    return tuple(rule(c.data, c.dates, c.tax_year, c.value["pinfl"]))


def _out_of_range(name: str, what: str) -> Problem:
    return Problem("out_of_range", f"data.{name}", f"data.{name} {what}.", ("data", name))


def _bad_check_digit(path: tuple[str, ...]) -> Problem:
    field = dotted(path)
    return Problem(
        "bad_pinfl",
        field,
        f"{field} fails the PINFL check digit: the 14th digit must equal the sum of digits"
        " 1-13 weighted 7,3,1 repeating, mod 10. Check for a typo.",
        path,
    )


def _datetime(text: str) -> dt.datetime | None:
    if text[17:19] == "60":  # RFC 3339 allows a leap second; Python does not
        text = text[:17] + "59" + text[19:]
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


_Rule = Callable[[Mapping[str, Any], dict[str, dt.date], Any, str], Iterator[Problem]]


def _in_year(name: str, dates: dict[str, dt.date], tax_year: int) -> Iterator[Problem]:
    day = dates.get(name)
    if day is not None and day.year != tax_year:
        yield _out_of_range(name, f"falls outside tax_year {tax_year}")


def _payroll(
    data: Mapping[str, Any], _d: dict[str, dt.date], _y: Any, _p: str
) -> Iterator[Problem]:
    if data["exempt_at_source_tiyin"] > data["gross_income_tiyin"]:
        yield _out_of_range("exempt_at_source_tiyin", "exceeds data.gross_income_tiyin")


def _rental(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, _p: str
) -> Iterator[Problem]:
    start, end = dates.get("start_date"), dates.get("end_date")
    if start is not None and start.year > year:
        yield _out_of_range("start_date", f"is after tax_year {year}: the lease must overlap it")
    if end is not None and end.year < year:
        yield _out_of_range("end_date", f"is before tax_year {year}: the lease must overlap it")
    if start is not None and end is not None and end < start:
        yield _out_of_range("end_date", "is before data.start_date")
    if data["tenant_kind"] == "individual" and data["pit_withheld_tiyin"] != 0:
        yield _out_of_range("pit_withheld_tiyin", "must be 0 for an individual tenant")


def _property_sale(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, _p: str
) -> Iterator[Problem]:
    yield from _in_year("sale_date", dates, year)
    sale, bought = dates.get("sale_date"), dates.get("acquisition_date")
    if sale is not None and bought is not None and bought > sale:
        yield _out_of_range("acquisition_date", "is after data.sale_date")


def _dividend(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, _p: str
) -> Iterator[Problem]:
    yield from _in_year("paid_on", dates, year)
    if data["pit_withheld_tiyin"] > data["gross_tiyin"]:
        yield _out_of_range("pit_withheld_tiyin", "exceeds data.gross_tiyin")


def _deduction(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, pinfl: str
) -> Iterator[Problem]:
    yield from _in_year("paid_on", dates, year)
    if data["kind"] in OWN_BENEFIT_KINDS and data["beneficiary_pinfl"] != pinfl:
        yield Problem(
            "bad_pinfl",
            "data.beneficiary_pinfl",
            f"data.beneficiary_pinfl must be the taxpayer's own pinfl for kind {data['kind']}"
            " (only tuition and preschool are paid for someone else).",
            ("data", "beneficiary_pinfl"),
        )


_RULES: dict[str, _Rule] = {
    "payroll": _payroll,
    "rental": _rental,
    "property_sale": _property_sale,
    "dividend": _dividend,
    "deduction": _deduction,
}
