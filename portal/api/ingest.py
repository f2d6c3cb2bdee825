"""``POST /api/v1/registries/{registry}/events``: registry events over HTTP."""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from contracts.registry_events import MAX_EVENT_BYTES
from contracts.topics import REGISTRIES
from portal.api.errors import ApiError, documented
from portal.api.schemas import AcceptedResponse, CloseResponse, ReceiptResponse
from portal.kafka import PublishFailed
from portal.services.api_keys import ApiKeyService, Integrator
from portal.services.ingest import (
    MAX_BATCH_EVENTS,
    ConcurrentClaim,
    IngestService,
    RequestRejected,
)
from portal.services.ingest_limits import IngestLimiter
from portal.services.receipts import ReceiptService
from portal.services.year_close import MAX_CLOSE_BYTES, CloseRejected, YearCloseService

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerKey",
    description="`Authorization: Bearer <API key>`: the key of the registry in the path.",
)
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKeyHeader",
    description="The same key in an `X-API-Key` header instead.",
)


def api_keys(request: Request) -> ApiKeyService:
    service: ApiKeyService = request.app.state.services.api_keys
    return service


def ingest_limits(request: Request) -> IngestLimiter:
    limiter: IngestLimiter = request.app.state.services.limits
    return limiter


def ingest_service(request: Request) -> IngestService:
    service: IngestService = request.app.state.services.ingest
    return service


async def integrator(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
    keys: Annotated[ApiKeyService, Depends(api_keys)],
) -> Integrator:
    """The caller, from its API key; 401 without a key or with an unknown one."""
    token = credentials.credentials if credentials is not None else header_key
    caller = await run_in_threadpool(keys.authenticate, token) if token else None
    if caller is None:
        raise ApiError(
            401,
            "unauthorized",
            "Send the registry's API key as `Authorization: Bearer <key>` or `X-API-Key`; "
            "this one is missing, unknown, revoked or expired.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_registry(registry: str, caller: Integrator) -> None:
    if registry not in REGISTRIES:
        raise ApiError(404, "unknown_registry", f"No registry is called {registry!r}.")
    if caller.registry != registry:
        raise ApiError(
            403, "forbidden", f"This API key is for the {caller.registry!r} registry, not this one."
        )


def _too_many(wait: int) -> ApiError:
    return ApiError(
        429,
        "too_many_requests",
        "This API key is over its request rate or has too many requests in flight; "
        f"send again in {wait} s.",
        headers={"Retry-After": str(wait)},
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"The body is over {limit} bytes: send smaller batches (at most {MAX_BATCH_EVENTS} "
        "events, each within the per-event limit).",
    )


REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"One event, or a JSON array of 1 to {MAX_BATCH_EVENTS} events. "
        f"Each event is at most {MAX_EVENT_BYTES} bytes (as compact JSON).",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/RegistryEvent"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/RegistryEvent"},
                            "minItems": 1,
                            "maxItems": MAX_BATCH_EVENTS,
                        },
                    ]
                }
            }
        },
    }
}


@router.post(
    "/registries/{registry}/events",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Publish registry events",
    operation_id="postRegistryEvents",
    description=(
        "Validates every event exactly as the stream does, then publishes them to "
        "`registry.{registry}.v1` (Kafka key = `pinfl`) and answers 202 once the broker "
        "has acknowledged every one.\n\n"
        "**All or nothing:** if any event is invalid, or reuses an `event_id` with other "
        "content, or reuses a record's `revision` with other content (409, naming the record "
        "and revision), the answer lists every problem of every such event (one entry per field "
        "at fault) and nothing of the request is published; fix them and send the request "
        "again.\n\n"
        "**Parsed as the stream parses:** each event is read by the Kafka path's strict, "
        "bounded JSON reader, so nesting deeper than 8 levels, NaN or Infinity, a key "
        "repeated in one object, invalid UTF-8 or a lone surrogate is a 422 naming the "
        "problem.\n\n"
        "**Idempotent on `event_id`:** an event accepted before with the same content is "
        "listed under `duplicates` and not published again, so a request that timed out "
        "can simply be repeated."
    ),
    responses={
        202: {"description": "Every event is on the topic, or was already."},
        **documented(401, 403, 404, 409, 413, 422, 429, 503),
    },
    openapi_extra=REQUEST_BODY,
)
async def post_events(
    request: Request,
    registry: Annotated[
        str,
        Path(
            description="The registry's name: " + ", ".join(f"`{r}`" for r in REGISTRIES),
            examples=["payroll"],
        ),
    ],
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[IngestService, Depends(ingest_service)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> AcceptedResponse:
    _check_registry(registry, caller)
    wait = limits.acquire(caller.key_id)
    if wait is not None:
        raise _too_many(wait)
    try:
        return await _ingest(request, registry, caller, service)
    finally:
        limits.release(caller.key_id)


async def _ingest(
    request: Request, registry: str, caller: Integrator, service: IngestService
) -> AcceptedResponse:
    body = await read_body(request, service.max_body_bytes)
    try:
        result = await service.ingest(registry, caller.key_id, body, caller.sandbox)
    except RequestRejected as rejected:
        raise ApiError(rejected.status, rejected.code, rejected.message) from rejected
    except (PublishFailed, ConcurrentClaim) as exc:
        log.warning("ingest for %s failed: %s", registry, exc)
        raise ApiError(
            503,
            "unavailable",
            "The events could not be published now; send the same request again.",
            headers={"Retry-After": "5"},
        ) from exc
    if result.errors:
        if result.only_conflicts:
            raise ApiError(
                409,
                "conflict",
                "These events reuse an event_id, or a record's revision, that was accepted "
                "before with other content; nothing was published.",
                result.errors,
            )
        raise ApiError(
            422,
            "invalid_events",
            f"{len(result.errors)} event(s) are invalid; nothing was published.",
            result.errors,
        )
    log.info(
        "ingest %s key %s: %s accepted, %s duplicates",
        registry,
        caller.key_id,
        len(result.accepted),
        len(result.duplicates),
    )
    return AcceptedResponse(accepted=result.accepted, duplicates=result.duplicates)


def year_closes(request: Request) -> YearCloseService:
    service: YearCloseService = request.app.state.services.closes
    return service


CLOSE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One `registry.period_closed.v1` message.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PeriodClosed"}}},
    }
}


@router.post(
    "/registries/{registry}/period-closed",
    status_code=202,
    response_model=CloseResponse,
    summary="Close a tax year",
    operation_id="postPeriodClosed",
    description=(
        "Says that the registry has published every record of `tax_year`: the same message "
        "as `registry.period_closed.v1` (key = the registry name), validated as the stream "
        "validates it (the schema, the accepted tax years), published once the broker has "
        "acknowledged it (202 `closed`).\n\n"
        "**A second close of a closed year** (closed over HTTP, or seen on the topic) is "
        "answered 200 `already_closed` with the close that counts, and nothing is published: "
        "a retry is safe. Records published after the close still count."
    ),
    responses={
        200: {"model": CloseResponse, "description": "The year was closed before."},
        202: {"description": "The close is on the topic."},
        **documented(401, 403, 404, 413, 422, 429, 503),
    },
    openapi_extra=CLOSE_BODY,
)
async def post_period_closed(
    request: Request,
    registry: Annotated[
        str,
        Path(
            description="The registry's name: " + ", ".join(f"`{r}`" for r in REGISTRIES),
            examples=["payroll"],
        ),
    ],
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[YearCloseService, Depends(year_closes)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> CloseResponse | JSONResponse:
    _check_registry(registry, caller)
    if caller.sandbox:
        raise ApiError(
            403,
            "sandbox_key",
            "A sandbox key cannot close a real tax year: a sandbox taxpayer's years count as "
            "closed from its first event (docs/integrators.md, Sandbox).",
        )
    wait = limits.acquire(caller.key_id)
    if wait is not None:
        raise _too_many(wait)
    try:
        body = await read_body(request, MAX_CLOSE_BYTES)
        try:
            result = await service.close(registry, caller.key_id, body)
        except CloseRejected as rejected:
            raise ApiError(
                422,
                "invalid_close",
                "The close is invalid; nothing was published.",
                [rejected.error],
            ) from None
        except (PublishFailed, ConcurrentClaim) as exc:
            log.warning("close for %s failed: %s", registry, exc)
            raise ApiError(
                503,
                "unavailable",
                "The close could not be published now; send the same request again.",
                headers={"Retry-After": "5"},
            ) from exc
    finally:
        limits.release(caller.key_id)
    log.info("close %s %s by key %s: %s", registry, result.tax_year, caller.key_id, result.status)
    answer = CloseResponse(**dataclasses.asdict(result))
    if result.status == "already_closed":  # nothing published: 200, not 202
        return JSONResponse(answer.model_dump(mode="json"), status_code=200)
    return answer


def receipts(request: Request) -> ReceiptService:
    service: ReceiptService = request.app.state.services.receipts
    return service


@router.get(
    "/registries/{registry}/events/{event_id}",
    response_model=ReceiptResponse,
    summary="What became of an event",
    operation_id="getEventReceipt",
    description=(
        "The receipt of an event (or year close) this registry published, over HTTP or "
        "Kafka: `accepted`, `duplicate`, `superseded` (a higher revision counts), "
        "`dead_lettered` (with the reason), `already_closed`, or `pending` (accepted over "
        "HTTP, not processed yet). The same receipts are on "
        "`registry.{registry}.receipts.v1`.\n\n"
        "**404** when this registry published no such event, or not yet one the worker has "
        "processed (an event on Kafka has no receipt until then): another registry's events "
        "are never shown, nor said to exist."
    ),
    responses={**documented(401, 403, 404, 422, 429)},
)
async def get_event_receipt(
    registry: Annotated[
        str,
        Path(
            description="The registry's name: " + ", ".join(f"`{r}`" for r in REGISTRIES),
            examples=["payroll"],
        ),
    ],
    event_id: Annotated[
        str, Path(description="The event's `event_id`.", examples=["pay-2026-03-000123-r1"])
    ],
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[ReceiptService, Depends(receipts)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> ReceiptResponse:
    _check_registry(registry, caller)
    wait = limits.acquire(caller.key_id)
    if wait is not None:
        raise _too_many(wait)
    try:
        found = await run_in_threadpool(service.get, registry, event_id)
    finally:
        limits.release(caller.key_id)
    if found is None:
        raise ApiError(
            404,
            "unknown_event",
            f"This registry has no processed event {event_id[:64]!r} (yet): events on Kafka get "
            "a receipt within seconds of the worker reading them.",
        )
    return ReceiptResponse(**dataclasses.asdict(found))
