"""The bot's decisions go out through one function each: ``submit_decision`` (Agree,
Disagree) and ``record_view`` (Details opened). They publish schema-valid ``decisions.v1``
messages; when the lifecycle's services take them over, only these bodies change."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from contracts import topics
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


class Producer(Protocol):
    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any: ...


def clean_comment(text: str) -> str:
    """What the taxpayer typed, fit for decisions.v1 (no invisible characters, 2000 max)."""
    return _FORBIDDEN.sub("", text).strip()[:MAX_COMMENT]


def decision_id(
    return_id: str, version: int, decision: str, lines: Sequence[Mapping[str, Any]]
) -> str:
    """By content: the same decision sent twice is recognised as one (lifecycle/ids.py)."""
    try:
        from lifecycle.ids import decision_id as lifecycle_decision_id
    except ImportError:  # pragma: no cover - the lifecycle is part of the product
        canonical = json.dumps([return_id, version, decision, list(lines)], sort_keys=True)
        return "dec-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
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
        decision: str,
        decided_at: str,
        lines: Sequence[Mapping[str, Any]] = (),
        channel: str = "telegram",
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
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
            value["lines"] = [dict(line) for line in lines]
        validator(topics.DECISIONS).validate(value)
        await self.producer.send_and_wait(
            topics.namespaced(topics.DECISIONS, self.namespace),
            json.dumps(value, ensure_ascii=False).encode("utf-8"),
            pinfl.encode("ascii"),
        )
        log.info("decision %s on %s v%s from %s", decision, mask_pinfl(pinfl), version, channel)
        return value

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
        decision: str,
        decided_at: str,
        lines: Sequence[Mapping[str, Any]] = (),
        channel: str = "telegram",
    ) -> dict[str, Any]: ...

    async def record_view(
        self, *, pinfl: str, return_id: str, tax_year: int, version: int, channel: str = "telegram"
    ) -> None: ...
