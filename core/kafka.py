"""Connection options every Kafka client of ours takes: aiokafka producers, consumers and
admin clients, in every process (worker, portal, notifier, bot, webhook, mock, bench), and
the faust app (:func:`faust_credentials`).

One place, so that every client authenticates the same way (issue 14). Call it as
``AIOKafkaConsumer(..., bootstrap_servers=settings.bootstrap_servers,
**client_options(settings))``.

With ``PROACTAX_KAFKA_SECURITY_PROTOCOL=SASL_SSL`` (the default) a client logs in with
SCRAM-SHA-512 over TLS, trusting the CA in ``settings.kafka_ca_path``. Its user name and
password are ``PROACTAX_KAFKA_USERNAME`` / ``_PASSWORD`` (production), or the password of
``PROACTAX_KAFKA_PRINCIPAL`` in the launcher's credentials file (development, tests).
"""

from __future__ import annotations

import functools
import json
import ssl
from pathlib import Path
from typing import Any

from core.settings import Settings

MECHANISM = "SCRAM-SHA-512"


def group_timing() -> dict[str, int]:
    """Session and heartbeat of every consumer group member of ours.

    A killed worker's partitions move to the survivors after the session timeout (Kafka's
    default is 45 s). A live member learns that its group is rebalancing (a worker joined
    or left) at its next heartbeat, and the rebalance waits for every member to rejoin:
    with heartbeats every 3 s a second worker started beside a first sat idle ≈ 3 s
    (docs/benchmarks.md); every second keeps that wait short and costs one small request."""
    return {"session_timeout_ms": 15_000, "heartbeat_interval_ms": 1_000}


class KafkaSecurityError(RuntimeError):
    """Credentials or TLS files are missing or do not name the principal asked for."""


def read_credentials(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KafkaSecurityError(
            f"no Kafka credentials file at {path}: start the broker (`proactax broker start`) "
            "or set PROACTAX_KAFKA_USERNAME / PROACTAX_KAFKA_PASSWORD"
        ) from None
    except ValueError as exc:
        raise KafkaSecurityError(f"{path} is not a JSON object of passwords") from exc
    if not isinstance(data, dict):
        raise KafkaSecurityError(f"{path} is not a JSON object of passwords")
    return {str(k): str(v) for k, v in data.items()}


@functools.lru_cache(maxsize=8)
def _ssl_context(cafile: Path, mtime_ns: int) -> ssl.SSLContext:
    from aiokafka.helpers import create_ssl_context

    del mtime_ns  # part of the cache key: a regenerated CA gives a new context
    return create_ssl_context(cafile=str(cafile))


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context trusting ``settings.kafka_ca_path`` (hostname checked)."""
    path = settings.kafka_ca_path
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise KafkaSecurityError(
            f"no Kafka CA file at {path}: start the broker (`proactax broker start`) or set "
            "PROACTAX_KAFKA_CA_FILE"
        ) from None
    return _ssl_context(path, mtime)


def credentials(settings: Settings, principal: str | None = None) -> tuple[str, str]:
    """(user name, password) this client logs in with."""
    if principal is None and settings.kafka_username:
        return settings.kafka_username, settings.kafka_password
    name = principal or settings.kafka_principal
    if not name:
        raise KafkaSecurityError(
            "no Kafka principal for this process: set PROACTAX_KAFKA_PRINCIPAL (a name in "
            f"{settings.kafka_credentials_path}) or PROACTAX_KAFKA_USERNAME and _PASSWORD"
        )
    passwords = read_credentials(settings.kafka_credentials_path)
    if name not in passwords:
        raise KafkaSecurityError(
            f"Kafka principal {name!r} is not in {settings.kafka_credentials_path}"
        )
    return name, passwords[name]


def client_options(settings: Settings, principal: str | None = None) -> dict[str, Any]:
    """Security options (``security_protocol``, SASL and TLS) for an aiokafka client.

    ``principal`` overrides the process's own (tests acting as a registry, the launcher
    acting as ``admin``). Empty with ``PROACTAX_KAFKA_SECURITY_PROTOCOL=PLAINTEXT``."""
    if not settings.kafka_secured:
        return {}
    username, password = credentials(settings, principal)
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
        "ssl_context": ssl_context(settings),
    }


def faust_credentials(settings: Settings) -> Any:
    """faust's ``broker_credentials`` for the same login (None in plain text)."""
    if not settings.kafka_secured:
        return None
    import faust

    username, password = credentials(settings)
    return faust.SASLCredentials(
        username=username,
        password=password,
        ssl_context=ssl_context(settings),
        mechanism=MECHANISM,
    )
