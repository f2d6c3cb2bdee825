"""The notifier process (``proactax notifier``): consumes ``notices.v1`` into the outbox
and the inbox, sends within the fleet's budget and quiet hours, and relays delivery
statuses to ``notifications.v1``. Several can run: the consumer group splits the notices,
the outbox claims split the sending, the database row splits the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import topics
from core.kafka import client_options
from core.retry import RetryStopped, retry_in_thread
from notifier.delivery import INTERRUPTED, Sender, SmsChannel, TelegramChannel
from notifier.ingest import Ingest
from notifier.relay import Relay
from notifier.wiring import Parts

log = logging.getLogger(__name__)

CONSUME_BATCH = 500
MAINTENANCE_INTERVAL_S = 300.0
STALE_LEASE = dt.timedelta(minutes=5)  # beyond the lease, a sender is gone


def consumer_group(app_id: str) -> str:
    return f"{app_id}-notifier"


async def run_notifier(parts: Parts, stop: asyncio.Event) -> None:
    settings = parts.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        acks="all",
        linger_ms=5,
    )
    consumer = AIOKafkaConsumer(
        topics.namespaced(topics.NOTICES, settings.topic_namespace),
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        group_id=consumer_group(settings.app_id),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=CONSUME_BATCH,
        isolation_level="read_committed",
    )
    bot = parts.bot()
    await producer.start()
    await consumer.start()
    await bot.initialize()
    ingest = Ingest(
        parts.deliveries,
        parts.links,
        parts.people,
        parts.prompts,
        parts.secret,
        settings.portal_url,
        parts.quiet,
        parts.clock,
        settings.sms_fallback,
        parts.surveys,
    )
    sender = Sender(
        deliveries=parts.deliveries,
        links=parts.links,
        people=parts.people,
        telegram=TelegramChannel(
            bot,
            parts.keyboards,
            parts.prompts,
            parts.secret,
            settings.portal_url,
            settings.telegram_paid_broadcast,
        ),
        sms=SmsChannel(
            parts.sms_outbox, parts.prompts, parts.secret, settings.portal_url, parts.clock
        ),
        limiter=parts.limiter(),
        quiet=parts.quiet,
        clock=parts.clock,
        owner=parts.owner,
        per_chat_interval_s=settings.telegram_per_chat_interval_s,
        sms_fallback=settings.sms_fallback,
    )
    relay = Relay(parts.events, producer, settings.topic_namespace)
    await sender.recover()
    sending, relaying = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.create_task(_consume(consumer, ingest, sender, stop), name="consume"),
        asyncio.create_task(sender.run(sending), name="send"),
        asyncio.create_task(relay.run(relaying), name="relay"),
        asyncio.create_task(_maintain(parts, stop), name="maintain"),
    ]
    log.info(
        "notifier %s running (%.0f msg/s fleet budget)", parts.owner, settings.telegram_send_rate
    )
    try:
        done, _ = await asyncio.wait(
            [asyncio.create_task(stop.wait()), *tasks], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            if task in tasks and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        await asyncio.gather(tasks[0], return_exceptions=True)
        sending.set()  # finish in-flight sends, write their outcomes, release claims
        await asyncio.gather(tasks[1], return_exceptions=True)
        relaying.set()  # publish the last statuses
        await asyncio.gather(*tasks[2:], return_exceptions=True)
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        with contextlib.suppress(Exception):
            await bot.shutdown()
        log.info("notifier stopped: %d sent, %d statuses published", sender.sent, relay.published)


async def _consume(
    consumer: AIOKafkaConsumer, ingest: Ingest, sender: Sender, stop: asyncio.Event
) -> None:
    """Notices ► outbox; offsets are committed only after the rows are stored."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=CONSUME_BATCH)
        raws = [record.value for records in batches.values() for record in records]
        if not raws:
            continue
        try:
            fresh = await retry_in_thread(ingest.accept, raws, what="notices: storing", stop=stop)
        except RetryStopped:
            return  # not committed: the notices come again after the restart
        await consumer.commit()
        if fresh:
            sender.wake.set()


async def _maintain(parts: Parts, stop: asyncio.Event) -> None:
    """Every few minutes: end the claims of senders that died (their leases ran out long
    ago) and forget expired button menus, link tokens and SMS messages of expired codes."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), MAINTENANCE_INTERVAL_S)
        if stop.is_set():
            return
        now = parts.clock.now()
        try:
            requeued, ended = await asyncio.to_thread(
                parts.deliveries.recover, "", now, INTERRUPTED, now - STALE_LEASE
            )
            purged = await asyncio.to_thread(parts.menus.purge_expired, now)
            purged += await asyncio.to_thread(parts.sms_outbox.purge_expired, now)
        except Exception:
            log.warning("notifier maintenance failed", exc_info=True)
            continue
        if requeued or ended or purged:
            log.info("maintenance: %d requeued, %d ended, %d expired rows", requeued, ended, purged)
