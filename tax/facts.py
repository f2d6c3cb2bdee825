"""Typed facts validated from registry records (the ``data`` objects of CONTRACT.md).

``facts_from_records`` checks every field of every record and raises ``InvalidFact``
naming the registry, record and field: a malformed record stops the computation rather
than turning into a wrong number. It also checks that each record belongs to the tax
year it was filed under (dates inside the year, a lease overlapping it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from tax.errors import InvalidFact
from tax.records import TAX_REGISTRIES, RegistryRecord, SourceRef

PINFL = re.compile(r"[0-9]{14}")
TIN = re.compile(r"[0-9]{9}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DEDUCTION_KINDS = ("tuition", "preschool", "mortgage", "voluntary_pension", "investment_account")
OWN_BENEFIT_KINDS = ("mortgage", "voluntary_pension", "investment_account")


class PayrollFact(msgspec.Struct, frozen=True):
    source: SourceRef
    employer_tin: str
    month: int
    gross_income_tiyin: int
    exempt_at_source_tiyin: int
    pit_withheld_tiyin: int
    inps_offset_tiyin: int


class RentalFact(msgspec.Struct, frozen=True):
    source: SourceRef
    contract_number: str
    tenant_kind: str  # individual | legal_entity
    tenant_id: str
    cadastral_number: str
    start_date: dt.date
    end_date: dt.date
    monthly_rent_tiyin: int
    pit_withheld_tiyin: int


class PropertySaleFact(msgspec.Struct, frozen=True):
    source: SourceRef
    cadastral_number: str
    property_kind: str  # residential | non_residential | land
    sale_date: dt.date
    sale_price_tiyin: int
    acquisition_date: dt.date
    acquisition_cost_tiyin: int | None  # documented cost, None when undocumented
    cadastral_value_tiyin: int


class DividendFact(msgspec.Struct, frozen=True):
    source: SourceRef
    payer_tin: str
    payer_kind: str  # jsc | llc
    paid_on: dt.date
    gross_tiyin: int
    pit_withheld_tiyin: int


class DeductionFact(msgspec.Struct, frozen=True):
    source: SourceRef
    kind: str
    provider_tin: str
    beneficiary_pinfl: str
    paid_on: dt.date
    amount_tiyin: int


@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    """One taxpayer's validated facts for one tax year, in a canonical order."""

    pinfl: str
    tax_year: int
    records: tuple[RegistryRecord, ...]  # sorted by (registry, record_id)
    payroll: tuple[PayrollFact, ...] = ()
    rental: tuple[RentalFact, ...] = ()
    property_sales: tuple[PropertySaleFact, ...] = ()
    dividends: tuple[DividendFact, ...] = ()
    deductions: tuple[DeductionFact, ...] = ()


def facts_from_records(pinfl: str, tax_year: int, records: Sequence[RegistryRecord]) -> Facts:
    """Validate the active records of one taxpayer and tax year into typed ``Facts``."""
    if not isinstance(pinfl, str) or not PINFL.fullmatch(pinfl):
        raise InvalidFact("taxpayer", "-", "pinfl", "must be 14 digits")
    if isinstance(tax_year, bool) or not isinstance(tax_year, int):
        raise InvalidFact("taxpayer", "-", "tax_year", "must be an integer year")
    ordered = sorted(records, key=_record_key)
    seen: set[tuple[str, str]] = set()
    buckets: dict[str, list[Any]] = {name: [] for name in TAX_REGISTRIES}
    for record in ordered:
        _check_envelope(record)
        key = (record.registry, record.record_id)
        if key in seen:
            raise InvalidFact(
                record.registry,
                record.record_id,
                "record_id",
                "two active revisions of one record were passed",
            )
        seen.add(key)
        reader = _Reader(record, pinfl, tax_year)
        buckets[record.registry].append(_PARSERS[record.registry](reader))
    return Facts(
        pinfl=pinfl,
        tax_year=tax_year,
        records=tuple(ordered),
        payroll=tuple(buckets["payroll"]),
        rental=tuple(buckets["rental"]),
        property_sales=tuple(buckets["property_sale"]),
        dividends=tuple(buckets["dividend"]),
        deductions=tuple(buckets["deduction"]),
    )


def _record_key(record: Any) -> tuple[str, str, int]:
    if not isinstance(record, RegistryRecord):
        raise InvalidFact("unknown", "-", "record", f"not a RegistryRecord: {record!r}")
    return (str(record.registry), str(record.record_id), _int_or_zero(record.revision))


def _int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _check_envelope(record: RegistryRecord) -> None:
    # Every record of every return passes here: the names are made into texts only for an
    # error, and a dict is told by its type before the ABC's slow isinstance.
    if record.registry not in TAX_REGISTRIES:
        raise InvalidFact(
            str(record.registry),
            str(record.record_id),
            "registry",
            f"not a tax registry (expected one of {', '.join(TAX_REGISTRIES)})",
        )
    if not isinstance(record.record_id, str) or not 1 <= len(record.record_id) <= 64:
        raise InvalidFact(
            record.registry, str(record.record_id), "record_id", "must be 1-64 characters"
        )
    if (
        isinstance(record.revision, bool)
        or not isinstance(record.revision, int)
        or (record.revision < 1)
    ):
        raise InvalidFact(record.registry, record.record_id, "revision", "must be an integer >= 1")
    if type(record.data) is not dict and not isinstance(record.data, Mapping):
        raise InvalidFact(record.registry, record.record_id, "data", "must be an object")


class _Reader:
    """Reads typed fields of one record's data; every failure names the field."""

    def __init__(self, record: RegistryRecord, pinfl: str, tax_year: int) -> None:
        self.record = record
        self.pinfl = pinfl
        self.year = tax_year
        self.used: set[str] = set()

    def fail(self, field: str, reason: str) -> InvalidFact:
        return InvalidFact(self.record.registry, self.record.record_id, field, reason)

    def raw(self, field: str) -> Any:
        self.used.add(field)
        if field not in self.record.data:
            raise self.fail(field, "missing")
        return self.record.data[field]

    def money(self, field: str, nullable: bool = False) -> Any:
        value = self.raw(field)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, "must be an integer number of tiyin")
        if value < 0:
            raise self.fail(field, "must not be negative")
        return value

    def integer(self, field: str, low: int, high: int) -> int:
        value = self.raw(field)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, f"must be an integer from {low} to {high}")
        return value

    def text(self, field: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        value = self.raw(field)
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise self.fail(field, "must be a non-empty string of at most 64 characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(field, f"must be {what}")
        return value

    def choice(self, field: str, options: Sequence[str]) -> str:
        value = self.raw(field)
        if value not in options:
            raise self.fail(field, f"must be one of {', '.join(options)}")
        return str(value)

    def date(self, field: str, in_tax_year: bool = False) -> dt.date:
        value = self.raw(field)
        if not isinstance(value, str) or not DATE.fullmatch(value):
            raise self.fail(field, "must be a YYYY-MM-DD date")
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError:
            raise self.fail(field, "is not a calendar date") from None
        if in_tax_year and parsed.year != self.year:
            raise self.fail(field, f"falls outside tax year {self.year}")
        return parsed

    def done(self) -> None:
        unknown = sorted(set(self.record.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown field")


# The data fields of a payroll record: the fact's fields but its source.
_PAYROLL_FIELDS = frozenset(PayrollFact.__struct_fields__) - {"source"}


def payroll_at_once(data: Mapping[str, Any], source: SourceRef) -> PayrollFact | None:
    """A payroll record that is valid on its face, in one test, or None: then ``_payroll``
    reads it field by field and names what is wrong. Only accepts what ``_payroll``
    accepts, with the same fact (tests/unit/tax/test_facts.py holds them to it); payroll
    is 12 of a typical return's ≈ 15 records, and field by field cost a tenth of a return."""
    if data.keys() != _PAYROLL_FIELDS:
        return None
    tin, month = data["employer_tin"], data["month"]
    gross, exempt = data["gross_income_tiyin"], data["exempt_at_source_tiyin"]
    withheld, inps = data["pit_withheld_tiyin"], data["inps_offset_tiyin"]
    if (
        type(tin) is str
        and TIN.fullmatch(tin)
        and type(month) is int
        and 1 <= month <= 12
        and type(gross) is int
        and type(exempt) is int
        and 0 <= exempt <= gross
        and type(withheld) is int
        and withheld >= 0
        and type(inps) is int
        and inps >= 0
    ):
        return PayrollFact(source, tin, month, gross, exempt, withheld, inps)
    return None


def _payroll(r: _Reader) -> PayrollFact:
    return payroll_at_once(r.record.data, r.record.source) or _payroll_by_field(r)


def payroll_by_field(record: RegistryRecord, pinfl: str, tax_year: int) -> PayrollFact:
    """The field-by-field reading alone (``payroll_at_once`` is held to it)."""
    return _payroll_by_field(_Reader(record, pinfl, tax_year))


def _payroll_by_field(r: _Reader) -> PayrollFact:
    fact = PayrollFact(
        source=r.record.source,
        employer_tin=r.text("employer_tin", TIN, "9 digits"),
        month=r.integer("month", 1, 12),
        gross_income_tiyin=r.money("gross_income_tiyin"),
        exempt_at_source_tiyin=r.money("exempt_at_source_tiyin"),
        pit_withheld_tiyin=r.money("pit_withheld_tiyin"),
        inps_offset_tiyin=r.money("inps_offset_tiyin"),
    )
    r.done()
    if fact.exempt_at_source_tiyin > fact.gross_income_tiyin:
        raise r.fail("exempt_at_source_tiyin", "exceeds gross_income_tiyin")
    return fact


def _rental(r: _Reader) -> RentalFact:
    kind = r.choice("tenant_kind", ("individual", "legal_entity"))
    fact = RentalFact(
        source=r.record.source,
        contract_number=r.text("contract_number"),
        tenant_kind=kind,
        tenant_id=(
            r.text("tenant_id", PINFL, "a PINFL (14 digits) for an individual tenant")
            if kind == "individual"
            else r.text("tenant_id", TIN, "a TIN (9 digits) for a legal-entity tenant")
        ),
        cadastral_number=r.text("cadastral_number"),
        start_date=r.date("start_date"),
        end_date=r.date("end_date"),
        monthly_rent_tiyin=r.money("monthly_rent_tiyin"),
        pit_withheld_tiyin=r.money("pit_withheld_tiyin"),
    )
    r.done()
    if fact.end_date < fact.start_date:
        raise r.fail("end_date", "is before start_date")
    if fact.start_date.year > r.year or fact.end_date.year < r.year:
        raise r.fail("start_date", f"the lease does not overlap tax year {r.year}")
    if kind == "individual" and fact.pit_withheld_tiyin:
        raise r.fail("pit_withheld_tiyin", "must be 0 for an individual tenant")
    return fact


def _property_sale(r: _Reader) -> PropertySaleFact:
    fact = PropertySaleFact(
        source=r.record.source,
        cadastral_number=r.text("cadastral_number"),
        property_kind=r.choice("property_kind", ("residential", "non_residential", "land")),
        sale_date=r.date("sale_date", in_tax_year=True),
        sale_price_tiyin=r.money("sale_price_tiyin"),
        acquisition_date=r.date("acquisition_date"),
        acquisition_cost_tiyin=r.money("acquisition_cost_tiyin", nullable=True),
        cadastral_value_tiyin=r.money("cadastral_value_tiyin"),
    )
    r.done()
    if fact.acquisition_date > fact.sale_date:
        raise r.fail("acquisition_date", "is after sale_date")
    return fact


def _dividend(r: _Reader) -> DividendFact:
    fact = DividendFact(
        source=r.record.source,
        payer_tin=r.text("payer_tin", TIN, "9 digits"),
        payer_kind=r.choice("payer_kind", ("jsc", "llc")),
        paid_on=r.date("paid_on", in_tax_year=True),
        gross_tiyin=r.money("gross_tiyin"),
        pit_withheld_tiyin=r.money("pit_withheld_tiyin"),
    )
    r.done()
    if fact.pit_withheld_tiyin > fact.gross_tiyin:
        raise r.fail("pit_withheld_tiyin", "exceeds gross_tiyin")
    return fact


def _deduction(r: _Reader) -> DeductionFact:
    fact = DeductionFact(
        source=r.record.source,
        kind=r.choice("kind", DEDUCTION_KINDS),
        provider_tin=r.text("provider_tin", TIN, "9 digits"),
        beneficiary_pinfl=r.text("beneficiary_pinfl", PINFL, "14 digits"),
        paid_on=r.date("paid_on", in_tax_year=True),
        amount_tiyin=r.money("amount_tiyin"),
    )
    r.done()
    if fact.kind in OWN_BENEFIT_KINDS and fact.beneficiary_pinfl != r.pinfl:
        raise r.fail("beneficiary_pinfl", f"must be the taxpayer's own PINFL for {fact.kind}")
    return fact


_PARSERS: dict[str, Callable[[_Reader], Any]] = {
    "payroll": _payroll,
    "rental": _rental,
    "property_sale": _property_sale,
    "dividend": _dividend,
    "deduction": _deduction,
}
