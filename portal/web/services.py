"""``WebServices``: what the pages use, made once per process in the app's lifespan."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.clock import Clock
from core.settings import Settings


@dataclasses.dataclass
class WebServices:
    settings: Settings
    clock: Clock
    lifecycle: Any  # lifecycle.services.LifecycleService
    notifier: Any  # notifier.api.NotifierApi
    returns: Any  # storage.returns_repository.ReturnsRepository
    people: Any  # storage.people.PeopleRepository
    sessions: Any  # storage.portal.sessions.SessionRepository
    staff: Any  # storage.portal.staff.StaffRepository
    throttles: Any  # storage.portal.throttles.ThrottleRepository
    surveys: Any  # storage.portal.surveys.SurveyRepository
    cabinet: Any  # storage.portal.cabinet.CabinetQueries
    dashboard: Any  # storage.portal.dashboard.DashboardQueries
    feed: Any  # storage.feed_health.FeedHealthRepository
    api_keys: Any  # portal.services.api_keys.ApiKeyService
    figures: Any  # portal.web.figures.Figures
    exports: Any  # storage.portal.staff.ExportLog
    identity: Any = None  # storage.identity.IdentityRepository
    documents: Any = None  # storage.documents.DocumentRepository
    # Sign-in providers by name ("oneid", "oidc"): portal.identity.port.IdentityProvider
    providers: dict[str, Any] = dataclasses.field(default_factory=dict)
    # (pinfl, year, version) views this process has recorded: recording is idempotent,
    # so a repeat only costs a locked read; bounded by ViewCache.
    views_recorded: Any = dataclasses.field(default_factory=lambda: ViewCache())

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        sessions: Any,
        api_keys: Any,
        decision_publisher: Any,
        notifier: Any = None,
    ) -> WebServices:
        from lifecycle.services import LifecycleService
        from notifier.api import NotifierApi
        from portal.web.figures import Figures
        from storage.documents import DocumentRepository
        from storage.feed_health import FeedHealthRepository
        from storage.identity import IdentityRepository
        from storage.lifecycle.repository import LifecycleRepository
        from storage.people import PeopleRepository
        from storage.portal.cabinet import CabinetQueries
        from storage.portal.dashboard import DashboardQueries
        from storage.portal.sessions import SessionRepository
        from storage.portal.staff import ExportLog, StaffRepository
        from storage.portal.surveys import SurveyRepository
        from storage.portal.throttles import ThrottleRepository
        from storage.returns_repository import ReturnsRepository

        lifecycle = LifecycleService.from_settings(
            settings, LifecycleRepository(sessions), decision_publisher, clock=clock
        )
        notifier = notifier or NotifierApi.from_settings(settings)
        dashboard = DashboardQueries(sessions)
        feed = FeedHealthRepository(sessions)
        surveys = SurveyRepository(sessions)
        return cls(
            settings=settings,
            clock=clock,
            lifecycle=lifecycle,
            notifier=notifier,
            returns=ReturnsRepository(sessions),
            people=PeopleRepository(sessions),
            sessions=SessionRepository(sessions),
            staff=StaffRepository(sessions),
            throttles=ThrottleRepository(sessions),
            surveys=surveys,
            cabinet=CabinetQueries(sessions),
            dashboard=dashboard,
            feed=feed,
            api_keys=api_keys,
            figures=Figures(settings, clock, lifecycle, notifier, dashboard, feed, surveys),
            exports=ExportLog(sessions),
            identity=IdentityRepository(sessions),
            documents=DocumentRepository(sessions),
            providers=identity_providers(settings),
        )

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.notifier.aclose()


def identity_providers(settings: Settings) -> dict[str, Any]:
    """The sign-in providers this portal offers: each real one configured, else in
    development its local stand-in; none otherwise."""
    from core.sign_in import oidc_config, oneid_config
    from portal.identity.oidc import OidcProvider
    from portal.identity.oneid import OneIdProvider

    providers: dict[str, Any] = {}
    base = settings.portal_url
    if (oneid := oneid_config(settings)) is not None:
        providers["oneid"] = OneIdProvider(oneid, f"{base}/sign-in/oneid/callback")
    if (oidc := oidc_config(settings)) is not None:
        providers["oidc"] = OidcProvider(oidc, f"{base}/sign-in/oidc/callback")
    return providers


class ProducerDecisionPublisher:
    """``lifecycle.services.DecisionPublisher`` on the portal's own Kafka producer (acks=all,
    idempotent; shared with the ingest API) instead of a second connection."""

    def __init__(self, settings: Settings, producer: Any) -> None:
        from contracts import topics
        from contracts.topics import namespaced

        self.topic = namespaced(topics.DECISIONS, settings.topic_namespace)
        self._producer = producer

    async def publish(self, key: bytes, value: bytes) -> None:
        await (await self._producer.send(self.topic, value=value, key=key))


class ViewCache:
    """A bounded set (oldest forgotten first)."""

    def __init__(self, size: int = 100_000) -> None:
        from collections import OrderedDict

        self._items: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._size = size

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def add(self, item: tuple[str, int, int]) -> None:
        self._items[item] = None
        if len(self._items) > self._size:
            self._items.popitem(last=False)
