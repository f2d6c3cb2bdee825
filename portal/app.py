"""The portal's composition root: ``create_app(settings, *, producer=None, clock=None)``.

Nothing is built at import time. The database engine, the services and (unless one is
passed in) the aiokafka producer are made in the app's lifespan; a producer passed in is
the caller's to start and stop (the unit tests pass a fake one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from core.clock import Clock, SystemClock, clock_for
from core.settings import Settings
from portal.api.errors import ApiError, handle_api_error
from portal.api.schemas import HealthResponse, PeriodClosedModel, RegistryEventModel
from portal.web.app import install_web

API_VERSION = "1.0.0"
DESCRIPTION = """\
The proactax integrator API: registries (payroll, notaries, cadastre, dividend payers,
universities and banks, the population registry) publish their events over HTTP instead
of, or as well as, on Kafka. The events are the same as on the `registry.<name>.v1`
topics (CONTRACT.md, docs/integrators.md) and are validated by the same code.

* **Authentication:** one API key per registry, as `Authorization: Bearer <key>` or
  `X-API-Key: <key>`. A registry may hold several keys: to rotate, get a new key, switch
  over, then have the old one revoked.
* **All or nothing:** a request with any invalid event publishes nothing; the answer
  lists every bad event with its index, event_id, reason_code, field and reason.
* **Idempotent:** a repeated event_id with the same content is answered as a duplicate
  and not published again; with other content it is a `conflict`.
* **Limits:** up to 1,000 events per request, each at most 64 KiB as compact JSON.
"""


@dataclasses.dataclass(frozen=True, slots=True)
class PortalServices:
    """What the routes use; made in the lifespan, kept on ``app.state.services``."""

    api_keys: Any  # portal.services.api_keys.ApiKeyService
    ingest: Any  # portal.services.ingest.IngestService
    limits: Any  # portal.services.ingest_limits.IngestLimiter
    closes: Any = None  # portal.services.year_close.YearCloseService
    receipts: Any = None  # portal.services.receipts.ReceiptService
    disputes: Any = None  # portal.services.registry_disputes.RegistryDisputes
    sandbox: Any = None  # portal.services.sandbox.SandboxService


SESSION_PURGE_INTERVAL_S = 600.0
log = logging.getLogger(__name__)


async def _purge_sessions(web: Any) -> None:
    """Delete expired web sessions and forgotten sign-in throttle keys."""
    while True:
        await asyncio.sleep(SESSION_PURGE_INTERVAL_S)
        try:
            now = web.clock.now()
            await asyncio.to_thread(web.sessions.purge_expired, now)
            if web.identity is not None:
                await asyncio.to_thread(web.identity.purge_expired, now)
            idle = dt.timedelta(seconds=web.settings.portal_throttle_window_s)
            await asyncio.to_thread(web.throttles.purge_idle, now, idle)
        except Exception:
            log.warning("portal: purging expired sessions failed", exc_info=True)


DOCS_ASSETS = "/api-docs-assets"


def _closed_on_the_topic(
    feed: Any,  # storage.feed_health.FeedHealthRepository
) -> Callable[[str, int], tuple[str | None, str] | None]:
    """A close seen on ``registry.period_closed.v1`` by the feed-health projection (one
    published straight to Kafka): (None, closed_at), or None."""

    def closed(registry: str, tax_year: int) -> tuple[str | None, str] | None:
        for row in feed.closures():
            if row.registry == registry and row.tax_year == tax_year:
                return None, row.closed_at
        return None

    return closed


def create_app(settings: Settings, *, producer: Any = None, clock: Clock | None = None) -> FastAPI:
    the_clock: Clock = clock or SystemClock()
    # The pages follow the lifecycle's time (the clock file of compressed seasons, if set).
    web_clock: Clock = clock or clock_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from portal.kafka import KafkaPublisher, make_producer
        from portal.services.api_keys import ApiKeyService
        from portal.services.ingest import IngestService
        from portal.services.ingest_limits import IngestLimiter
        from portal.services.receipts import ReceiptService
        from portal.services.registry_disputes import RegistryDisputes
        from portal.services.sandbox import SandboxService
        from portal.services.year_close import YearCloseService
        from portal.validation import EventValidator
        from portal.web.services import ProducerDecisionPublisher, WebServices
        from storage.api_keys import AcceptedEventRepository, ApiKeyRepository
        from storage.database import make_engine, make_session_factory
        from storage.feed_health import FeedHealthRepository
        from storage.lifecycle.repository import LifecycleRepository
        from storage.receipts import ReceiptRepository

        validator = EventValidator(settings)
        engine = make_engine(settings.database)
        sessions = make_session_factory(engine)
        owned = producer is None
        kafka = make_producer(settings) if owned else producer
        if owned:
            try:
                await kafka.start()
            except BaseException:
                await kafka.stop()  # release its connections before the app gives up
                engine.dispose()
                raise
        try:
            api_keys = ApiKeyService(
                ApiKeyRepository(sessions),
                the_clock,
                dt.timedelta(days=settings.api_key_expiry_days),
            )
            app.state.web = WebServices.build(
                settings, web_clock, sessions, api_keys, ProducerDecisionPublisher(settings, kafka)
            )
            app.state.services = PortalServices(
                api_keys=api_keys,
                ingest=IngestService(
                    validator,
                    AcceptedEventRepository(sessions),
                    KafkaPublisher(kafka),
                    the_clock,
                    settings.topic_namespace,
                    validator.max_event_bytes,
                    settings.ingest_max_body_bytes,
                ),
                closes=YearCloseService(
                    AcceptedEventRepository(sessions),
                    KafkaPublisher(kafka),
                    the_clock,
                    settings.tax_years,
                    _closed_on_the_topic(FeedHealthRepository(sessions)),
                    settings.topic_namespace,
                ),
                receipts=ReceiptService(
                    ReceiptRepository(sessions), AcceptedEventRepository(sessions)
                ),
                disputes=RegistryDisputes(
                    LifecycleRepository(sessions), KafkaPublisher(kafka), settings.topic_namespace
                ),
                sandbox=SandboxService(
                    KafkaPublisher(kafka),
                    app.state.web.lifecycle,
                    the_clock,
                    settings.topic_namespace,
                ),
                limits=IngestLimiter(
                    settings.ingest_key_rate_per_s,
                    settings.ingest_key_burst,
                    settings.ingest_key_concurrency,
                ),
            )
            purge = asyncio.create_task(_purge_sessions(app.state.web))
            try:
                yield
            finally:
                purge.cancel()
                await app.state.web.aclose()
        finally:
            if owned:
                await kafka.stop()
            engine.dispose()

    # Swagger UI (/docs) and ReDoc (/redoc) with their scripts and styles served from the
    # fastapi-offline package under DOCS_ASSETS: they render on a network without internet.
    app = FastAPIOffline(
        title="proactax integrator API",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    app.add_exception_handler(ApiError, handle_api_error)

    from portal.api.ingest import router as ingest_router
    from portal.api.sandbox import AnswerModel, DisputeRequest
    from portal.api.sandbox import router as sandbox_router

    app.include_router(ingest_router, prefix="/api/v1")
    app.include_router(sandbox_router, prefix="/api/v1")
    install_web(app)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness",
        operation_id="healthz",
        response_model=HealthResponse,
    )
    async def healthz() -> HealthResponse:
        return HealthResponse(status="ok")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["RegistryEvent"] = (
                RegistryEventModel.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            schema["components"]["schemas"]["PeriodClosed"] = PeriodClosedModel.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            # request bodies read by hand (every problem named in one 422), declared by name
            for name, model in (("AnswerModel", AnswerModel), ("DisputeRequest", DisputeRequest)):
                schema["components"]["schemas"][name] = model.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
