"""Delivery: named statuses, the sending task with its retry policy beside it, and the
sender loop that drains the outbox within the fleet's rate limit and quiet hours.

Statuses (``notifications.v1``):

* ``queued`` – accepted, waiting for its turn (rate limit, quiet hours, a retry time);
* ``sending`` – handed to the channel; written *before* the request, so after a crash a
  ``sending`` row is never sent again (docs/decisions/0004-no-double-telegram-sends.md);
* ``sent`` – the channel accepted it (Telegram returned the message);
* ``temporary_failure`` – this attempt failed (network, 5xx, 429); queued again after the
  backoff below (a 429 waits ``retry_after`` and does not count as an attempt);
* ``permanent_failure`` – the chat cannot get it (blocked the bot, deleted, not linked):
  the chat is marked unreachable and the SMS adapter takes over (terminal);
* ``technical_failure`` – retries ran out, our own error, or an interrupted send whose
  outcome is unknown (terminal; the portal inbox has the notice).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

from contracts.redaction import mask_pinfl
from core.clock import Clock
from notifier import codes, screens
from notifier.prompts import Prompts
from notifier.ratelimit import FleetLimiter
from notifier.schedule import QuietHours
from notifier.telegram.errors import is_unreachable, retry_after_s
from notifier.telegram.keyboards import Keyboards
from storage.notifier.deliveries import (
    PERMANENT_FAILURE,
    QUEUED,
    SENT,
    TECHNICAL_FAILURE,
    TEMPORARY_FAILURE,
    Deliveries,
    DeliveryRecord,
    DeliveryResult,
    NewDelivery,
)
from storage.notifier.links import LinkRecord, TelegramLinks
from storage.notifier.sms import SmsOutbox
from storage.people import PeopleRepository

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted while sending: outcome unknown, not sent again (see the portal inbox)"


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts per delivery and the wait before each retry (the last one repeats)."""

    max_attempts: int = 5
    backoff_s: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0)

    def retry_at(self, attempt: int, now: dt.datetime) -> dt.datetime | None:
        """When attempt ``attempt + 1`` may run; None when retries have run out."""
        if attempt >= self.max_attempts:
            return None
        wait = self.backoff_s[min(attempt - 1, len(self.backoff_s) - 1)]
        return now + dt.timedelta(seconds=wait)


RETRY_POLICY = RetryPolicy()


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """A rendered message with its keyboard (menus already stored)."""

    chat_id: int
    text: str
    markup: Any


@dataclasses.dataclass
class TelegramChannel:
    """Sends a notice as a bot message (with Agree/Disagree/Details when it asks for an answer)."""

    bot: Bot
    keyboards: Keyboards
    prompts: Prompts
    secret: bytes
    portal_url: str
    paid_broadcast: bool = False

    def prepare(self, items: Sequence[tuple[DeliveryRecord, int]]) -> list[Prepared]:
        """Render a chunk's messages and store their button menus in one transaction."""
        cards = []
        for delivery, chat_id in items:
            code = codes.verification_code(self.secret, delivery.pinfl, delivery.notice_id)
            screen = screens.card(
                self.prompts, delivery.language, delivery.notice, code, self.portal_url
            )
            cards.append((chat_id, delivery.pinfl, screen))
        markups = self.keyboards.inline_many(cards)
        return [
            Prepared(chat_id, screen.text, markup)
            for (chat_id, _, screen), markup in zip(cards, markups, strict=True)
        ]

    async def send(self, message: Prepared) -> int:
        sent = await self.bot.send_message(
            message.chat_id,
            message.text,
            reply_markup=message.markup,
            allow_paid_broadcast=True if self.paid_broadcast else None,
        )
        return sent.message_id


@dataclasses.dataclass
class SmsChannel:
    """The SMS adapter stub: records what a provider would send (a pointer to the portal)."""

    outbox: SmsOutbox
    prompts: Prompts
    secret: bytes
    portal_url: str
    clock: Clock

    def send(self, delivery: DeliveryRecord, phone: str) -> int:
        code = codes.verification_code(self.secret, delivery.pinfl, delivery.notice_id)
        text = self.prompts.sms(delivery.notice, delivery.language, code, self.portal_url)
        return self.outbox.add(delivery.pinfl, phone, text, self.clock.now())


async def send_one(
    delivery: DeliveryRecord,
    message: Prepared | None,
    telegram: TelegramChannel,
    policy: RetryPolicy,
    now: dt.datetime,
    fallback: Callable[[], Awaitable[NewDelivery | None]],
) -> tuple[DeliveryResult, float]:
    """One Telegram attempt and what it leads to: ``(outcome, seconds to hold the fleet)``.

    ``delivery.attempt`` is the count before this attempt; ``message`` is None when the
    taxpayer has no linked chat any more; ``fallback`` makes the SMS delivery if needed."""
    attempt = delivery.attempt + 1
    if message is None:
        detail = "not linked to Telegram"
        outcome = DeliveryResult(
            delivery.delivery_id, PERMANENT_FAILURE, attempt, detail, fallback=await fallback()
        )
        return outcome, 0.0
    try:
        message_id = await telegram.send(message)
    except RetryAfter as error:
        wait = retry_after_s(error)
        retry = now + dt.timedelta(seconds=wait)
        detail = f"retry_after {wait:g}"
        return DeliveryResult(
            delivery.delivery_id, TEMPORARY_FAILURE, delivery.attempt, detail, retry_at=retry
        ), wait
    except TelegramError as error:
        if is_unreachable(error):
            return (
                DeliveryResult(
                    delivery.delivery_id,
                    PERMANENT_FAILURE,
                    attempt,
                    str(error)[:200],
                    unreachable_chat=message.chat_id,
                    fallback=await fallback(),
                ),
                0.0,
            )
        if isinstance(error, BadRequest):  # our request is wrong: retrying will not help
            return DeliveryResult(
                delivery.delivery_id, TECHNICAL_FAILURE, attempt, str(error)[:200]
            ), 0.0
        retry_at = policy.retry_at(attempt, now) if isinstance(error, NetworkError) else None
        return _retry_or_end(delivery, attempt, retry_at, str(error)), 0.0
    except Exception as error:  # rendering or storage trouble: retry, then give up
        log.exception("sending %s failed", delivery.delivery_id)
        return _retry_or_end(delivery, attempt, policy.retry_at(attempt, now), repr(error)), 0.0
    return DeliveryResult(delivery.delivery_id, SENT, attempt, message_id=message_id), 0.0


def _retry_or_end(
    delivery: DeliveryRecord, attempt: int, retry_at: dt.datetime | None, detail: str
) -> DeliveryResult:
    if retry_at is None:
        return DeliveryResult(
            delivery.delivery_id, TECHNICAL_FAILURE, attempt, f"retries exhausted: {detail}"[:500]
        )
    return DeliveryResult(
        delivery.delivery_id, TEMPORARY_FAILURE, attempt, detail[:500], retry_at=retry_at
    )


@dataclasses.dataclass
class Sender:
    """Claims due deliveries (EDF), spaces them by the fleet's send instants, marks each
    ~100 ms chunk ``sending`` just before sending it, and writes outcomes in batches."""

    deliveries: Deliveries
    links: TelegramLinks
    people: PeopleRepository
    telegram: TelegramChannel
    sms: SmsChannel
    limiter: FleetLimiter
    quiet: QuietHours
    clock: Clock
    owner: str
    per_chat_interval_s: float = 1.0
    sms_fallback: bool = True
    policy: RetryPolicy = RETRY_POLICY
    lease: dt.timedelta = dt.timedelta(seconds=60)
    chunk_s: float = 0.1
    max_in_flight: int = 32  # = the bot's connection pool (wiring.SEND_CONNECTIONS)
    idle_poll_s: float = 0.5

    def __post_init__(self) -> None:
        self._outcomes: list[DeliveryResult] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recent: dict[str, float] = {}  # pinfl -> monotonic time of the last send
        self._paused_until = 0.0  # wall clock: a 429 holds this sender too
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self.wake = asyncio.Event()
        self.sent = 0

    @property
    def batch_size(self) -> int:
        return max(1, min(500, int(self.limiter.rate)))

    async def recover(self) -> None:
        requeued, ended = await asyncio.to_thread(
            self.deliveries.recover, self.owner, self.clock.now(), INTERRUPTED
        )
        if requeued or ended:
            log.warning(
                "after a restart: %d claims requeued, %d interrupted sends ended", requeued, ended
            )

    async def run(self, stop: asyncio.Event) -> None:
        flusher = asyncio.create_task(self._flush_loop(stop))
        try:
            while not stop.is_set():
                handled = await self.step()
                if handled == 0:
                    self.wake.clear()
                    waits = [
                        asyncio.create_task(stop.wait()),
                        asyncio.create_task(self.wake.wait()),
                    ]
                    await asyncio.wait(
                        waits, timeout=self.idle_poll_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiter in waits:
                        waiter.cancel()
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            stop.set()
            await flusher
            await self._flush()
            released = await asyncio.to_thread(self.deliveries.release, self.owner)
            if released:
                log.info("released %d claimed deliveries", released)

    async def step(self) -> int:
        """Claim one batch and schedule its sends; returns once the last send of the batch
        is due within a chunk, so the next claim overlaps the tail of this one."""
        now = self.clock.now()
        mono = time.monotonic()
        self._recent = {
            p: t for p, t in self._recent.items() if mono - t < self.per_chat_interval_s
        }
        batch = await asyncio.to_thread(
            self.deliveries.claim,
            self.owner,
            ("telegram", "sms"),
            now,
            self.batch_size,
            self.lease,
            dt.timedelta(seconds=self.per_chat_interval_s),
            [0] if self.quiet.is_quiet(now) else None,
            tuple(self._recent),
        )
        if not batch:
            return 0
        if time.time() < self._paused_until:
            until = now + dt.timedelta(seconds=self._paused_until - time.time())
            await asyncio.to_thread(
                self.deliveries.defer, self.owner, [d.delivery_id for d in batch], until
            )
            return 0
        telegram = [d for d in batch if d.channel == "telegram"]
        sms = [d for d in batch if d.channel == "sms"]
        links = await asyncio.to_thread(self.links.by_pinfls, [d.pinfl for d in batch])
        if sms:
            self._spawn(self._send_sms(sms))
        if telegram:
            instants = await self.limiter.reserve(len(telegram))
            for pinfl in (d.pinfl for d in telegram):
                self._recent[pinfl] = mono
            chunks: list[list[tuple[DeliveryRecord, float]]] = [[]]
            for delivery, instant in zip(telegram, instants, strict=True):
                if chunks[-1] and instant - chunks[-1][0][1] >= self.chunk_s:
                    chunks.append([])
                chunks[-1].append((delivery, instant))
            for chunk in chunks:
                self._spawn(self._send_chunk(chunk, links))
            await self.limiter.sleep_until(instants[-1] - self.chunk_s)
        return len(batch)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_chunk(
        self, chunk: Sequence[tuple[DeliveryRecord, float]], links: dict[str, LinkRecord]
    ) -> None:
        await self.limiter.sleep_until(chunk[0][1])
        if time.time() < self._paused_until:
            until = self.clock.now() + dt.timedelta(seconds=self._paused_until - time.time())
            await asyncio.to_thread(
                self.deliveries.defer, self.owner, [d.delivery_id for d, _ in chunk], until
            )
            return
        live = set(
            await asyncio.to_thread(
                self.deliveries.mark_sending, self.owner, [d for d, _ in chunk], self.clock.now()
            )
        )
        todo = [(d, t) for d, t in chunk if d.delivery_id in live]
        linked = [(d, links[d.pinfl].chat_id) for d, _ in todo if d.pinfl in links]
        try:
            prepared = iter(await asyncio.to_thread(self.telegram.prepare, linked))
        except Exception as error:  # rendering or storage trouble: these attempts failed
            log.exception("preparing a chunk of messages failed")
            now = self.clock.now()
            for delivery, _ in todo:
                retry_at = self.policy.retry_at(delivery.attempt + 1, now)
                self._outcomes.append(
                    _retry_or_end(delivery, delivery.attempt + 1, retry_at, repr(error))
                )
            return
        sends = []
        for delivery, instant in todo:
            message = next(prepared) if delivery.pinfl in links else None
            await self.limiter.sleep_until(instant)
            await self._slots.acquire()
            sends.append(asyncio.create_task(self._send_telegram(delivery, message)))
        await asyncio.gather(*sends)

    async def _send_telegram(self, delivery: DeliveryRecord, message: Prepared | None) -> None:
        async def fallback() -> NewDelivery | None:
            return await asyncio.to_thread(self._fallback, delivery)

        try:
            outcome, hold = await send_one(
                delivery, message, self.telegram, self.policy, self.clock.now(), fallback
            )
            if hold > 0:
                self._paused_until = max(self._paused_until, time.time() + hold)
                await self.limiter.hold(hold)
            if outcome.status == SENT:
                self.sent += 1
            elif outcome.status == PERMANENT_FAILURE:
                log.info(
                    "%s unreachable on Telegram: %s", mask_pinfl(delivery.pinfl), outcome.detail
                )
            self._outcomes.append(outcome)
        finally:
            self._slots.release()

    def _fallback(self, delivery: DeliveryRecord) -> NewDelivery | None:
        """The SMS delivery that replaces a Telegram one that cannot arrive (none for the
        survey: it is asked in the bot or on the portal's pages)."""
        if not self.sms_fallback or delivery.notice.get("kind") == screens.SURVEY_KIND:
            return None
        person = self.people.get(delivery.pinfl)
        if person is None or not person.phone:
            return None
        return NewDelivery(
            delivery.dedupe_key,
            "sms",
            delivery.notice,
            delivery.language,
            delivery.priority,
            QUEUED,
            self.clock.now(),
            detail="Telegram chat unreachable",
        )

    async def _send_sms(self, batch: Sequence[DeliveryRecord]) -> None:
        live = set(
            await asyncio.to_thread(
                self.deliveries.mark_sending, self.owner, batch, self.clock.now()
            )
        )
        for delivery in batch:
            if delivery.delivery_id not in live:
                continue
            attempt = delivery.attempt + 1
            person = await asyncio.to_thread(self.people.get, delivery.pinfl)
            if person is None or not person.phone:
                self._outcomes.append(
                    DeliveryResult(
                        delivery.delivery_id, PERMANENT_FAILURE, attempt, "no phone on file"
                    )
                )
                continue
            try:
                await asyncio.to_thread(self.sms.send, delivery, person.phone)
            except Exception as error:
                log.exception("the SMS adapter failed")
                retry_at = self.policy.retry_at(attempt, self.clock.now())
                self._outcomes.append(_retry_or_end(delivery, attempt, retry_at, repr(error)))
                continue
            self._outcomes.append(DeliveryResult(delivery.delivery_id, SENT, attempt))

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.chunk_s)
            await self._flush()

    async def _flush(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        await asyncio.to_thread(self.deliveries.finish, self.owner, outcomes, self.clock.now())
        if any(o.fallback is not None for o in outcomes):
            self.wake.set()
