"""Small builders of registry records for the tax unit tests."""

from __future__ import annotations

from typing import Any

from tax import RegistryRecord

PINFL = "31507900123451"
CHILD = "61203150012342"


def payroll(
    record_id: str, month: int = 1, gross: int = 10_000_000_00, **over: Any
) -> RegistryRecord:
    data = {
        "employer_tin": "201234567",
        "month": month,
        "gross_income_tiyin": gross,
        "exempt_at_source_tiyin": 0,
        "pit_withheld_tiyin": gross * 12 // 100,
        "inps_offset_tiyin": 0,
    }
    return RegistryRecord("payroll", record_id, over.pop("revision", 1), {**data, **over})


def salary_year(prefix: str = "emp", monthly: int = 10_000_000_00) -> list[RegistryRecord]:
    return [
        payroll(
            f"{prefix}-m{m:02d}",
            m,
            monthly,
            pit_withheld_tiyin=monthly * 119 // 1000,
            inps_offset_tiyin=monthly // 1000,
        )
        for m in range(1, 13)
    ]


def rental(
    record_id: str, kind: str = "individual", rent: int = 5_000_000_00, **over: Any
) -> RegistryRecord:
    data = {
        "contract_number": f"N-{record_id}",
        "tenant_kind": kind,
        "tenant_id": "32001850023456" if kind == "individual" else "207890123",
        "cadastral_number": "10:01:02:0003",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "monthly_rent_tiyin": rent,
        "pit_withheld_tiyin": 0 if kind == "individual" else rent * 12 * 12 // 100,
    }
    return RegistryRecord("rental", record_id, over.pop("revision", 1), {**data, **over})


def deduction(
    record_id: str, kind: str = "tuition", amount: int = 15_000_000_00, **over: Any
) -> RegistryRecord:
    own = kind in ("mortgage", "voluntary_pension", "investment_account")
    data = {
        "kind": kind,
        "provider_tin": "203456789",
        "beneficiary_pinfl": PINFL if own else CHILD,
        "paid_on": "2026-09-05",
        "amount_tiyin": amount,
    }
    return RegistryRecord("deduction", record_id, over.pop("revision", 1), {**data, **over})
