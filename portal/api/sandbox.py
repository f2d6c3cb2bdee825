"""Disputes over HTTP and the integrator sandbox (issue 17):

- ``GET /api/v1/registries/{registry}/disputes``: the registry's open disputes (as on
  ``disputes.v1``); ``POST …/disputes/{dispute_id}/response``: its answer (as on
  ``disputes.responses.v1``). Any key of the registry; a sandbox key sees and answers only
  its test taxpayers' disputes.
- ``POST /api/v1/sandbox/{registry}/taxpayers``: a test taxpayer; ``POST
  /api/v1/sandbox/{registry}/disputes``: a test dispute on the lines the registry supplied.
  Sandbox keys only (a real key gets 403).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from contracts.topics import REGISTRIES
from portal.api.errors import ApiError, documented
from portal.api.ingest import _check_registry, _too_many, ingest_limits, integrator, read_body
from portal.kafka import PublishFailed
from portal.services.api_keys import Integrator
from portal.services.ingest_limits import IngestLimiter
from portal.services.registry_disputes import AnswerRefused, RegistryDisputes
from portal.services.sandbox import SandboxRefused, SandboxService

router = APIRouter(tags=["disputes and sandbox"])
MAX_SMALL_BODY = 8192

RegistryPath = Annotated[
    str,
    Path(
        description="The registry's name: " + ", ".join(f"`{r}`" for r in REGISTRIES),
        examples=["payroll"],
    ),
]


def disputes_service(request: Request) -> RegistryDisputes:
    service: RegistryDisputes = request.app.state.services.disputes
    return service


def sandbox_service(request: Request) -> SandboxService:
    service: SandboxService = request.app.state.services.sandbox
    return service


class DisputeModel(BaseModel):
    """A dispute addressed to the registry: the `disputes.v1` message."""

    dispute_id: str = Field(description="Name it in the answer.")
    registry: str = Field(description="The registry asked (yours).")
    record_id: str = Field(description="Your record the disputed line came from.")
    revision: int = Field(description="The revision of it the return used.")
    pinfl: str = Field(description="The taxpayer.")
    tax_year: int = Field(description="The return's tax year.")
    reason_code: str = Field(description="wrong_amount, not_mine, already_paid or other.")
    comment: str = Field(description="The taxpayer's words.")
    opened_at: str = Field(description="When the taxpayer disputed (RFC 3339).")
    respond_by: str = Field(description="Answer by this day (then the STC reviews it).")


class DisputesResponse(BaseModel):
    """The registry's open disputes."""

    disputes: list[DisputeModel] = Field(description="Open disputes, oldest deadline first.")


class AnswerModel(BaseModel):
    """The answer of `disputes.responses.v1` without `dispute_id` (it is in the path)."""

    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(description="`confirmed`: the record is right as published.")
    comment: str = Field(description="Why, for the taxpayer and the STC.")


class AnswerResponse(BaseModel):
    """The answer is on `disputes.responses.v1`; the lifecycle applies it within seconds."""

    status: str = Field(description="`sent`: on `disputes.responses.v1`.")
    dispute_id: str = Field(description="The dispute answered.")


class TaxpayerResponse(BaseModel):
    """A test taxpayer, made."""

    pinfl: str = Field(description="The test taxpayer's PINFL (starts with 999).")
    event_id: str = Field(description="The population event that made it (ask its receipt).")


class DisputeRequest(BaseModel):
    """Which test taxpayer's return to dispute, and (optionally) which of your records."""

    model_config = ConfigDict(extra="forbid")
    pinfl: str = Field(description="A test taxpayer's PINFL (999…).")
    tax_year: int = Field(description="The return's tax year.")
    record_id: str | None = Field(
        default=None, description="Dispute only the lines from this record (default: all yours)."
    )


class TestDisputeResponse(BaseModel):
    """The test taxpayer's disagreement, published; the dispute follows within seconds."""

    decision_id: str = Field(description="The taxpayer's decision (decisions.v1).")
    return_id: str = Field(description="The return disputed.")
    version: int = Field(description="Its version.")
    lines: list[str] = Field(description="The return's line codes disputed.")


def _limited(limits: IngestLimiter, caller: Integrator) -> None:
    wait = limits.acquire(caller.key_id)
    if wait is not None:
        raise _too_many(wait)


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(
        503,
        "unavailable",
        "The message could not be published now; send the same request again.",
        headers={"Retry-After": "5"},
    )


async def _json_body(request: Request) -> Any:
    raw = await read_body(request, MAX_SMALL_BODY)
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(422, "not_json", "The body is not JSON.") from None


def _sandbox_only(registry: str, caller: Integrator) -> None:
    _check_registry(registry, caller)
    if not caller.sandbox:
        raise ApiError(
            403,
            "not_a_sandbox_key",
            "The sandbox endpoints take sandbox keys only (`proactax apikeys create --sandbox`).",
        )


@router.get(
    "/registries/{registry}/disputes",
    response_model=DisputesResponse,
    summary="Open disputes addressed to the registry",
    operation_id="getDisputes",
    description="The disputes of `disputes.v1` still waiting for this registry's answer "
    "(answer by a new revision or void of the record, or by `POST …/response`). A sandbox key "
    "sees only its test taxpayers' disputes.",
    responses={**documented(401, 403, 404, 422, 429)},
)
async def get_disputes(
    registry: RegistryPath,
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[RegistryDisputes, Depends(disputes_service)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> DisputesResponse:
    _check_registry(registry, caller)
    _limited(limits, caller)
    try:
        found = await run_in_threadpool(service.open, registry, caller.sandbox)
    finally:
        limits.release(caller.key_id)
    return DisputesResponse(disputes=[DisputeModel(**d) for d in found])


@router.post(
    "/registries/{registry}/disputes/{dispute_id}/response",
    status_code=202,
    response_model=AnswerResponse,
    summary="Answer a dispute: the record is right",
    operation_id="postDisputeResponse",
    description="Publishes `{dispute_id, resolution, comment}` on `disputes.responses.v1` "
    "(key = the registry). A dispute of another registry is unknown (404). To correct the "
    "record instead, publish a new revision (or a void) of it.",
    responses={**documented(401, 403, 404, 422, 429, 503)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AnswerModel"}}
            },
        }
    },
)
async def post_dispute_response(
    request: Request,
    registry: RegistryPath,
    dispute_id: Annotated[str, Path(description="The dispute's id, as received.")],
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[RegistryDisputes, Depends(disputes_service)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> AnswerResponse:
    _check_registry(registry, caller)
    _limited(limits, caller)
    try:
        body = await _json_body(request)
        await service.answer(registry, dispute_id, body, caller.sandbox)
    except AnswerRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    except PublishFailed as exc:
        raise _unavailable(exc) from exc
    finally:
        limits.release(caller.key_id)
    return AnswerResponse(status="sent", dispute_id=dispute_id)


@router.post(
    "/sandbox/{registry}/taxpayers",
    status_code=201,
    response_model=TaxpayerResponse,
    summary="Sandbox: a test taxpayer",
    operation_id="postSandboxTaxpayer",
    description="Creates a synthetic taxpayer (PINFL 999…, a `+999` phone nobody has) with a "
    "population event; its tax years count as closed from its first event, so a return is "
    "computed within seconds of what you publish for it. Sandbox keys only.",
    responses={**documented(401, 403, 404, 422, 429, 503)},
)
async def post_sandbox_taxpayer(
    registry: RegistryPath,
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[SandboxService, Depends(sandbox_service)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> TaxpayerResponse:
    _sandbox_only(registry, caller)
    _limited(limits, caller)
    try:
        made = await service.taxpayer()
    except PublishFailed as exc:
        raise _unavailable(exc) from exc
    finally:
        limits.release(caller.key_id)
    return TaxpayerResponse(**dataclasses.asdict(made))


@router.post(
    "/sandbox/{registry}/disputes",
    status_code=202,
    response_model=TestDisputeResponse,
    summary="Sandbox: a test dispute",
    operation_id="postSandboxDispute",
    description="The test taxpayer disagrees with the lines of its return that come from "
    "this registry's records (or from `record_id`); the lifecycle then opens a dispute to the "
    "registry, on `disputes.v1` and at `GET /registries/{registry}/disputes`, within seconds. "
    "409 while the return is not computed yet. Sandbox keys only.",
    responses={**documented(401, 403, 404, 409, 422, 429, 503)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/DisputeRequest"}}
            },
        }
    },
)
async def post_sandbox_dispute(
    request: Request,
    registry: RegistryPath,
    caller: Annotated[Integrator, Depends(integrator)],
    service: Annotated[SandboxService, Depends(sandbox_service)],
    limits: Annotated[IngestLimiter, Depends(ingest_limits)],
) -> TestDisputeResponse:
    _sandbox_only(registry, caller)
    _limited(limits, caller)
    try:
        body = await _json_body(request)
        try:
            asked = DisputeRequest.model_validate(body)
        except ValueError as exc:
            raise ApiError(422, "schema", f"The body is not a dispute request: {exc}") from None
        made = await service.dispute(registry, asked.pinfl, asked.tax_year, asked.record_id)
    except SandboxRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    except PublishFailed as exc:
        raise _unavailable(exc) from exc
    finally:
        limits.release(caller.key_id)
    return TestDisputeResponse(**dataclasses.asdict(made))
