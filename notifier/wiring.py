"""Composition for the notifier's processes: repositories, prompts, the PTB bot object,
the fleet limiter and the channels, built from settings in one place."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path

from telegram import Bot
from telegram.ext import ExtBot

from core.clock import Clock, FileClock, clock_from_start
from core.settings import DEVELOPMENT_NOTIFIER_SECRET, Settings, SettingsError
from notifier.codes import Keyring
from notifier.prompts import Prompts, prompts
from notifier.ratelimit import FleetLimiter
from notifier.schedule import QuietHours
from notifier.telegram.keyboards import Keyboards
from notifier.telegram.transport import AiohttpRequest
from storage.database import make_engine, make_session_factory
from storage.notifier.conversations import Conversations
from storage.notifier.deliveries import Deliveries
from storage.notifier.events import Events
from storage.notifier.inbox import Inbox
from storage.notifier.links import LinkTokens, TelegramLinks
from storage.notifier.menus import ButtonMenus
from storage.notifier.rate_slots import RateSlots
from storage.notifier.sign_in_codes import SignInCodes
from storage.notifier.sms import SmsOutbox
from storage.people import PeopleRepository
from storage.portal.surveys import SurveyRepository
from storage.returns_repository import ReturnsRepository

log = logging.getLogger(__name__)

SEND_CONNECTIONS = 32  # requests in flight to the Bot API per sending process


@dataclasses.dataclass
class Parts:
    settings: Settings
    clock: Clock
    prompts: Prompts
    keys: Keyring
    quiet: QuietHours
    links: TelegramLinks
    tokens: LinkTokens
    menus: ButtonMenus
    conversations: Conversations
    deliveries: Deliveries
    events: Events
    inbox: Inbox
    sign_in_codes: SignInCodes
    slots: RateSlots
    sms_outbox: SmsOutbox
    people: PeopleRepository
    returns: ReturnsRepository
    surveys: SurveyRepository

    @property
    def secret(self) -> bytes:
        """The key every new code is made with (the current one of ``keys``)."""
        return self.keys.current

    @property
    def keyboards(self) -> Keyboards:
        return Keyboards(self.menus, self.clock, timedelta(days=self.settings.button_ttl_days))

    def limiter(self) -> FleetLimiter:
        return FleetLimiter(self.slots, self.settings.telegram_send_rate)

    def bot(self) -> Bot:
        """A PTB bot on the configured Bot API (the emulator unless a real token is set)."""
        base = self.settings.telegram_api_base
        return ExtBot(
            self.settings.telegram_token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=AiohttpRequest(SEND_CONNECTIONS),
        )

    @property
    def owner(self) -> str:
        return self.settings.notifier_instance or f"notifier@{socket.gethostname()}"[:64]


class RunningFileClock:
    """The lifecycle's clock file, running forward in real time from each instant written
    (the notifier's retry and backoff times must pass even while the season's day stands)."""

    def __init__(self, path: Path) -> None:
        self._file = FileClock(path)
        self._seen: datetime | None = None
        self._since = 0.0

    def now(self) -> datetime:
        instant = self._file.now()
        if instant != self._seen:
            self._seen, self._since = instant, time.monotonic()
        return instant + timedelta(seconds=time.monotonic() - self._since)


def service_clock(settings: Settings) -> Clock:
    """The clock file when set (compressed seasons), else the system clock or clock_start."""
    if settings.clock_file:
        return RunningFileClock(Path(settings.clock_file))
    return clock_from_start(settings.clock_start)


def keyring(settings: Settings) -> Keyring:
    """``PROACTAX_NOTIFIER_SECRET`` (and its predecessor during a rotation). Empty means the
    development key, refused unless ``PROACTAX_DEVELOPMENT=1``."""
    if settings.notifier_secret:
        current = settings.notifier_secret.encode("utf-8")
    elif settings.development:
        log.warning("PROACTAX_NOTIFIER_SECRET is not set: the development key (development)")
        current = DEVELOPMENT_NOTIFIER_SECRET.encode("utf-8")
    else:
        raise SettingsError(
            "PROACTAX_NOTIFIER_SECRET is empty: set it to a random key of at least 32 "
            "characters (or PROACTAX_DEVELOPMENT=1 on a development machine)"
        )
    if not settings.notifier_secret_previous:
        return Keyring(current)
    until = datetime.fromisoformat(settings.notifier_secret_previous_until)
    return Keyring(current, settings.notifier_secret_previous.encode("utf-8"), until)


def build(settings: Settings, clock: Clock | None = None, *, makes_codes: bool = True) -> Parts:
    """``makes_codes=False`` (the webhook receiver, which only forwards updates): no notifier
    key is needed; a random process-local key stands in and makes no code anyone sees."""
    sessions = make_session_factory(make_engine(settings.database))
    return Parts(
        settings=settings,
        clock=clock or service_clock(settings),
        prompts=prompts(),
        keys=keyring(settings) if makes_codes else Keyring(secrets.token_bytes(32)),
        quiet=QuietHours.parse(settings.quiet_hours),
        links=TelegramLinks(sessions),
        tokens=LinkTokens(sessions),
        menus=ButtonMenus(sessions),
        conversations=Conversations(sessions),
        deliveries=Deliveries(sessions),
        events=Events(sessions),
        inbox=Inbox(sessions),
        sign_in_codes=SignInCodes(sessions),
        slots=RateSlots(sessions),
        sms_outbox=SmsOutbox(sessions, keep_codes=settings.development),
        people=PeopleRepository(sessions),
        returns=ReturnsRepository(sessions),
        surveys=SurveyRepository(sessions),
    )
