"""Connection options every Kafka client of ours takes: aiokafka producers, consumers and
admin clients, in every process (worker, portal, notifier, bot, webhook, mock, bench).

One place, so that turning on SASL/TLS (issue 14) changes every client at once. Call it
as ``AIOKafkaConsumer(..., bootstrap_servers=settings.bootstrap_servers,
**client_options(settings))``.
"""

from __future__ import annotations

from typing import Any

from proactax.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Security options (``security_protocol``, SASL and TLS) for an aiokafka client.

    Empty while the broker listens in plain text; the secured broker fills this in."""
    del settings
    return {}
