"""How updates reach the bot.

* Development: long polling (``getUpdates``) against the emulator or Telegram.
* Production: Telegram posts to the webhook receiver (``webhook.py``), which checks the
  secret-token header and publishes the raw update to ``telegram.updates.v1`` keyed by
  chat; bot workers (this module, ``mode="kafka"``) consume them with a PTB
  ``Application`` built with ``updater(None)`` and ``process_update`` them in order,
  committing offsets after the handlers ran (at least once; the handlers are safe to
  repeat: button menus are single-use, link tokens too, decisions carry content ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from telegram import Update
from telegram.ext import Application

from contracts import topics
from contracts.topics import TELEGRAM_UPDATES
from core.kafka import client_options
from notifier.conversation import BotService
from notifier.decisions import decision_port
from notifier.telegram.bot import build_application
from notifier.telegram.ratelimiter import ChatSpacing, FleetRateLimiter
from notifier.wiring import Parts

log = logging.getLogger(__name__)


def updates_topic(namespace: str) -> str:
    return topics.namespaced(TELEGRAM_UPDATES, namespace)


def bot_service(parts: Parts, producer: AIOKafkaProducer) -> BotService:
    settings = parts.settings
    return BotService(
        links=parts.links,
        tokens=parts.tokens,
        menus=parts.menus,
        conversations=parts.conversations,
        people=parts.people,
        returns=parts.returns,
        decisions=decision_port(settings, producer),
        prompts=parts.prompts,
        clock=parts.clock,
        secret=parts.secret,
        portal_url=settings.portal_url,
        tax_years=settings.tax_years,
        button_ttl=timedelta(days=settings.button_ttl_days),
        surveys=parts.surveys,
    )


async def run_bot(parts: Parts, stop: asyncio.Event, mode: str) -> None:
    """``mode``: ``polling`` or ``kafka``."""
    settings = parts.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
    )
    await producer.start()
    limiter = FleetRateLimiter(parts.limiter(), ChatSpacing(settings.telegram_per_chat_interval_s))
    application = build_application(
        settings, bot_service(parts, producer), parts.keyboards, limiter, updater=mode == "polling"
    )
    try:
        async with application:
            await application.start()
            if mode == "polling":
                assert application.updater is not None
                await application.updater.start_polling(
                    poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES
                )
                log.info("bot polling %s", settings.telegram_api_base)
                await stop.wait()
                await application.updater.stop()
            else:
                await _consume_updates(parts, application, stop)
            await application.stop()
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()


async def _consume_updates(
    parts: Parts, application: Application[Any, Any, Any, Any, Any, Any], stop: asyncio.Event
) -> None:
    settings = parts.settings
    consumer = AIOKafkaConsumer(
        updates_topic(settings.topic_namespace),
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        group_id=f"{settings.app_id}-bot",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=100,
        isolation_level="read_committed",
    )
    await consumer.start()
    log.info("bot worker consuming %s", updates_topic(settings.topic_namespace))
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        data = json.loads(record.value)
                    except ValueError:
                        log.error("telegram.updates.v1: a value that is not JSON was skipped")
                        continue
                    update = Update.de_json(data, application.bot)
                    await application.process_update(update)
            if batches:
                await consumer.commit()
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
