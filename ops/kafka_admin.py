"""What an operator does on a running Kafka cluster, as its ``admin`` principal: create
topics with their declared partition counts, grant every principal its ACLs
(ops/kafka_security.py). The compose deployment's ``acls`` job runs ``proactax broker acls``;
the development launcher (devtools/broker) and the tests call the same functions.

All functions are synchronous and safe to call from inside a running event loop (the Kafka
admin calls then run on a private loop in a worker thread); ``acreate_topics`` and
``alist_topics`` are the async variants.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import socket
import time
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request

from contracts.topics import ALL_TOPICS, INTERNAL_TOPICS, TopicSpec, namespaced
from core.kafka import client_options
from core.settings import Settings
from ops import kafka_security

T = TypeVar("T")


class BrokerError(RuntimeError):
    """The broker cannot be started, reached or configured; the message says why."""


class TopicMismatchError(BrokerError):
    """A topic exists with a different partition count than the code declares."""


@dataclasses.dataclass(frozen=True, slots=True)
class TopicsReport:
    created: tuple[str, ...]
    existing: tuple[str, ...]
    partitions: dict[str, int]  # every ensured topic -> its partition count


def port_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Something accepts TCP connections on (host, port)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- async bridge


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _admin_options(settings: Settings) -> dict[str, Any]:
    """The launcher acts as the admin: the configured user (production: its own password),
    else "admin" from the launcher's credentials file."""
    if settings.kafka_username:
        return client_options(settings)
    return client_options(settings, kafka_security.ADMIN)


async def _admin(settings: Settings, request_timeout_ms: int = 10_000) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="proactax-broker-launcher",
        request_timeout_ms=request_timeout_ms,
        **_admin_options(settings),
    )
    try:
        await client.start()
    except BaseException:
        await client.close()
        raise
    return client


async def probe(settings: Settings) -> bool:
    """The broker answers a metadata request and lists itself as an (unfenced) broker."""
    from aiokafka.errors import KafkaError

    try:
        client = await _admin(settings, request_timeout_ms=3_000)
    except (TimeoutError, KafkaError, OSError):
        return False
    try:
        cluster = await client.describe_cluster()
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def broker_answers(settings: Settings) -> bool:
    if not port_answers(settings.broker_host, settings.broker_port):
        return False
    return run_sync(probe(settings))


# --------------------------------------------------------------------------- topics


async def alist_topics(settings: Settings, *, include_internal: bool = False) -> dict[str, int]:
    """Topic name -> partition count, from the broker's metadata."""
    client = await _admin(settings)
    try:
        return await _partition_counts(client, include_internal=include_internal)
    finally:
        await client.close()


async def _partition_counts(client: Any, *, include_internal: bool = False) -> dict[str, int]:
    counts: dict[str, int] = {}
    for topic in await client.describe_topics():
        if topic.get("error_code"):
            continue  # e.g. still being created: leader not yet available
        if topic.get("is_internal") and not include_internal:
            continue
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


def list_topics(settings: Settings, *, include_internal: bool = False) -> dict[str, int]:
    """Sync :func:`alist_topics`."""
    return run_sync(alist_topics(settings, include_internal=include_internal))


async def acreate_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    namespace: str | None = None,
    *,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> TopicsReport:
    """Create every topic of ``specs`` (namespaced) with its partition count, idempotently.

    ``namespace=None`` means ``settings.topic_namespace``. ``configs`` are topic configs for
    the topics this call creates (e.g. ``{"cleanup.policy": "compact"}`` for changelogs); they
    are not compared on existing topics. Topics that already exist with the declared partition
    count are fine; a different count raises :class:`TopicMismatchError`.
    Returns once every topic is visible in the broker's metadata with all its partitions.
    """
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    ns = settings.topic_namespace if namespace is None else namespace
    wanted = {namespaced(spec.name, ns): spec.partitions(settings.partitions) for spec in specs}
    deadline = time.monotonic() + timeout_s
    client = await _admin(settings)
    try:
        existing = await _partition_counts(client, include_internal=True)
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        if missing:
            response = await client.create_topics(
                [
                    NewTopic(name, wanted[name], 1, topic_configs=dict(configs or {}))
                    for name in missing
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            for topic, code, *rest in response.topic_errors:
                if code == 0:
                    created.append(topic)
                    continue
                error = for_code(code)
                if error is TopicAlreadyExistsError:  # created concurrently: check below
                    continue
                message = rest[0] if rest and rest[0] else error.__name__
                raise BrokerError(f"creating topic {topic} failed: {message}")
        # Wait until metadata shows every topic with all its partitions, then compare.
        while True:
            current = await _partition_counts(client, include_internal=True)
            if all(name in current for name in wanted):
                mismatched = {
                    name: (wanted[name], current[name])
                    for name in wanted
                    if current[name] != wanted[name]
                }
                if not mismatched:
                    break
                if not any(name in created for name in mismatched):
                    details = ", ".join(
                        f"{name} has {have} partitions, the code declares {want}"
                        for name, (want, have) in sorted(mismatched.items())
                    )
                    raise TopicMismatchError(
                        f"{details}. Delete the topic(s) (or the broker data dir) or fix "
                        "PROACTAX_PARTITIONS; partition counts never change silently."
                    )
            if time.monotonic() > deadline:
                absent = sorted(name for name in wanted if current.get(name) != wanted[name])
                raise BrokerError(f"topics not ready within {timeout_s:.0f} s: {absent}")
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    return TopicsReport(
        created=tuple(created),
        existing=tuple(name for name in wanted if name not in created),
        partitions=wanted,
    )


def create_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    namespace: str | None = None,
    *,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> TopicsReport:
    """Sync :func:`acreate_topics`; callable from sync code and from inside an event loop."""
    return run_sync(
        acreate_topics(settings, specs, namespace, configs=configs, timeout_s=timeout_s)
    )


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """CreateAcls (v1) with many bindings in one request (aiokafka's own takes one)."""

    API_KEY = 30

    def __init__(self, bindings: Iterable[kafka_security.AclBinding]) -> None:
        self.bindings = list(bindings)

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [
                (
                    int(b.resource_type),
                    b.resource_name,
                    int(b.pattern),
                    f"User:{b.principal}",
                    "*",
                    int(b.operation),
                    kafka_security.ALLOW,
                )
                for b in self.bindings
            ]
        )


async def agrant_acls(settings: Settings, timeout_s: float = 30.0) -> int:
    """Create the ACLs of :func:`kafka_security.acl_bindings` for ``settings.topic_namespace``
    and ``settings.app_id`` (idempotent: an existing binding is no error). Returns how many
    bindings were sent; 0 for a PLAINTEXT broker (no authorizer). Returns once the
    broker enforces them."""
    if not settings.kafka_secured:
        return 0
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import for_code

    bindings = kafka_security.acl_bindings(settings)
    client = AIOKafkaClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="proactax-broker-launcher",
        **_admin_options(settings),
    )
    try:
        await client.bootstrap()
        node = client.get_random_node()
        response = await client.send(node, _CreateAcls(bindings))
        failed = [
            f"{binding}: {message or for_code(code).__name__}"
            for binding, (code, message) in zip(bindings, response.creation_responses, strict=True)
            if code
        ]
        if failed:
            raise BrokerError("creating ACLs failed: " + "; ".join(failed[:5]))
        # The controller has them; the broker's authorizer applies the metadata a moment
        # later. They are applied in order, so once the last is visible, all are.
        last = bindings[-1]
        probe = DescribeAclsRequest(
            int(last.resource_type),
            last.resource_name,
            int(last.pattern),
            f"User:{last.principal}",
            "*",
            int(last.operation),
            kafka_security.ALLOW,
        )
        deadline = time.monotonic() + timeout_s
        while not (await client.send(node, probe)).resources:
            if time.monotonic() > deadline:
                raise BrokerError(f"ACLs not in effect within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
    finally:
        await client.close()
    return len(bindings)


def grant_acls(settings: Settings) -> int:
    """Sync :func:`agrant_acls`."""
    return run_sync(agrant_acls(settings))


CHANGELOG_CONFIGS = {"cleanup.policy": "compact"}


def create_worker_topics(settings: Settings) -> None:
    """Every topic the stream worker declares: contract topics (namespaced) and the tables'
    compacted changelogs, each with its explicit partition count."""
    from streams.topology import changelog_specs

    create_topics(settings)
    create_topics(settings, INTERNAL_TOPICS)
    create_topics(settings, changelog_specs(settings), namespace="", configs=CHANGELOG_CONFIGS)
    grant_acls(settings)
