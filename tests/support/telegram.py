"""The Telegram Bot API emulator as a real child process, with a client for its control
API (what a person does on the emulator's page, the tests do through this)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from devtools.processes import ServiceProcess
from tests.support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    def __init__(self, settings: Settings, log_path: Path, *extra: str) -> None:
        self.settings = settings
        self.process = ServiceProcess.telegram_emulator(settings, log_path, *extra)
        self.client = httpx.Client(base_url=settings.telegram_emulator_url, timeout=10)

    def start(self) -> EmulatorProcess:
        self.process.start()

        def up() -> bool:
            assert self.process.alive(), self.process.log_tail()
            try:
                return self.client.get("/control/stats").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout_s=30, what="the emulator up")
        return self

    def stop(self) -> None:
        self.client.close()
        self.process.stop()

    def call(self, method: str, path: str, **body: Any) -> Any:
        response = self.client.request(method, path, json=body or None)
        response.raise_for_status()
        return response.json()

    def add_user(self, name: str, phone: str | None = None) -> int:
        user = self.call("POST", "/control/users", first_name=name, phone=phone, language_code="en")
        return int(user["id"])

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/control/chats/{chat_id}/messages"))

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages(chat_id) if m["from"].get("is_bot")]

    def stats(self) -> dict[str, Any]:
        return dict(self.call("GET", "/control/stats"))

    def block(self, chat_id: int) -> None:
        self.call("POST", f"/control/users/{chat_id}/blocked", blocked=True)

    def start_bot(self, chat_id: int, payload: str = "") -> None:
        self.call("POST", f"/control/users/{chat_id}/start", payload=payload)

    def text(self, chat_id: int, text: str) -> None:
        self.call("POST", f"/control/users/{chat_id}/text", text=text)

    def contact(self, chat_id: int, phone: str) -> None:
        self.call("POST", f"/control/users/{chat_id}/contact", phone=phone)

    def press(self, chat_id: int, message_id: int, button: str) -> str:
        return str(
            self.call(
                "POST", f"/control/users/{chat_id}/press", message_id=message_id, button=button
            )["callback_query_id"]
        )

    def answer(self, query_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/control/callbacks/{query_id}"))
