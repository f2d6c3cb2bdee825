"""portal.ingest_client.post_events against the real app in process (fake producer)."""

from __future__ import annotations

import json

import httpx
import pytest

from portal.ingest_client import IngestClientError, post_events
from tests.unit.portal.conftest import FakeProducer, payroll_event


async def test_events_go_in_batches(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    events = [payroll_event(f"e{i}") for i in range(7)]
    result = await post_events(
        "http://portal.test", "payroll", payroll_key, events, 3, client=client
    )
    assert result.accepted == [f"e{i}" for i in range(7)]
    assert result.duplicates == [] and result.rejected == []
    assert len(producer.sent) == 7
    again = await post_events("http://portal.test", "payroll", payroll_key, events, client=client)
    assert again.accepted == [] and again.duplicates == [e["event_id"] for e in events]


async def test_rejected_events_are_set_aside_and_the_rest_sent(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    events = [
        payroll_event("a"),
        payroll_event("bad", pinfl="1"),
        b"{not json",
        payroll_event("c"),
        payroll_event("a", revision=3),  # conflicts with the first "a"
    ]
    result = await post_events(
        "http://portal.test", "payroll", payroll_key, events, batch_size=10, client=client
    )
    assert sorted(result.accepted) == ["a", "c"]
    assert [(r.index, r.reason_code) for r in result.rejected] == [
        (2, "not_json"),
        (1, "bad_pinfl"),
        (4, "conflict"),
    ]
    assert sorted(json.loads(v)["event_id"] for _, _, v in producer.sent) == ["a", "c"]


async def test_a_request_refused_as_a_whole_raises(client: httpx.AsyncClient) -> None:
    with pytest.raises(IngestClientError) as caught:
        await post_events("http://portal.test", "payroll", "nope", [payroll_event()], client=client)
    assert caught.value.status == 401


async def test_a_503_is_retried(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    producer.fail_next = 1
    result = await post_events(
        "http://portal.test", "payroll", payroll_key, [payroll_event("a")], client=client
    )
    assert result.accepted == ["a"]


def test_the_batch_size_is_bounded() -> None:
    import asyncio

    with pytest.raises(ValueError, match="batch_size"):
        asyncio.run(post_events("http://x", "payroll", "k", [], batch_size=1001))


async def test_an_event_with_several_problems_is_one_rejection(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    events = [
        payroll_event("ok"),
        payroll_event("two", tax_year=2020, data={"month": 13}),
    ]
    result = await post_events(
        "http://portal.test", "payroll", payroll_key, events, batch_size=10, client=client
    )
    assert result.accepted == ["ok"]
    [rejection] = result.rejected
    assert (rejection.index, rejection.event_id) == (1, "two")
    assert (rejection.reason_code, rejection.field) == ("out_of_range", "data.month")
    assert [(code, field) for code, field, _ in rejection.more] == [("out_of_range", "tax_year")]
