"""Typed records of every topic's JSON value, for code that builds or reads them.

The schema files under ``contracts/schemas/`` are the source of truth; these TypedDicts
mirror them for type checkers. ``tests/unit/contracts/test_records.py`` derives the
expected field names, required/optional fields and types from each schema file and
compares them with these classes, so the two cannot drift apart.

Rules a TypedDict cannot state (patterns, ranges, "a void carries no data") live in the
schema files and ``contracts/validation.py`` only.
"""

# No ``from __future__ import annotations`` here: on Python 3.11 it hides NotRequired from
# TypedDict's __required_keys__ / __optional_keys__.
from typing import Literal, NotRequired, TypedDict, get_args

from contracts import topics

Action = Literal["upsert", "void"]
RegistryName = Literal["population", "payroll", "rental", "property_sale", "dividend", "deduction"]
TaxRegistryName = Literal["payroll", "rental", "property_sale", "dividend", "deduction"]
DisputeReason = Literal["wrong_amount", "not_mine", "already_paid", "other"]
DISPUTE_REASONS: tuple[DisputeReason, ...] = get_args(DisputeReason)  # the order forms show
ReasonCode = Literal[
    "not_json", "schema", "unknown_registry", "bad_pinfl", "too_large", "out_of_range", "conflict"
]

# --- registry data ----------------------------------------------------------------------


class PopulationData(TypedDict):
    full_name: str
    birth_date: str  # YYYY-MM-DD
    sex: Literal["M", "F"]
    region_code: Literal[
        "TAS_CITY", "TAS", "AND", "BUK", "FER", "JIZ", "KAS",
        "KHO", "NAM", "NAV", "SAM", "SIR", "SUR", "KAR",
    ]  # fmt: skip
    phone: str  # E.164
    preferred_language: Literal["uz-Latn", "uz-Cyrl", "ru", "en", "kaa"]


class PayrollData(TypedDict):
    employer_tin: str
    month: int
    gross_income_tiyin: int
    exempt_at_source_tiyin: int
    pit_withheld_tiyin: int
    inps_offset_tiyin: int


class RentalData(TypedDict):
    contract_number: str
    tenant_kind: Literal["individual", "legal_entity"]
    tenant_id: str  # a PINFL for an individual, a TIN for a legal entity
    cadastral_number: str
    start_date: str
    end_date: str
    monthly_rent_tiyin: int
    pit_withheld_tiyin: int


class PropertySaleData(TypedDict):
    cadastral_number: str
    property_kind: Literal["residential", "non_residential", "land"]
    sale_date: str
    sale_price_tiyin: int
    acquisition_date: str
    acquisition_cost_tiyin: int | None
    cadastral_value_tiyin: int


class DividendData(TypedDict):
    payer_tin: str
    payer_kind: Literal["jsc", "llc"]
    paid_on: str
    gross_tiyin: int
    pit_withheld_tiyin: int


class DeductionData(TypedDict):
    kind: Literal["tuition", "preschool", "mortgage", "voluntary_pension", "investment_account"]
    provider_tin: str
    beneficiary_pinfl: str
    paid_on: str
    amount_tiyin: int


# --- registry events (envelope + data) --------------------------------------------------


class _Envelope(TypedDict):
    event_id: str
    schema_version: Literal[1]
    record_id: str
    revision: int
    action: Action
    occurred_at: str  # RFC 3339 with offset
    pinfl: str


class PopulationEvent(_Envelope):
    registry: Literal["population"]
    data: NotRequired[PopulationData]  # absent on a void


class PayrollEvent(_Envelope):
    registry: Literal["payroll"]
    tax_year: int
    data: NotRequired[PayrollData]


class RentalEvent(_Envelope):
    registry: Literal["rental"]
    tax_year: int
    data: NotRequired[RentalData]


class PropertySaleEvent(_Envelope):
    registry: Literal["property_sale"]
    tax_year: int
    data: NotRequired[PropertySaleData]


class DividendEvent(_Envelope):
    registry: Literal["dividend"]
    tax_year: int
    data: NotRequired[DividendData]


class DeductionEvent(_Envelope):
    registry: Literal["deduction"]
    tax_year: int
    data: NotRequired[DeductionData]


RegistryEventValue = (
    PopulationEvent | PayrollEvent | RentalEvent | PropertySaleEvent | DividendEvent
    | DeductionEvent
)  # fmt: skip

# --- other topics -----------------------------------------------------------------------


class PeriodClosed(TypedDict):
    event_id: str
    registry: RegistryName
    schema_version: Literal[1]
    tax_year: int
    closed_at: str


class DeadLetter(TypedDict):
    source_topic: str
    source_partition: int
    source_offset: int
    received_at: str
    reason_code: ReasonCode
    reason: str
    field: str | None
    raw_base64: str


ReceiptStatus = Literal["accepted", "duplicate", "superseded", "dead_lettered", "already_closed"]


class Receipt(TypedDict):
    """What became of one event or year close."""

    event_id: str
    registry: RegistryName
    record_id: str | None
    revision: int | None
    status: ReceiptStatus
    reason_code: str | None  # a dead letter's reason_code when dead_lettered
    field: str | None
    reason: str | None
    at: str


class Receipts(TypedDict):
    """``registry.<registry>.receipts.v1``: a batch's receipts, in processing order."""

    receipts: list[Receipt]


class SourceRef(TypedDict):
    registry: TaxRegistryName
    record_id: str
    revision: int


class ReturnLine(TypedDict):
    code: str
    label_key: NotRequired[str]
    subject: NotRequired[str]
    amount_tiyin: int
    legal_reference: str
    sources: list[SourceRef]
    parameters: NotRequired[dict[str, str]]
    computation: NotRequired[str]


class ReturnTotals(TypedDict):
    gross_income_tiyin: int
    exempt_income_tiyin: int
    taxable_income_tiyin: int
    tax_computed_tiyin: int
    tax_credited_tiyin: int  # withheld at source + INPS offset
    balance_tiyin: int  # > 0 payable, < 0 refund, 0 nothing
    tax_withheld_tiyin: NotRequired[int]
    inps_offset_credited_tiyin: NotRequired[int]
    gross_by_category: NotRequired[dict[str, int]]


class ReturnDeadlines(TypedDict):
    declaration: str
    payment: str


class ReturnValue(TypedDict):
    return_id: str
    pinfl: str
    tax_year: int
    version: int
    computed_at: str
    rules_version: str
    reproducibility_hash: str
    declaration_required: bool
    declaration_reasons: NotRequired[list[str]]
    totals: ReturnTotals
    deadlines: ReturnDeadlines
    lines: list[ReturnLine]


class Dispute(TypedDict):
    dispute_id: str
    registry: TaxRegistryName
    record_id: str
    revision: int
    pinfl: str
    tax_year: int
    reason_code: DisputeReason
    comment: str
    opened_at: str
    respond_by: str  # YYYY-MM-DD


class DisputeResponse(TypedDict):
    dispute_id: str
    resolution: Literal["confirmed"]
    comment: str


class DecisionLine(TypedDict):
    code: str
    subject: NotRequired[str]  # which line of that code; absent = every line with the code
    reason_code: DisputeReason
    comment: str


class Decision(TypedDict):
    decision_id: str
    return_id: str
    pinfl: str
    tax_year: int
    version: int
    decision: Literal["agree", "disagree"]
    lines: NotRequired[list[DecisionLine]]  # required for disagree, absent for agree
    channel: Literal["telegram", "portal"]
    decided_at: str


class Payment(TypedDict):
    payment_id: str
    return_id: str
    pinfl: str
    tax_year: int
    version: int
    kind: Literal["payment", "refund"]
    amount_tiyin: int
    status: Literal["pending", "succeeded", "declined", "failed"]
    idempotency_key: str
    reproducibility_hash: str
    occurred_at: str
    principal_tiyin: NotRequired[int]  # counts against the return's balance
    interest_tiyin: NotRequired[int]  # late-payment interest included in amount_tiyin
    provider_ref: NotRequired[str]
    account_ref: NotRequired[str]  # refunds: the masked account on file


NoticeKind = Literal[
    "first_notice",
    "reminder",
    "amendment",
    "payment_due_reminder",
    "payment_receipt",
    "refund_notice",
    "dispute_update",
    "overdue",
]


class Notice(TypedDict):
    notice_id: str
    kind: NoticeKind
    pinfl: str
    tax_year: int
    return_id: str
    version: int
    created_at: str
    deadline: str | None
    balance_tiyin: int
    details: dict[str, str | int | bool | None]


class Notification(TypedDict):
    delivery_id: str
    notice_id: str
    kind: NoticeKind
    pinfl: str
    tax_year: int
    version: int
    channel: Literal["telegram", "portal", "sms"]
    status: Literal[
        "queued", "sending", "sent", "temporary_failure", "permanent_failure", "technical_failure"
    ]
    attempt: int
    occurred_at: str
    detail: str


REGISTRY_DATA: dict[str, type] = {
    "population": PopulationData,
    "payroll": PayrollData,
    "rental": RentalData,
    "property_sale": PropertySaleData,
    "dividend": DividendData,
    "deduction": DeductionData,
}

TOPIC_RECORDS: dict[str, type] = {
    topics.registry_topic("population"): PopulationEvent,
    topics.registry_topic("payroll"): PayrollEvent,
    topics.registry_topic("rental"): RentalEvent,
    topics.registry_topic("property_sale"): PropertySaleEvent,
    topics.registry_topic("dividend"): DividendEvent,
    topics.registry_topic("deduction"): DeductionEvent,
    topics.PERIOD_CLOSED: PeriodClosed,
    topics.DEADLETTER: DeadLetter,
    **{topics.registry_deadletter_topic(r): DeadLetter for r in topics.REGISTRIES},
    **{topics.registry_receipts_topic(r): Receipts for r in topics.REGISTRIES},
    topics.RETURNS: ReturnValue,
    topics.DISPUTES: Dispute,
    topics.DISPUTE_RESPONSES: DisputeResponse,
    topics.DECISIONS: Decision,
    topics.PAYMENTS: Payment,
    topics.NOTICES: Notice,
    topics.NOTIFICATIONS: Notification,
}
