"""The production receive path's front: Telegram posts updates here; a request without
the right ``X-Telegram-Bot-Api-Secret-Token`` is refused (403); a good one is published
raw to ``telegram.updates.v1`` keyed by chat and acknowledged once the broker has it (a
broker outage answers 503, and Telegram delivers the update again)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from aiokafka import AIOKafkaProducer
from telegram import Update

from core.kafka import client_options
from notifier.telegram.receive import updates_topic
from notifier.wiring import Parts

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
DEFAULT_PATH = "/telegram/webhook"
MAX_UPDATE_BYTES = 1024 * 1024
PRODUCER: web.AppKey[Any] = web.AppKey("producer", object)


def chat_of(update: dict[str, Any]) -> int:
    """The chat an update belongs to (its partition key); 0 when it has none."""
    for field in ("message", "edited_message", "channel_post", "edited_channel_post"):
        if isinstance(update.get(field), dict):
            return int(update[field].get("chat", {}).get("id", 0))
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message") or {}
        chat = message.get("chat", {}).get("id") if isinstance(message, dict) else None
        return int(chat or query.get("from", {}).get("id", 0))
    for field in ("my_chat_member", "chat_member", "chat_join_request"):
        if isinstance(update.get(field), dict):
            return int(update[field].get("chat", {}).get("id", 0))
    return 0


def create_app(secret: str, producer: Any, topic: str, path: str = DEFAULT_PATH) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="forbidden")
        body = await request.read()
        try:
            update = json.loads(body)
            if not isinstance(update, dict) or "update_id" not in update:
                raise ValueError("not an update")
        except ValueError:
            return web.Response(status=400, text="not a Telegram update")
        try:
            await request.app[PRODUCER].send_and_wait(
                topic, body, key=str(chat_of(update)).encode()
            )
        except Exception:
            log.warning(
                "webhook: the broker did not take an update (Telegram will retry)", exc_info=True
            )
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[PRODUCER] = producer
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", health)
    return app


async def run_webhook(parts: Parts, stop: asyncio.Event, register: bool = True) -> None:
    """Serve the receiver; with ``register``, tell the Bot API where it is (setWebhook)."""
    settings = parts.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
    )
    await producer.start()
    path = urlparse(settings.telegram_webhook_url).path or DEFAULT_PATH
    app = create_app(
        settings.telegram_webhook_secret, producer, updates_topic(settings.topic_namespace), path
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(
        runner, settings.telegram_webhook_host, settings.telegram_webhook_port
    ).start()
    bot = parts.bot()
    try:
        if register and settings.telegram_webhook_url:
            async with bot:
                await bot.set_webhook(
                    settings.telegram_webhook_url,
                    secret_token=settings.telegram_webhook_secret,
                    allowed_updates=Update.ALL_TYPES,
                )
        log.info(
            "webhook receiver on %s:%s%s",
            settings.telegram_webhook_host,
            settings.telegram_webhook_port,
            path,
        )
        await stop.wait()
    finally:
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await producer.stop()
