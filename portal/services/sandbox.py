"""The integrator sandbox (issue 17): a test taxpayer and a test dispute without real data.

Test taxpayers are PINFLs of the reserved ``999`` range (contracts/sandbox.py): clearly
synthetic, valid to the check digit, their years closed from the first event (the return is
computed at once). A test taxpayer is one population event with a synthetic name and a
``+999`` phone (an ITU-reserved country code: no SMS can reach anyone). A test dispute is
the taxpayer's own ``disagree`` on the lines of the return that the registry supplied,
published on ``decisions.v1`` as the cabinet would: the lifecycle then opens a dispute to the
registry (``disputes.v1``; over HTTP ``GET /api/v1/registries/{registry}/disputes``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from contracts.registry_events import canonical_json
from contracts.sandbox import is_sandbox, sandbox_pinfl
from contracts.topics import namespaced, registry_topic
from core.clock import Clock, rfc3339
from lifecycle.services import Refused, disputable
from portal.kafka import OutgoingMessage
from portal.services.ingest import Publisher


class SandboxRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclasses.dataclass(frozen=True, slots=True)
class TestTaxpayer:
    pinfl: str
    event_id: str  # the population event that made it (its receipt says when it is in)


@dataclasses.dataclass(frozen=True, slots=True)
class TestDispute:
    decision_id: str
    return_id: str
    version: int
    lines: list[str]


def population_event(pinfl: str, at: dt.datetime) -> dict[str, Any]:
    number = pinfl[3:13]
    return {
        "event_id": f"sandbox-person-{pinfl}",
        "registry": "population",
        "schema_version": 1,
        "record_id": f"sandbox-{pinfl}",
        "revision": 1,
        "action": "upsert",
        "occurred_at": rfc3339(at),
        "pinfl": pinfl,
        "data": {
            "full_name": f"Sandbox Taxpayer {number[-4:]}",
            "birth_date": "1990-01-01",
            "sex": "F" if int(number[-1]) % 2 else "M",
            "region_code": "TAS_CITY",
            "phone": f"+999{number}",
            "preferred_language": "en",
        },
    }


class SandboxService:
    def __init__(
        self, publisher: Publisher, lifecycle: Any, clock: Clock, topic_namespace: str = ""
    ) -> None:
        """``lifecycle``: lifecycle.services.LifecycleService (with a decision publisher)."""
        self._publisher = publisher
        self._lifecycle = lifecycle
        self._clock = clock
        self._namespace = topic_namespace

    async def taxpayer(self) -> TestTaxpayer:
        pinfl = sandbox_pinfl()
        event = population_event(pinfl, self._clock.now())
        topic = namespaced(registry_topic("population"), self._namespace)
        await self._publisher.publish(
            [OutgoingMessage(topic, pinfl.encode(), canonical_json(event))]
        )
        return TestTaxpayer(pinfl, event["event_id"])

    async def dispute(
        self, registry: str, pinfl: str, tax_year: int, record_id: str | None
    ) -> TestDispute:
        if not is_sandbox(pinfl):
            raise SandboxRefused(
                422,
                "not_sandbox",
                "Only sandbox taxpayers (PINFLs starting with 999) are disputed.",
            )
        case = self._lifecycle.repository.case(pinfl, tax_year)
        if case is None or case.version is None:
            raise SandboxRefused(
                409,
                "no_return_yet",
                f"The test taxpayer has no {tax_year} return yet: publish an event for it, wait "
                "for its receipt (status accepted), then ask again in a few seconds.",
            )
        lines = [
            line
            for line in case.version.lines
            if disputable(line.code)
            and any(
                s.registry == registry and (record_id is None or s.record_id == record_id)
                for s in line.sources
            )
        ]
        if not lines:
            raise SandboxRefused(
                409,
                "no_line",
                f"No line of version {case.version.number} comes from a {registry} record"
                + (f" {record_id!r}" if record_id else "")
                + ".",
            )
        asked = [
            {
                "code": line.code,
                "subject": line.subject,
                "reason_code": "wrong_amount",
                "comment": "Sandbox: a test dispute, answer it as you would a real one.",
            }
            for line in lines
        ]
        try:
            receipt = await self._lifecycle.submit_decision(
                pinfl, tax_year, case.version.number, "disagree", "portal", asked
            )
        except Refused as refused:
            raise SandboxRefused(409, refused.code, refused.message) from None
        return TestDispute(
            receipt.decision_id, receipt.return_id, receipt.version, [x.code for x in lines]
        )
