"""What the portal (issue 7) calls: Telegram link tokens and link status, the inbox, the
one-time sign-in codes delivered through the bot (or the SMS stub), and the send
planner's projection for the dashboard.

    api = NotifierApi.from_settings(settings)
    token = api.issue_link_token(pinfl)          # .telegram_url, .emulator_url, .expires_at
    api.inbox(pinfl), api.mark_read(pinfl, id), api.verify_message(pinfl, "K7MQ-4QX9")
    result = await api.send_sign_in_code(pinfl)  # .sent, .channel ("telegram" | "sms")
    api.verify_sign_in_code(pinfl, "123456")     # "ok" | "wrong" | "too_many" | "none"
    api.projection().as_dict()                   # for the dashboard
    await api.aclose()

Object-level checks are built in: every inbox call takes the signed-in PINFL and only
ever returns that taxpayer's messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hmac
import logging
from urllib.parse import quote

from telegram import Bot
from telegram.error import TelegramError

from contracts.redaction import mask_pinfl
from core.settings import Settings
from notifier import codes
from notifier.planner import Projection, project, waves_from_counts
from notifier.telegram.errors import is_unreachable
from notifier.wiring import Parts, build
from storage.notifier.inbox import InboxRecord
from storage.notifier.links import LinkRecord

log = logging.getLogger(__name__)

SIGN_IN_CODE_INTERVAL = dt.timedelta(seconds=60)  # one new code per taxpayer per minute
ROTATION_LOOKBACK = 200  # inbox messages checked against the new key during a key rotation


@dataclasses.dataclass(frozen=True, slots=True)
class LinkToken:
    token: str
    telegram_url: str  # https://t.me/<bot>?start=<token> (a QR code of this links the app)
    emulator_url: str | None  # the emulator's page for the same deep link (development)
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class SignInCodeResult:
    sent: bool
    channel: str | None  # "telegram" or "sms"
    reason: str = ""  # why not sent: too_soon, no_channel, failed
    retry_after_s: int = 0


class NotifierApi:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.settings = parts.settings
        self._bot: Bot | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifierApi:
        return cls(build(settings))

    async def aclose(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None

    # ------------------------------------------------------------------ linking

    def issue_link_token(self, pinfl: str) -> LinkToken:
        """A one-time deep link into the bot for ``pinfl`` (stored hashed, short-lived)."""
        token = codes.new_token()
        ttl = dt.timedelta(seconds=self.settings.link_token_ttl_s)
        expires_at = self.parts.tokens.issue(
            codes.token_hash(token), pinfl, self.parts.clock.now(), ttl
        )
        emulator = None
        if self.settings.telegram_uses_emulator:
            emulator = f"{self.settings.telegram_emulator_url}/start?payload={quote(token)}"
        return LinkToken(
            token,
            f"https://t.me/{self.settings.telegram_bot_username}?start={token}",
            emulator,
            expires_at,
        )

    def telegram_link(self, pinfl: str) -> LinkRecord | None:
        """The taxpayer's linked chat (``reachable`` False once they blocked the bot)."""
        return self.parts.links.by_pinfl(pinfl)

    def unlink(self, pinfl: str) -> bool:
        return self.parts.links.unlink_pinfl(pinfl) is not None

    # ------------------------------------------------------------------ inbox

    def inbox(self, pinfl: str, limit: int = 50, offset: int = 0) -> list[InboxRecord]:
        return self.parts.inbox.list(pinfl, limit, offset)

    def inbox_message(self, pinfl: str, message_id: int) -> InboxRecord | None:
        return self.parts.inbox.get(pinfl, message_id)

    def unread_count(self, pinfl: str) -> int:
        return self.parts.inbox.unread_count(pinfl)

    def mark_read(self, pinfl: str, message_id: int) -> bool:
        return self.parts.inbox.mark_read(pinfl, message_id, self.parts.clock.now())

    def verify_message(self, pinfl: str, code: str) -> InboxRecord | None:
        """The inbox message that carried this verification code, if it is this taxpayer's:
        a message whose code is not found did not come from the service."""
        code = codes.normalise_code(code)
        found = self.parts.inbox.find_by_code(pinfl, code)
        keys = self.parts.keys.accepted(self.parts.clock.now())
        if found is not None or len(keys) == 1:
            return found
        # During a key rotation the bot may show a card's code made with the new key for a
        # message the inbox stored with the old one: both are genuine until the window ends.
        for message in self.parts.inbox.list(pinfl, ROTATION_LOOKBACK):
            if any(
                hmac.compare_digest(codes.verification_code(k, pinfl, message.notice_id), code)
                for k in keys
            ):
                return message
        return None

    # ------------------------------------------------------------------ sign-in codes

    async def send_sign_in_code(self, pinfl: str, binding: str = "") -> SignInCodeResult:
        """Issue a 6-digit code and send it to the linked chat, else by SMS (stub). The code
        can be tried only with the same ``binding`` (the portal's client that asked)."""
        now = self.parts.clock.now()
        last = await asyncio.to_thread(self.parts.sign_in_codes.last_issued, pinfl)
        if last is not None and now - last < SIGN_IN_CODE_INTERVAL:
            wait = int((SIGN_IN_CODE_INTERVAL - (now - last)).total_seconds()) + 1
            return SignInCodeResult(False, None, "too_soon", wait)
        link = await asyncio.to_thread(self.parts.links.by_pinfl, pinfl)
        person = await asyncio.to_thread(self.parts.people.get, pinfl)
        code = codes.new_sign_in_code()
        lang = (link.language if link else None) or (person.preferred_language if person else None)
        text = self.parts.prompts.text(
            lang or "",
            "bot.sign_in_code",
            code=code,
            minutes=self.settings.sign_in_code_ttl_s // 60,
        )
        channel = None
        if link is not None and link.reachable and await self._telegram(link.chat_id, text):
            channel = "telegram"
        elif person is not None and person.phone:
            await asyncio.to_thread(
                self.parts.sms_outbox.add,
                pinfl,
                person.phone,
                text,
                now,
                code=code,  # masked in the outbox; the row goes once the code has expired
                expires_at=now + dt.timedelta(seconds=self.settings.sign_in_code_ttl_s),
            )
            channel = "sms"
        if channel is None:
            return SignInCodeResult(False, None, "no_channel")
        await asyncio.to_thread(
            self.parts.sign_in_codes.issue,
            pinfl,
            codes.sign_in_code_hash(self.parts.secret, pinfl, code),
            channel,
            now,
            dt.timedelta(seconds=self.settings.sign_in_code_ttl_s),
            binding,
        )
        log.info("sign-in code for %s sent by %s", mask_pinfl(pinfl), channel)
        return SignInCodeResult(True, channel)

    def verify_sign_in_code(self, pinfl: str, code: str, binding: str = "") -> str:
        """``ok`` (used up), ``wrong``, ``too_many`` (the code is burnt) or ``none``."""
        now = self.parts.clock.now()
        return self.parts.sign_in_codes.verify(
            pinfl,
            # every key of a rotation window: a code sent just before the rotation still works
            tuple(
                codes.sign_in_code_hash(k, pinfl, code.strip())
                for k in self.parts.keys.accepted(now)
            ),
            now,
            self.settings.sign_in_code_max_attempts,
            binding,
        )

    async def _telegram(self, chat_id: int, text: str) -> bool:
        async with self._lock:
            if self._bot is None:
                self._bot = self.parts.bot()
                await self._bot.initialize()
        await self.parts.limiter().acquire()
        try:
            await self._bot.send_message(chat_id, text)
        except TelegramError as error:
            if is_unreachable(error):
                now = self.parts.clock.now()
                await asyncio.to_thread(self.parts.links.mark_unreachable, chat_id, now)
                log.info("sign-in code: chat unreachable (%s); trying SMS", error)
            else:
                log.warning("sign-in code: Telegram failed (%s); trying SMS", error)
            return False
        return True

    # ------------------------------------------------------------------ dashboard

    def projection(self, now: dt.datetime | None = None) -> Projection:
        """When each waiting wave of notices will be sent, against its deadline."""
        waves = waves_from_counts(self.parts.deliveries.backlog(("telegram", "sms")))
        return project(
            waves,
            self.settings.telegram_send_rate,
            self.parts.quiet,
            now or self.parts.clock.now(),
        )

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """``{channel: {status: count}}``."""
        counts: dict[str, dict[str, int]] = {}
        for (channel, status), n in self.parts.deliveries.status_counts().items():
            counts.setdefault(channel, {})[status] = n
        return counts
