"""The API's error answers: one exception, one handler, one shape (``ErrorResponse``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from portal.api.schemas import ErrorResponse, EventError
from portal.services import ingest


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        events: Sequence[ingest.EventError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.events = events
        self.headers = headers


def error_body(error: str, message: str, events: Sequence[ingest.EventError] = ()) -> Any:
    return ErrorResponse(
        error=error,
        message=message,
        events=[EventError.model_validate(e, from_attributes=True) for e in events],
    ).model_dump(mode="json")


async def handle_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.error, exc.message, exc.events),
        status_code=exc.status,
        headers=exc.headers,
    )


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries with the error shape, for the given statuses."""
    return {
        status: {"model": ErrorResponse, "description": STATUS_DESCRIPTIONS[status]}
        for status in statuses
    }


STATUS_DESCRIPTIONS = {
    401: "No API key, or an unknown, revoked or expired one (`unauthorized`).",
    403: "The API key belongs to another registry (`forbidden`).",
    404: "No registry has that name (`unknown_registry`); on a receipt, this registry has no "
    "processed event of that id (`unknown_event`), whoever else may have.",
    409: "Every rejected event reuses an event_id, or a record's revision, with different "
    "content (`conflict`, naming the record and revision); nothing of the request was published.",
    413: "The body is over the size limit (`body_too_large`) or the batch has more than "
    "1,000 events (`batch_too_large`); nothing was published.",
    422: "At least one event is invalid (`invalid_events`, listing every problem of every "
    "event: one entry per field at fault, with the event's index), the body is not "
    "JSON (`not_json`) or the "
    "batch is empty (`empty_batch`); nothing of the request was published.",
    429: "This API key is over its request rate or requests in flight "
    "(`too_many_requests`); the `Retry-After` header says when to send again.",
    503: "The broker did not acknowledge the events (`unavailable`); nothing is lost by "
    "sending the same request again.",
}
