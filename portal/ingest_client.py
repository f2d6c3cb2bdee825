"""A small client of the ingest API (the mock registries' ``--via http``, integrators'
example).

``post_events`` sends events in batches. The API is all or nothing per request, so when a
batch is rejected for some of its events, those are set aside with their reasons and the
rest of the batch is sent again; a batch the broker could not take (503) or a network
error is retried, which is safe because the API is idempotent on ``event_id``. A 429 (the
key is over its rate or requests in flight) is sent again after its ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_THROTTLED = 600  # 429 answers waited out per request before giving up
MAX_RETRY_AFTER_S = 60.0


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """One refused event: its first problem (the reason its dead letter would give on Kafka)
    and the further ones the API listed (the 422 lists every problem, one per field)."""

    index: int  # position in the ``events`` passed to post_events
    event_id: str | None
    reason_code: str
    field: str | None
    reason: str
    more: tuple[tuple[str, str | None, str], ...] = ()  # (reason_code, field, reason)


@dataclasses.dataclass
class PostResult:
    accepted: list[str] = dataclasses.field(default_factory=list)
    duplicates: list[str] = dataclasses.field(default_factory=list)
    rejected: list[Rejection] = dataclasses.field(default_factory=list)


class IngestClientError(RuntimeError):
    """The API refused the request as a whole (401, 403, 404, 413, ...), or kept failing."""

    def __init__(self, status: int | None, body: Any) -> None:
        super().__init__(f"ingest API answered {status}: {body}")
        self.status = status
        self.body = body


async def post_events(
    base_url: str,
    registry: str,
    api_key: str,
    events: Iterable[Mapping[str, Any] | bytes],
    batch_size: int = 500,
    *,
    client: httpx.AsyncClient | None = None,
    timeout_s: float = 60.0,
    attempts: int = 5,
) -> PostResult:
    """Post ``events`` (dicts, or raw bytes sent alone as they are) to one registry.

    Returns what was accepted, what were duplicates and which events were rejected and
    why; raises IngestClientError when a request is refused as a whole.
    """
    if not 1 <= batch_size <= 1000:
        raise ValueError("batch_size must be 1-1000")
    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout_s)
    url = f"{base_url.rstrip('/')}/api/v1/registries/{registry}/events"
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    result = PostResult()
    try:
        batch: list[tuple[int, Mapping[str, Any]]] = []
        for index, event in enumerate(events):
            if isinstance(event, bytes):  # e.g. a malformed event: it can only go alone
                await _send_raw(http, url, headers, index, event, result, attempts)
                continue
            batch.append((index, event))
            if len(batch) >= batch_size:
                await _send_batch(http, url, headers, batch, result, attempts)
                batch = []
        if batch:
            await _send_batch(http, url, headers, batch, result, attempts)
    finally:
        if own:
            await http.aclose()
    return result


async def _send_batch(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    batch: list[tuple[int, Mapping[str, Any]]],
    result: PostResult,
    attempts: int,
) -> None:
    while batch:
        body = json.dumps([event for _, event in batch], ensure_ascii=False).encode()
        status, answer = await _post(http, url, headers, body, attempts)
        if status == 202:
            result.accepted += answer["accepted"]
            result.duplicates += answer["duplicates"]
            return
        errors = answer.get("events") if isinstance(answer, dict) else None
        if status not in (409, 422) or not errors:
            raise IngestClientError(status, answer)
        bad = {error["index"] for error in errors}
        positions = [index for index, _ in batch]
        result.rejected += _rejections(errors, positions.__getitem__)
        batch = [item for position, item in enumerate(batch) if position not in bad]


async def _send_raw(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    index: int,
    raw: bytes,
    result: PostResult,
    attempts: int,
) -> None:
    status, answer = await _post(http, url, headers, raw, attempts)
    if status == 202:
        result.accepted += answer["accepted"]
        result.duplicates += answer["duplicates"]
        return
    errors = answer.get("events") if isinstance(answer, dict) else None
    if status not in (409, 422) or not errors:
        raise IngestClientError(status, answer)
    result.rejected += _rejections(errors, lambda _position: index)


async def _post(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes, attempts: int
) -> tuple[int, Any]:
    delay = 0.5
    throttled = 0
    attempt = 0
    while attempt < attempts:
        attempt += 1
        try:
            response = await http.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            if attempt == attempts:
                raise IngestClientError(None, repr(exc)) from exc
        else:
            if response.status_code == 429 and throttled < MAX_THROTTLED:
                throttled += 1
                attempt -= 1  # not a failure: the API said when to come back
                await asyncio.sleep(_retry_after(response))
                continue
            if response.status_code not in RETRY_STATUSES or attempt == attempts:
                try:
                    return response.status_code, response.json()
                except ValueError:
                    return response.status_code, response.text
        await asyncio.sleep(delay)
        delay = min(delay * 2, 8.0)
    raise AssertionError("unreachable")


def _rejections(
    errors: Iterable[Mapping[str, Any]], index_of: Callable[[int], int]
) -> list[Rejection]:
    """One Rejection per refused event, its entries in the API's order (the first is the
    event's dead-letter reason)."""
    by_event: dict[int, list[Mapping[str, Any]]] = {}
    for error in errors:
        by_event.setdefault(error["index"], []).append(error)
    return [
        Rejection(
            index=index_of(position),
            event_id=first.get("event_id"),
            reason_code=first["reason_code"],
            field=first.get("field"),
            reason=first["reason"],
            more=tuple((e["reason_code"], e.get("field"), e["reason"]) for e in rest),
        )
        for position, (first, *rest) in by_event.items()
    ]


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 1.0
