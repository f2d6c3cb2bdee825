"""PostgreSQL for tests: the server CI started (PROACTAX_TEST_POSTGRES_URL), else a private one.

The private cluster runs from the Debian binaries as the ``postgres`` user (initdb refuses
root) in a temporary directory on a free port, and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.waiting import wait_until


def _bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not versions:
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install postgresql` (bash .ci/run does it)"
        )
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class PrivateCluster:
    """A throwaway cluster in a temporary directory on a free port, that a test may stop
    and start again (a database outage) on the same port and data."""

    def __init__(self) -> None:
        self.bin_dir = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="proactax-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                str(self.bin_dir / "initdb"),
                *("-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        """A superuser URL to the cluster's ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                str(self.bin_dir / "pg_ctl"),
                *("-D", str(self.data), "-l", str(self.root / "log"), "-w"),
                *("-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start"),
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast", check: bool = True) -> None:
        """``fast`` ends every session at once (clients see their connections drop)."""
        subprocess.run(
            _as_postgres(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
            ),
            check=check,
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop(check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[str]:
    """Start a throwaway cluster; yield a superuser URL to its ``postgres`` database."""
    cluster = PrivateCluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.remove()


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create a uniquely named database on the server of ``admin_url``; drop it afterwards."""
    name = f"proactax_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    url = os.environ.get("PROACTAX_TEST_POSTGRES_URL")
    if url:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        wait_until(lambda: _answers(engine), timeout_s=30, what="PostgreSQL answers")
        engine.dispose()
        yield url
    else:
        with private_cluster() as private_url:
            yield private_url


def _answers(engine: object) -> bool:
    try:
        with engine.connect() as connection:  # type: ignore[attr-defined]
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
