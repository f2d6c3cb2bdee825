"""The broker trusts no one (issue 14, Medium 5): clients authenticate with SCRAM-SHA-512
over TLS, and each principal can do only what its ACLs allow (ops/kafka_security.py).

Each test has a positive control beside the refusal, so that a refusal for another reason
(a wrong topic name, a broker that refuses everything) does not pass for least privilege.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from contracts import topics
from contracts.topics import namespaced, registry_topic
from core.kafka import client_options
from core.settings import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

PINFL = b"31403850261230"


def topic(settings: Settings, name: str) -> str:
    return namespaced(name, settings.topic_namespace)


async def _produce(settings: Settings, options: dict, name: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        request_timeout_ms=10_000,
        **options,
    )
    await producer.start()
    try:
        await producer.send_and_wait(name, key=PINFL, value=b"{}")
    finally:
        await producer.stop()


async def _visible_topics(settings: Settings, options: dict) -> set[str]:
    """The topics the broker's metadata shows this principal (those it may describe)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, isolation_level="read_committed", **options
    )
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


async def _read_one_batch(
    settings: Settings, options: dict, name: str, partitions: int, wait_s: float = 10
) -> int:
    """Fetch ``name`` from the beginning: how many messages the first batch had (0 if none
    came within ``wait_s``; raises when the principal may not read the topic)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        request_timeout_ms=10_000,
        **options,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(name, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            if batch:
                return sum(len(messages) for messages in batch.values())
        return 0
    finally:
        await consumer.stop()


def test_a_client_without_credentials_is_refused(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    name = topic(settings, registry_topic("payroll"))
    # plain text against the TLS listener: no connection at all
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_produce(settings, {}, name))
    # TLS but no SASL login: refused as well
    context = client_options(settings)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    with pytest.raises(KafkaError):
        asyncio.run(_produce(settings, {"security_protocol": "SSL", "ssl_context": context}, name))
    # the positive control: the same producer with a registry's credentials
    asyncio.run(_produce(settings, client_options(settings, "registry-payroll"), name))


def test_a_wrong_password_is_refused(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    name = topic(settings, registry_topic("payroll"))
    good = client_options(settings, "registry-payroll")
    bad = {**good, "sasl_plain_password": good["sasl_plain_password"] + "x"}
    with pytest.raises(KafkaError):
        asyncio.run(_produce(settings, bad, name))
    unknown = {**good, "sasl_plain_username": "registry-nobody"}
    with pytest.raises(KafkaError):
        asyncio.run(_produce(settings, unknown, name))
    asyncio.run(_produce(settings, good, name))


def test_a_payroll_principal_writes_only_payroll_and_reads_only_its_feedback(
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings
    payroll = client_options(settings, "registry-payroll")
    asyncio.run(_produce(settings, payroll, topic(settings, registry_topic("payroll"))))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, payroll, topic(settings, registry_topic("population"))))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, payroll, topic(settings, topics.DECISIONS)))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, payroll, topic(settings, topics.RETURNS)))

    # returns.v1 (everyone's tax figures) is not the registry's to read; disputes.v1 is
    admin = client_options(settings, "admin")
    asyncio.run(_produce(settings, admin, topic(settings, topics.RETURNS)))
    returns = topic(settings, topics.RETURNS)
    assert asyncio.run(_read_one_batch(settings, admin, returns, settings.partitions)) >= 1
    assert returns not in asyncio.run(_visible_topics(settings, payroll))
    assert returns in asyncio.run(_visible_topics(settings, admin))
    try:  # aiokafka either raises or, metadata saying "not authorized", fetches nothing
        read = asyncio.run(_read_one_batch(settings, payroll, returns, settings.partitions, 3))
    except TopicAuthorizationFailedError:
        read = 0
    assert read == 0
    asyncio.run(_produce(settings, admin, topic(settings, topics.DISPUTES)))
    assert asyncio.run(_read_one_batch(settings, payroll, topic(settings, topics.DISPUTES), 1)) >= 1


def test_the_population_registry_cannot_close_a_period(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    closed = topic(settings, topics.PERIOD_CLOSED)
    asyncio.run(_produce(settings, client_options(settings, "registry-payroll"), closed))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, client_options(settings, "registry-population"), closed))


def test_services_cannot_forge_what_is_not_theirs(pipeline_settings: Settings) -> None:
    """The worker cannot publish registry events; the webhook receiver (internet-facing)
    cannot publish decisions; the portal cannot forge Telegram updates."""
    settings = pipeline_settings
    worker = client_options(settings, "worker")
    asyncio.run(_produce(settings, worker, topic(settings, topics.RETURNS)))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, worker, topic(settings, registry_topic("payroll"))))
    webhook = client_options(settings, "webhook")
    asyncio.run(_produce(settings, webhook, topic(settings, "telegram.updates.v1")))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, webhook, topic(settings, topics.DECISIONS)))
    portal = client_options(settings, "portal")
    asyncio.run(_produce(settings, portal, topic(settings, topics.DECISIONS)))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(settings, portal, topic(settings, "telegram.updates.v1")))


def test_acls_of_one_pipeline_do_not_open_another(pipeline_settings: Settings) -> None:
    """Grants are per topic namespace: a namespace nobody granted stays closed."""
    settings = pipeline_settings
    other = dataclasses.replace(settings, topic_namespace=settings.topic_namespace + "x")
    from devtools import broker

    broker.create_topics(other, namespace=other.topic_namespace)  # topics, no grants
    payroll = client_options(settings, "registry-payroll")
    asyncio.run(_produce(settings, payroll, topic(settings, registry_topic("payroll"))))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(other, payroll, topic(other, registry_topic("payroll"))))
