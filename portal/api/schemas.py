"""Request and response models of the integrator API, for validation-free documentation
(events are validated by the stream's own code, ``portal.validation``) and the answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.topics import REGISTRIES

REASON_CODES = (
    "not_json",
    "schema",
    "unknown_registry",
    "bad_pinfl",
    "too_large",
    "out_of_range",
    "conflict",
)

EXAMPLE_EVENT: dict[str, Any] = {
    "event_id": "payroll-2026-000123-r1",
    "registry": "payroll",
    "schema_version": 1,
    "record_id": "301234567-2026-03-000123",
    "revision": 1,
    "action": "upsert",
    "occurred_at": "2026-04-05T10:02:11+05:00",
    "pinfl": "31503851230014",
    "tax_year": 2026,
    "data": {
        "employer_tin": "301234567",
        "month": 3,
        "gross_income_tiyin": 850000000,
        "exempt_at_source_tiyin": 0,
        "pit_withheld_tiyin": 102000000,
        "inps_offset_tiyin": 850000,
    },
}


def _event_schema_extra(schema: dict[str, Any]) -> None:
    """``tax_year`` and ``data`` are left out when they do not apply, never null."""
    for name in ("tax_year", "data"):
        prop = schema["properties"][name]
        prop.update(next(s for s in prop.pop("anyOf") if s.get("type") != "null"))
        prop.pop("default", None)
    schema["examples"] = [EXAMPLE_EVENT]


class RegistryEventModel(BaseModel):
    """One registry event: the envelope of CONTRACT.md (the same as on the Kafka topics)."""

    model_config = ConfigDict(
        extra="forbid",
        title="RegistryEvent",
        json_schema_extra=_event_schema_extra,
    )

    event_id: str = Field(
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="Unique per registry. Sending it again with the same content is "
        "harmless (answered as a duplicate); with other content it is a `conflict`.",
    )
    registry: Literal[REGISTRIES] = Field(  # type: ignore[valid-type]
        description="Must equal the `{registry}` of the path."
    )
    schema_version: Literal[1] = Field(description="Always 1 on the `v1` API.")
    record_id: str = Field(
        min_length=1, max_length=64, description="The registry's own id of the record."
    )
    revision: int = Field(
        ge=1,
        description="Grows with every change of the record; the highest revision wins "
        "whatever the arrival order.",
    )
    action: Literal["upsert", "void"] = Field(
        description="`upsert` sets the record; `void` withdraws it (and carries no `data`)."
    )
    occurred_at: str = Field(
        description="RFC 3339 with an offset, e.g. `2027-01-14T10:02:11+05:00`.",
        json_schema_extra={"format": "date-time"},
    )
    pinfl: str = Field(
        pattern=r"^[0-9]{14}$", description="The taxpayer the record is about: 14 digits."
    )
    tax_year: int | None = Field(
        default=None,
        description="The year the income or payment belongs to; omitted for `population`. "
        "Must lie in the service's configured window.",
    )
    data: dict[str, Any] | None = Field(
        default=None,
        description="The registry's fields (CONTRACT.md, docs/integrators.md); unknown "
        "fields are rejected. Money in integer tiyin (`*_tiyin`), dates `YYYY-MM-DD`. "
        "Omitted for a `void`.",
    )


class AcceptedResponse(BaseModel):
    """Every event of the request is on the registry's topic (acknowledged by the broker)."""

    accepted: list[str] = Field(
        description="event_ids published by this request, in request order."
    )
    duplicates: list[str] = Field(
        description="event_ids accepted before with the same content: not published again."
    )


class PeriodClosedModel(BaseModel):
    """The year close, as on `registry.period_closed.v1` (the schema file is the authority)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "closed-payroll-2026",
                    "registry": "payroll",
                    "schema_version": 1,
                    "tax_year": 2026,
                    "closed_at": "2027-01-15T09:00:00+05:00",
                }
            ]
        },
    )

    event_id: str = Field(description="1-64 characters of A-Z a-z 0-9 . _ : -")
    registry: Literal[REGISTRIES] = Field(  # type: ignore[valid-type]
        description="The registry in the path."
    )
    schema_version: Literal[1] = Field(description="Always 1 on the `v1` API.")
    tax_year: int = Field(description="The year every record of which is now published.")
    closed_at: str = Field(description="RFC 3339 with seconds and an offset.")


class CloseResponse(BaseModel):
    """What became of a year close."""

    status: Literal["closed", "already_closed"] = Field(
        description="`closed`: published now (202); `already_closed`: the year was closed "
        "before and nothing was published (200)."
    )
    registry: str = Field(description="The registry that closed the year.")
    tax_year: int = Field(description="The year closed.")
    event_id: str | None = Field(
        description="The close that counts: this one, or the first; null for a close made "
        "on Kafka, known only from the topic."
    )
    closed_at: str = Field(description="The `closed_at` of the close that counts.")


class ReceiptResponse(BaseModel):
    """What became of one event (or year close) the registry published."""

    event_id: str = Field(description="The event (or year close) asked about.")
    registry: str = Field(description="The registry that published it (yours).")
    status: Literal[
        "accepted", "duplicate", "superseded", "dead_lettered", "already_closed", "pending"
    ] = Field(
        description="`accepted`: in the taxpayer's ledger (or the population, or the year's "
        "closes); `duplicate`: the same event, or the same revision with the same content, was "
        "accepted before; `superseded`: a higher revision of the record counts instead; "
        "`dead_lettered`: refused (see `reason_code`, `field`, `reason`); `already_closed`: a "
        "second close of a closed year; `pending`: accepted over HTTP, not processed yet "
        "(ask again in a few seconds)."
    )
    record_id: str | None = Field(description="The event's record_id (null for a year close).")
    revision: int | None = Field(description="The event's revision (null for a year close).")
    reason_code: str | None = Field(description="The dead letter's reason_code, else null.")
    field: str | None = Field(description="The field at fault when dead_lettered, else null.")
    reason: str | None = Field(description="Why (refused, superseded by, closed when).")
    at: str | None = Field(description="When the worker processed it (null while pending).")


class EventError(BaseModel):
    """One problem of one event of the request; an event with several problems has one
    entry for each (one per field), the first being the reason its dead letter would give."""

    index: int = Field(description="Position of the event in the request (0 for one event).")
    event_id: str | None = Field(description="The event's event_id, when it has a readable one.")
    reason_code: str = Field(
        description="One of " + ", ".join(f"`{c}`" for c in REASON_CODES) + ": the "
        "dead-letter reason codes of the Kafka contract.",
        json_schema_extra={"enum": list(REASON_CODES)},
    )
    field: str | None = Field(description="The field at fault, when there is one.")
    reason: str = Field(description="A sentence for the integrator.")


class ErrorResponse(BaseModel):
    """Every error answer of the API has this shape."""

    error: str = Field(
        description="Machine-readable: `unauthorized`, `forbidden`, `unknown_registry`, "
        "`body_too_large`, `batch_too_large`, `empty_batch`, `not_json` (a batch body that "
        "is not a JSON array and too large to be one event), `invalid_events`, `conflict`, "
        "`too_many_requests`, `unavailable`."
    )
    message: str = Field(description="A sentence for the integrator.")
    events: list[EventError] = Field(
        default_factory=list,
        description="Per-event errors (`invalid_events`, `conflict`); empty otherwise.",
    )


class HealthResponse(BaseModel):
    """The process is up and serving."""

    status: Literal["ok"] = Field(description="Always `ok` when the process answers.")
