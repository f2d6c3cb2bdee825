"""``proactax sandbox taxpayer|dispute``: the integrator sandbox from the command line (the
same service as ``POST /api/v1/sandbox/...``; docs/integrators.md, "Sandbox").

``taxpayer`` publishes a test taxpayer (PINFL 999…) and prints its PINFL; ``dispute`` makes a
test taxpayer disagree with the lines of its return that come from a registry's records,
so that the lifecycle opens a dispute to that registry. Logs in to Kafka as ``portal``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from contracts.topics import REGISTRIES


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("sandbox", help="test taxpayers and disputes for integrators")
    sub = parser.add_subparsers(dest="sandbox_command", required=True)
    taxpayer = sub.add_parser("taxpayer", help="publish a test taxpayer and print its PINFL")
    taxpayer.set_defaults(handler=make_taxpayer)
    dispute = sub.add_parser("dispute", help="a test taxpayer disputes a registry's lines")
    dispute.add_argument("--registry", required=True, choices=REGISTRIES)
    dispute.add_argument("--pinfl", required=True, help="a test taxpayer's PINFL (999...)")
    dispute.add_argument("--year", type=int, required=True)
    dispute.add_argument("--record-id", help="only the lines from this record")
    dispute.set_defaults(handler=make_dispute)


async def _with_service(call: Any) -> Any:
    from core.clock import clock_for
    from core.settings import get_settings
    from lifecycle.services import LifecycleService
    from portal.kafka import KafkaPublisher, make_producer
    from portal.services.sandbox import SandboxService
    from portal.web.services import ProducerDecisionPublisher
    from storage.database import make_engine, make_session_factory
    from storage.lifecycle.repository import LifecycleRepository
    from storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database)
    producer = make_producer(settings)
    await producer.start()
    try:
        store = LifecycleRepository(make_session_factory(make_engine(settings.database)))
        lifecycle = LifecycleService.from_settings(
            settings, store, ProducerDecisionPublisher(settings, producer)
        )
        service = SandboxService(
            KafkaPublisher(producer), lifecycle, clock_for(settings), settings.topic_namespace
        )
        return await call(service)
    finally:
        await producer.stop()


def make_taxpayer(args: argparse.Namespace) -> int:
    made = asyncio.run(_with_service(lambda s: s.taxpayer()))
    print(f"pinfl:    {made.pinfl}")
    print(f"event_id: {made.event_id} (registry.population.v1)")
    print("A test taxpayer: its tax years count as closed from its first event.")
    return 0


def make_dispute(args: argparse.Namespace) -> int:
    from portal.services.sandbox import SandboxRefused

    try:
        made = asyncio.run(
            _with_service(lambda s: s.dispute(args.registry, args.pinfl, args.year, args.record_id))
        )
    except SandboxRefused as refused:
        print(f"error: {refused.message}")
        return 2
    print(f"decision_id: {made.decision_id}")
    print(f"return_id:   {made.return_id} (version {made.version})")
    print(f"disputed:    {', '.join(made.lines)}")
    print(f"The dispute reaches {args.registry} on disputes.v1 within seconds.")
    return 0
