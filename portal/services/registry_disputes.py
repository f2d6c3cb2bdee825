"""Disputes over HTTP (issue 17): what a registry without a Kafka consumer reads instead of
``disputes.v1`` and how it answers instead of publishing on ``disputes.responses.v1``.

The open disputes come from the lifecycle's database (the same disputes the lifecycle put
on ``disputes.v1``); an answer is validated against the ``disputes.responses.v1`` schema and
published there with the registry name as key, as a Kafka registry would. A registry sees
and answers only its own disputes: another registry's dispute_id is unknown (404).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from contracts.sandbox import is_sandbox
from contracts.topics import DISPUTE_RESPONSES, namespaced
from contracts.validation import schema_problem
from core.clock import rfc3339
from lifecycle.services import OPEN_DISPUTE
from portal.kafka import OutgoingMessage
from portal.services.ingest import Publisher
from storage.lifecycle.repository import LifecycleRepository


class AnswerRefused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class RegistryDisputes:
    def __init__(
        self, repository: LifecycleRepository, publisher: Publisher, topic_namespace: str = ""
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._namespace = topic_namespace

    def open(self, registry: str, sandbox_only: bool = False) -> list[dict[str, Any]]:
        """The registry's disputes still waiting for an answer, as disputes.v1 values (a
        sandbox key sees its sandbox taxpayers' only)."""
        rows = self._repository.disputes(statuses=sorted(OPEN_DISPUTE), registry=registry)
        rows = [row for row in rows if is_sandbox(row.pinfl) or not sandbox_only]
        return [
            {
                "dispute_id": row.dispute_id,
                "registry": row.registry,
                "record_id": row.record_id,
                "revision": row.revision,
                "pinfl": row.pinfl,
                "tax_year": row.tax_year,
                "reason_code": row.reason_code,
                "comment": row.comment,
                "opened_at": rfc3339(row.opened_at),
                "respond_by": row.respond_by.isoformat(),
            }
            for row in rows
        ]

    async def answer(
        self, registry: str, dispute_id: str, body: Any, sandbox_only: bool = False
    ) -> None:
        if not isinstance(body, dict):
            raise AnswerRefused(422, "schema", "The answer must be a JSON object.")
        value = {"dispute_id": dispute_id, **body}
        problem = schema_problem(value, DISPUTE_RESPONSES)
        if problem is not None:
            raise AnswerRefused(422, problem.reason_code, problem.reason, problem.field)
        owner = await asyncio.to_thread(self._repository.owner_of_dispute, dispute_id)
        if owner is None or owner[0] != registry or (sandbox_only and not is_sandbox(owner[1])):
            raise AnswerRefused(
                404,
                "unknown_dispute",
                f"This registry has no dispute {dispute_id[:64]!r}: answer only disputes you "
                "received.",
                "dispute_id",
            )
        topic = namespaced(DISPUTE_RESPONSES, self._namespace)
        await self._publisher.publish(
            [OutgoingMessage(topic, registry.encode(), orjson.dumps(value))]
        )
