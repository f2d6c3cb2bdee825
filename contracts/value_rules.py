"""Value rules: what a schema-valid registry event must also satisfy, from the policy and across
fields (PINFL check digit, tax-year window, money ceiling, real dates, leases, amounts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from contracts.problems import Problem, ValidationPolicy, dotted
from contracts.schema_check import load_schema, rank

DATE_MIN = dt.date(1900, 1, 1)
LEASE_END_MAX = dt.date(2100, 12, 31)
OWN_BENEFIT_KINDS = ("mortgage", "voluntary_pension", "investment_account")
PINFL_WEIGHTS = (7, 3, 1)


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
    total = sum(int(d) * PINFL_WEIGHTS[i % 3] for i, d in enumerate(pinfl[:13]))
    return total % 10 == int(pinfl[13])


def value_problem(value: Mapping[str, Any], policy: ValidationPolicy) -> Problem | None:
    """The first (contract order) value rule a schema-valid registry event breaks."""
    problems = list(_value_problems(value, policy))
    if not problems:
        return None
    schema = load_schema(f"registry.{value['registry']}.v1")
    return min(enumerate(problems), key=lambda p: (rank(schema, p[1].path), p[0]))[1]


def _value_problems(value: Mapping[str, Any], policy: ValidationPolicy) -> Iterator[Problem]:
    registry = value["registry"]
    pinfl = value["pinfl"]
    if policy.pinfl_check_digit and not pinfl_check_digit_ok(pinfl):
        yield _bad_check_digit(("pinfl",))
    occurred = _datetime(value["occurred_at"])
    if occurred is None:
        yield Problem(
            "out_of_range",
            "occurred_at",
            "occurred_at is not a real date and time (month, day, hour, minute or offset out"
            " of range).",
            ("occurred_at",),
        )
    elif occurred.year < DATE_MIN.year:
        yield Problem(
            "out_of_range", "occurred_at", "occurred_at is before 1900.", ("occurred_at",)
        )
    tax_year: int | None = value.get("tax_year")
    years = policy.tax_years
    if tax_year is not None and tax_year not in years:
        yield Problem(
            "out_of_range",
            "tax_year",
            f"tax_year {tax_year} is outside the accepted years {years.start}-{years.stop - 1}.",
            ("tax_year",),
        )
    data = value.get("data")
    if data is None:
        return
    fields = data_fields(registry)
    for name in fields.money:
        amount = data[name]
        if amount is not None and amount > policy.money_ceiling_tiyin:
            yield _out_of_range(name, f"is too large: at most {policy.money_ceiling_tiyin} tiyin")
    if policy.pinfl_check_digit:
        for name, condition in fields.pinfls:
            if condition is None or data.get(condition[0]) == condition[1]:
                if not pinfl_check_digit_ok(data[name]):
                    yield _bad_check_digit(("data", name))
    latest = dt.date(years.stop - 1 if tax_year is None else tax_year + 1, 12, 31)
    dates: dict[str, dt.date] = {}
    for name in fields.dates:
        parsed = _date(data[name])
        if parsed is None:
            yield _out_of_range(name, "is not a calendar date")
            continue
        high = LEASE_END_MAX if (registry, name) == ("rental", "end_date") else latest
        if not DATE_MIN <= parsed <= high:
            yield _out_of_range(name, f"must be from {DATE_MIN} to {high}")
            continue
        dates[name] = parsed
    check = _RULES.get(registry)
    if check is not None:
        yield from check(data, dates, tax_year, pinfl)


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
