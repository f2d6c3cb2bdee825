"""Each topic's value read once, at the boundary, into its typed record
(``contracts/records.py``): the JSON object, checked against the topic's schema file.
Consumers hand the record on; nothing past the boundary parses or checks it again.

``Unusable`` says why a value is not its topic's record: a dead-letter reason code
(CONTRACT.md), a sentence and the field (None: the value as a whole), and the JSON object
when there was one (a decision against its schema is still answered by its id).
"""

from __future__ import annotations

import json
from typing import Any, cast

from contracts import records, topics
from contracts.schema_check import schema_problem


class Unusable(Exception):
    def __init__(
        self, reason_code: str, reason: str, field: str | None, value: dict[str, Any] | None
    ) -> None:
        super().__init__(reason)
        self.reason_code, self.reason, self.field, self.value = reason_code, reason, field, value


def read(
    topic: str, raw: bytes | None, *, checked: bool = True, noun: str = "value"
) -> dict[str, Any]:
    """The JSON object of a message of ``topic``, checked against its schema unless
    ``checked`` is False (a topic our own worker writes); raises ``Unusable`` (its
    sentences name the ``noun``)."""
    try:
        value = json.loads(raw or b"")
    except ValueError:
        raise Unusable("not_json", f"The {noun} is not UTF-8 JSON.", None, None) from None
    if not isinstance(value, dict):
        raise Unusable("schema", f"The {noun} must be a JSON object.", None, None)
    if checked:
        problem = schema_problem(value, topic)
        if problem is not None:
            raise Unusable(problem.reason_code, problem.reason, problem.field, value)
    return value


def return_value(raw: bytes | None) -> records.ReturnValue:
    """A ``returns.v1`` value (written by our own worker: not checked again)."""
    return cast(records.ReturnValue, read(topics.RETURNS, raw, checked=False))


def decision(raw: bytes | None) -> records.Decision:
    return cast(records.Decision, read(topics.DECISIONS, raw))


def payment(raw: bytes | None) -> records.Payment:
    return cast(records.Payment, read(topics.PAYMENTS, raw))


def notification(raw: bytes | None) -> records.Notification:
    return cast(records.Notification, read(topics.NOTIFICATIONS, raw))


def notice(raw: bytes | None) -> records.Notice:
    return cast(records.Notice, read(topics.NOTICES, raw))


def dispute_response(raw: bytes | None) -> records.DisputeResponse:
    """A registry's answer to a dispute (its problems become dead letters: "the answer")."""
    return cast(records.DisputeResponse, read(topics.DISPUTE_RESPONSES, raw, noun="answer"))
