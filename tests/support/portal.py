"""The real portal as a child process (uvicorn) with an API key per registry, for
integration tests that post over HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx

from contracts.topics import REGISTRIES
from core.clock import SystemClock
from core.settings import Settings
from devtools.processes import ServiceProcess
from portal.services.api_keys import ApiKeyService
from storage.api_keys import ApiKeyRepository
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from tests.support.waiting import wait_until

START_TIMEOUT_S = 60


@dataclasses.dataclass
class Portal:
    settings: Settings
    base_url: str
    process: ServiceProcess
    tokens: dict[str, str]  # registry -> API key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(portal: ServiceProcess, base_url: str) -> bool:
    assert portal.alive(), f"the portal exited:\n{portal.log_tail()}"
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def running_portal(settings: Settings, log_path: Path, key_label: str) -> Iterator[Portal]:
    """Start the portal on a free port with a fresh key per registry; stop it cleanly."""
    settings = dataclasses.replace(settings, portal_port=free_port())
    upgrade(settings.database)
    keys = ApiKeyService(
        ApiKeyRepository(make_session_factory(make_engine(settings.database))), SystemClock()
    )
    tokens = {r: keys.create(r, label=key_label).token for r in REGISTRIES}
    base_url = f"http://{settings.portal_host}:{settings.portal_port}"
    process = ServiceProcess.portal(settings, log_path).start()
    try:
        wait_until(
            lambda: _healthy(process, base_url),
            timeout_s=START_TIMEOUT_S,
            what="the portal answering /healthz",
            describe=process.log_tail,
        )
        yield Portal(settings, base_url, process, tokens)
    finally:
        assert process.stop() == 0, process.log_tail()
