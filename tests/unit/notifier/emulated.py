"""The Bot API emulator in the test's own event loop, on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from telegram import Bot

from notifier.telegram.emulator.app import serve
from notifier.telegram.emulator.state import Emulator, Limits

TOKEN = "1000000001:test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def emulator(limits: Limits | None = None) -> AsyncIterator[tuple[Emulator, str]]:
    state = Emulator(TOKEN, limits=limits)
    port = free_port()
    runner = await serve(state, "127.0.0.1", port)
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def bot_for(url: str, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")
