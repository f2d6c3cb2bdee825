"""Child processes of the service (the stream worker, later the portal and the bot),
started by ``make run`` and by the tests: real processes, each in its own session so a
``kill -9`` of one takes its children with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from core.settings import Settings

REPO = Path(__file__).resolve().parent.parent


# The Kafka principal of each child (ops/kafka_security.py: its ACLs).
PRINCIPAL_OF = {
    "worker": "worker",
    "portal": "portal",
    "notifier": "notifier",
    "bot-polling": "bot",
    "bot-kafka": "bot",
    "bot-webhook": "webhook",
}


class ServiceProcess:
    def __init__(self, name: str, args: list[str], settings: Settings, log_path: Path) -> None:
        self.name = name
        self.args = args
        self.settings = settings
        self.log_path = log_path
        # Each child logs in to Kafka as its own principal, unless the settings carry an
        # explicit user name (production-like runs).
        self.kafka_principal = PRINCIPAL_OF.get(name, "")
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def worker(cls, settings: Settings, log_path: Path) -> ServiceProcess:
        return cls("worker", ["worker", "--loglevel", "info"], settings, log_path)

    @classmethod
    def portal(cls, settings: Settings, log_path: Path) -> ServiceProcess:
        """The web portal (uvicorn) on ``settings.portal_host``:``settings.portal_port``."""
        return cls("portal", ["portal", "--loglevel", "info"], settings, log_path)

    @classmethod
    def notifier(cls, settings: Settings, log_path: Path) -> ServiceProcess:
        """The notifier: notices ► outbox ► Telegram / SMS stub; statuses ► notifications.v1."""
        return cls("notifier", ["notifier", "--loglevel", "info"], settings, log_path)

    @classmethod
    def bot(cls, settings: Settings, log_path: Path, mode: str = "polling") -> ServiceProcess:
        """The Telegram bot: ``polling`` (development) or ``kafka`` (a webhook-fed worker)."""
        return cls(f"bot-{mode}", ["bot", "--mode", mode, "--loglevel", "info"], settings, log_path)

    @classmethod
    def bot_webhook(cls, settings: Settings, log_path: Path) -> ServiceProcess:
        """The webhook receiver: Telegram's updates ► telegram.updates.v1."""
        return cls("bot-webhook", ["bot", "webhook", "--loglevel", "info"], settings, log_path)

    @classmethod
    def telegram_emulator(cls, settings: Settings, log_path: Path, *extra: str) -> ServiceProcess:
        """The Bot API emulator and its web page (``extra``: e.g. ``--global-rate 5``)."""
        return cls("telegram-emulator", ["telegram-emulator", *extra], settings, log_path)

    @classmethod
    def oneid_standin(cls, settings: Settings, log_path: Path) -> ServiceProcess:
        """The local OneID stand-in (development and tests only)."""
        return cls("oneid-standin", ["oneid-standin"], settings, log_path)

    @classmethod
    def oidc_standin(cls, settings: Settings, log_path: Path) -> ServiceProcess:
        """The local OpenID Connect stand-in (development and tests only)."""
        return cls("oidc-standin", ["oidc-standin"], settings, log_path)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.settings.as_env(), "PYTHONUNBUFFERED": "1"}
        if self.kafka_principal and not self.settings.kafka_username:
            env["PROACTAX_KAFKA_PRINCIPAL"] = self.kafka_principal
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proactax", *self.args],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """``kill -9``: no shutdown hooks, no final commit."""
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close_log()

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait; SIGKILL if it will not stop. Returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._close_log()
        return self.process.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
