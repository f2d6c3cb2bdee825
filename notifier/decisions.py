"""The bot's decisions go out through a port with two calls: ``submit_decision`` (Agree,
Disagree) and ``record_view`` (Details opened). ``LifecycleDecisions`` hands them to the
lifecycle's services (checked against the return's state, published on ``decisions.v1``);
``KafkaDecisions`` publishes a schema-valid ``decisions.v1`` message by itself (no state
checks) for setups without the lifecycle. ``decision_port`` picks the one in use."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from contracts import records, topics
from contracts.redaction import mask_pinfl
from contracts.validation import validator

log = logging.getLogger(__name__)

# decisions.v1 comments: no control or invisible formatting characters (see the schema).
_FORBIDDEN = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd"
    "\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb]"
)
MAX_COMMENT = 2000


class DecisionRefused(Exception):
    """The lifecycle did not accept a decision: ``code`` is machine-readable
    (``superseded_version`` with ``current_version``, ``already_settled``, ``in_review``...)."""

    def __init__(self, code: str, message: str, current_version: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.current_version = code, message, current_version


Channel = Literal["telegram", "portal"]
Decision = Literal["agree", "disagree"]


@dataclasses.dataclass(frozen=True, slots=True)
class Submitted:
    """A decision handed on: its id, and ``accepted`` or ``duplicate`` (the lifecycle's
    answer) or ``published`` (sent without state checks)."""

    decision_id: str
    status: str


class Producer(Protocol):
    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


def clean_comment(text: str) -> str:
    """What the taxpayer typed, fit for decisions.v1 (no invisible characters, 2000 max)."""
    return _FORBIDDEN.sub("", text).strip()[:MAX_COMMENT]


def decision_id(
    return_id: str, version: int, decision: str, lines: Sequence[records.DecisionLine]
) -> str:
    """By content: the same decision sent twice is recognised as one (lifecycle/ids.py)."""
    from lifecycle.services import decision_id as lifecycle_decision_id

    return lifecycle_decision_id(return_id, version, decision, lines)


@dataclasses.dataclass(frozen=True)
class KafkaDecisions:
    """Publishes to ``decisions.v1`` (keyed by PINFL), each value checked against its schema."""

    producer: Producer
    namespace: str = ""

    async def submit_decision(
        self,
        *,
        pinfl: str,
        return_id: str,
        tax_year: int,
        version: int,
        decision: Decision,
        decided_at: str,
        lines: Sequence[records.DecisionLine] = (),
        channel: Channel = "telegram",
    ) -> Submitted:
        value: records.Decision = {
            "decision_id": decision_id(return_id, version, decision, lines),
            "return_id": return_id,
            "pinfl": pinfl,
            "tax_year": tax_year,
            "version": version,
            "decision": decision,
            "channel": channel,
            "decided_at": decided_at,
        }
        if decision == "disagree":
            value["lines"] = list(lines)
        validator(topics.DECISIONS).validate(value)
        await self.producer.send_and_wait(
            topics.namespaced(topics.DECISIONS, self.namespace),
            json.dumps(value, ensure_ascii=False).encode("utf-8"),
            pinfl.encode("ascii"),
        )
        log.info("decision %s on %s v%s from %s", decision, mask_pinfl(pinfl), version, channel)
        return Submitted(value["decision_id"], "published")

    async def record_view(
        self, *, pinfl: str, return_id: str, tax_year: int, version: int, channel: str = "telegram"
    ) -> None:
        """The taxpayer opened the details: the lifecycle's ``viewed``. No topic carries views
        yet; the lifecycle's ``record_view`` service takes this over when it lands."""
        log.debug("viewed %s v%s on %s", mask_pinfl(pinfl), version, channel)


class DecisionPort(Protocol):
    async def submit_decision(
        self,
        *,
        pinfl: str,
        return_id: str,
        tax_year: int,
        version: int,
        decision: Decision,
        decided_at: str,
        lines: Sequence[records.DecisionLine] = (),
        channel: Channel = "telegram",
    ) -> Submitted: ...

    async def record_view(
        self, *, pinfl: str, return_id: str, tax_year: int, version: int, channel: str = "telegram"
    ) -> None: ...


@dataclasses.dataclass
class LifecycleDecisions:
    """Through ``lifecycle.services.LifecycleService`` (its publisher started by the caller)."""

    service: Any  # lifecycle.services.LifecycleService

    async def submit_decision(
        self,
        *,
        pinfl: str,
        return_id: str,
        tax_year: int,
        version: int,
        decision: Decision,
        decided_at: str,
        lines: Sequence[records.DecisionLine] = (),
        channel: Channel = "telegram",
    ) -> Submitted:
        from lifecycle.services import Refused

        try:
            receipt = await self.service.submit_decision(
                pinfl, tax_year, version, decision, channel, [dict(line) for line in lines]
            )
        except Refused as refused:
            log.info("decision on %s v%s refused: %s", mask_pinfl(pinfl), version, refused.code)
            raise DecisionRefused(refused.code, refused.message, refused.current_version) from None
        log.info("decision %s on %s v%s: %s", decision, mask_pinfl(pinfl), version, receipt.status)
        return Submitted(receipt.decision_id, receipt.status)

    async def record_view(
        self, *, pinfl: str, return_id: str, tax_year: int, version: int, channel: str = "telegram"
    ) -> None:
        try:
            await asyncio.to_thread(self.service.record_view, pinfl, tax_year, version, channel)
        except Exception as error:  # a view that cannot be recorded must not stop Details
            log.info("view of %s v%s not recorded: %r", mask_pinfl(pinfl), version, error)


def decision_port(settings: Any, producer: Any) -> DecisionPort:
    """The lifecycle's services, publishing with ``producer`` (an AIOKafkaProducer)."""
    from lifecycle.publisher import KafkaDecisionPublisher
    from lifecycle.services import LifecycleService
    from storage.database import make_engine, make_session_factory
    from storage.lifecycle.repository import LifecycleRepository

    store = LifecycleRepository(make_session_factory(make_engine(settings.database)))
    publisher = KafkaDecisionPublisher(settings, producer)
    return LifecycleDecisions(LifecycleService.from_settings(settings, store, publisher))
