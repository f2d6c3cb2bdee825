"""POST /api/v1/registries/{registry}/events on the real app with a fake Kafka producer:
auth, status codes, batch limits, all-or-nothing, idempotency, acknowledgements."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts.registry_events import (
    MAX_EVENT_BYTES,
    EventRejected,
    canonical_json,
    decode_event,
)
from core.clock import FixedClock
from core.settings import Settings
from portal.services.api_keys import ApiKeyService
from portal.services.ingest import MAX_BATCH_EVENTS, MAX_BODY_BYTES
from portal.validation import EventValidator, validation_policy
from storage.api_keys import AcceptedEventRepository
from tests.support.waiting import await_until
from tests.unit.portal.conftest import (
    NAMESPACE,
    OTHER_PINFL,
    PINFL,
    FakeProducer,
    bearer,
    payroll_event,
)

URL = "/api/v1/registries/payroll/events"
TOPIC = f"{NAMESPACE}.registry.payroll.v1"


async def post(client: httpx.AsyncClient, token: str, body: Any, url: str = URL) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(url, content=content, headers=bearer(token))


# --- authentication and authorisation ---------------------------------------------------


async def test_no_key_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=payroll_event())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer ptx_0123456789abcdef_nope"},
        {"Authorization": "Basic cGF5cm9sbDpzZWNyZXQ="},
        {"X-API-Key": "ptx_0123456789abcdef_nope"},
    ],
)
async def test_an_unknown_key_is_401(
    client: httpx.AsyncClient, producer: FakeProducer, headers: dict[str, str]
) -> None:
    response = await client.post(URL, json=payroll_event(), headers=headers)
    assert response.status_code == 401
    assert producer.sent == []


async def test_the_key_may_come_in_x_api_key(client: httpx.AsyncClient, payroll_key: str) -> None:
    response = await client.post(URL, json=payroll_event(), headers={"X-API-Key": payroll_key})
    assert response.status_code == 202, response.text


async def test_a_key_of_another_registry_is_403(
    client: httpx.AsyncClient, keys: ApiKeyService, producer: FakeProducer
) -> None:
    rental = keys.create("rental").token
    response = await post(client, rental, payroll_event())
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert producer.sent == []


async def test_an_unknown_registry_is_404(client: httpx.AsyncClient, payroll_key: str) -> None:
    response = await post(client, payroll_key, payroll_event(), "/api/v1/registries/casino/events")
    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown_registry",
        "message": "No registry is called 'casino'.",
        "events": [],
    }


async def test_an_unknown_registry_without_a_key_is_401_first(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/registries/casino/events", json={})
    assert response.status_code == 401


async def test_rotation_over_http(
    client: httpx.AsyncClient, keys: ApiKeyService, producer: FakeProducer
) -> None:
    old = keys.create("payroll", label="old")
    new = keys.create("payroll", label="new")
    assert (await post(client, old.token, payroll_event("a"))).status_code == 202
    assert (await post(client, new.token, payroll_event("b"))).status_code == 202
    keys.revoke(old.info.key_id)
    assert (await post(client, old.token, payroll_event("c"))).status_code == 401
    assert (await post(client, new.token, payroll_event("c"))).status_code == 202
    assert [json.loads(v)["event_id"] for _, _, v in producer.sent] == ["a", "b", "c"]


async def test_an_expired_key_is_401(
    client: httpx.AsyncClient, keys: ApiKeyService, clock: FixedClock
) -> None:
    token = keys.create("payroll", expires_in=timedelta(days=1)).token
    assert (await post(client, token, payroll_event("a"))).status_code == 202
    clock.advance(timedelta(days=1))
    assert (await post(client, token, payroll_event("b"))).status_code == 401


# --- accepted events --------------------------------------------------------------------


async def test_one_event_is_published_with_the_pinfl_as_key(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    body = json.dumps(payroll_event("pay-1"), indent=2).encode()
    response = await post(client, payroll_key, body)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": ["pay-1"], "duplicates": []}
    assert producer.sent == [(TOPIC, PINFL.encode(), body)]  # one event: its bytes as sent


async def test_a_batch_is_published_in_order_canonically(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer, settings: Settings
) -> None:
    events = [
        payroll_event("a"),
        payroll_event("b", pinfl=OTHER_PINFL),
        payroll_event("c", action="void"),
    ]
    events[2].pop("data")
    response = await post(client, payroll_key, events)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": ["a", "b", "c"], "duplicates": []}
    assert producer.sent == [(TOPIC, e["pinfl"].encode(), canonical_json(e)) for e in events]
    for _, _, value in producer.sent:  # the stream takes what the API took
        decode_event(value, "payroll", validation_policy(settings))


async def test_the_answer_waits_for_the_brokers_acknowledgement(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    producer.hold = True
    request = asyncio.create_task(post(client, payroll_key, [payroll_event("a")]))
    await await_until(lambda: _true(producer.sent), timeout_s=10, what="the event sent")
    for _ in range(20):  # let the app run as far as it can without the ack
        await asyncio.sleep(0)
    assert not request.done()
    producer.release()
    response = await asyncio.wait_for(request, timeout=10)
    assert response.status_code == 202


def stream_verdict(event: Any, settings: Settings) -> tuple[str, str | None] | None:
    """What the stream agent's validation says about an event, as the API would send it."""
    try:
        EventValidator(settings)(canonical_json(event), "payroll")
    except EventRejected as rejected:
        return rejected.reason_code, rejected.field
    return None


async def _true(value: object) -> bool:
    return bool(value)


async def test_a_failed_publication_is_503_and_a_retry_succeeds(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    producer.fail_next = 1
    events = [payroll_event("a"), payroll_event("b")]
    response = await post(client, payroll_key, events)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "5"
    retry = await post(client, payroll_key, events)
    assert retry.status_code == 202
    assert retry.json() == {"accepted": ["a", "b"], "duplicates": []}


async def test_a_claim_left_by_a_crash_is_sent_again(
    client: httpx.AsyncClient,
    payroll_key: str,
    producer: FakeProducer,
    accepted_events: AcceptedEventRepository,
    clock: FixedClock,
    settings: Settings,
) -> None:
    event = payroll_event("a")
    policy = validation_policy(settings)
    digest = decode_event(canonical_json(event), "payroll", policy).content_digest
    assert accepted_events.claim("payroll", [("a", digest)], "0123456789abcdef", clock.now())
    response = await post(client, payroll_key, [event])
    assert response.json() == {"accepted": ["a"], "duplicates": []}
    assert len(producer.sent) == 1
    again = await post(client, payroll_key, [event])
    assert again.json() == {"accepted": [], "duplicates": ["a"]}


# --- idempotency ------------------------------------------------------------------------


async def test_a_repeat_is_a_duplicate_and_not_published_again(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    assert (await post(client, payroll_key, [payroll_event("a")])).status_code == 202
    response = await post(client, payroll_key, [payroll_event("b"), payroll_event("a")])
    assert response.status_code == 202
    assert response.json() == {"accepted": ["b"], "duplicates": ["a"]}
    assert [json.loads(v)["event_id"] for _, _, v in producer.sent] == ["a", "b"]


async def test_key_order_and_spacing_do_not_make_a_conflict(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    event = payroll_event("a")
    assert (await post(client, payroll_key, json.dumps(event).encode())).status_code == 202
    reordered = json.dumps(dict(reversed(list(event.items()))), indent=4).encode()
    response = await post(client, payroll_key, reordered)
    assert response.json() == {"accepted": [], "duplicates": ["a"]}


async def test_an_event_id_reused_with_other_content_is_409(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    assert (await post(client, payroll_key, [payroll_event("a")])).status_code == 202
    changed = payroll_event("a", data={"gross_income_tiyin": 1})
    response = await post(client, payroll_key, [payroll_event("b"), changed])
    assert response.status_code == 409
    assert response.json()["events"] == [
        {
            "index": 1,
            "event_id": "a",
            "reason_code": "conflict",
            "field": "event_id",
            "reason": "This event_id was already used with different content.",
        }
    ]
    assert len(producer.sent) == 1  # "b" was not published either


async def test_a_revision_reused_with_other_content_is_409_naming_record_and_revision(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    """A new event_id at a record's revision already accepted with other content is the
    stream's revision conflict: refused now, not a 202 and a dead letter later."""
    first = payroll_event("a", record_id="REC-7")
    assert (await post(client, payroll_key, [first])).status_code == 202
    reuse = payroll_event("a2", record_id="REC-7", data={"gross_income_tiyin": 900_000_000})
    response = await post(client, payroll_key, [payroll_event("b"), reuse])
    assert response.status_code == 409
    assert response.json()["events"] == [
        {
            "index": 1,
            "event_id": "a2",
            "reason_code": "conflict",
            "field": "revision",
            "reason": "Revision 1 of record 'REC-7' was already accepted with other content "
            "(event_id 'a'); publish the change as a higher revision.",
        }
    ]
    assert len(producer.sent) == 1  # "b" was not published either
    higher = payroll_event("a3", record_id="REC-7", revision=2, data={"month": 4})
    assert (await post(client, payroll_key, [higher])).status_code == 202


async def test_a_revision_reused_with_the_same_content_or_by_another_taxpayer_is_accepted(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    """As in the stream's ledger: same action and data at a revision is a duplicate there
    (only event_id and occurred_at differ), and a record of another taxpayer is another."""
    assert (await post(client, payroll_key, [payroll_event("a", record_id="R")])).status_code == 202
    same = payroll_event("a-again", record_id="R", occurred_at="2026-05-01T10:00:00+05:00")
    assert (await post(client, payroll_key, [same])).status_code == 202
    other_year = payroll_event("a-2025", record_id="R", tax_year=2025, data={"month": 9})
    assert (await post(client, payroll_key, [other_year])).status_code == 202


async def test_a_revision_reused_within_one_request_is_409(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    void = {k: v for k, v in payroll_event("x2", record_id="R", action="void").items()}
    del void["data"]
    clash = [payroll_event("x1", record_id="R"), void]
    response = await post(client, payroll_key, clash)
    assert response.status_code == 409
    assert [(e["index"], e["field"]) for e in response.json()["events"]] == [(1, "revision")]
    assert producer.sent == []


async def test_a_repeat_within_one_request(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    response = await post(client, payroll_key, [payroll_event("a"), payroll_event("a")])
    assert response.json() == {"accepted": ["a"], "duplicates": ["a"]}
    assert len(producer.sent) == 1
    clash = [payroll_event("b"), payroll_event("b", revision=2)]
    response = await post(client, payroll_key, clash)
    assert response.status_code == 409
    assert [e["index"] for e in response.json()["events"]] == [1]


async def test_the_same_event_id_in_two_registries_is_no_conflict(
    client: httpx.AsyncClient, payroll_key: str, keys: ApiKeyService
) -> None:
    assert (await post(client, payroll_key, payroll_event("x"))).status_code == 202
    rental = keys.create("rental").token
    event = {
        "event_id": "x",
        "registry": "rental",
        "schema_version": 1,
        "record_id": "lease-1",
        "revision": 1,
        "action": "void",
        "occurred_at": "2026-04-05T10:02:11+05:00",
        "pinfl": PINFL,
        "tax_year": 2026,
    }
    response = await post(client, rental, event, "/api/v1/registries/rental/events")
    assert response.status_code == 202, response.text


# --- invalid events ---------------------------------------------------------------------


async def test_every_invalid_event_is_listed_and_nothing_is_published(
    client: httpx.AsyncClient,
    payroll_key: str,
    producer: FakeProducer,
    accepted_events: AcceptedEventRepository,
    settings: Settings,
) -> None:
    events: list[Any] = [
        payroll_event("ok-1"),
        payroll_event("bad-pinfl", pinfl="12345"),
        payroll_event("old", tax_year=1990),
        payroll_event("wrong-registry", registry="rental"),
        "a string",
        payroll_event("bad-month", data={"month": 13}),
        payroll_event("ok-2"),
    ]
    response = await post(client, payroll_key, events)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_events"
    got = [(e["index"], e["event_id"], e["reason_code"], e["field"]) for e in body["events"]]
    assert got[:4] == [
        (1, "bad-pinfl", "bad_pinfl", "pinfl"),
        (2, "old", "out_of_range", "tax_year"),
        (3, "wrong-registry", "schema", "registry"),
        (4, None, "schema", None),
    ]
    assert got[4][:2] == (5, "bad-month")
    assert got == [  # exactly what the stream's validation says about each
        (i, e.get("event_id") if isinstance(e, dict) else None, *verdict)
        for i, e in enumerate(events)
        if (verdict := stream_verdict(e, settings)) is not None
    ]
    assert all(e["reason"] for e in body["events"])
    assert producer.sent == []
    assert accepted_events.lookup("payroll", ["ok-1", "ok-2"]) == {}  # nothing claimed


async def test_invalid_and_conflicting_events_together_are_422(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    await post(client, payroll_key, payroll_event("a"))
    events = [payroll_event("a", revision=5), payroll_event("b", pinfl="x")]
    response = await post(client, payroll_key, events)
    assert response.status_code == 422
    assert [e["reason_code"] for e in response.json()["events"]] == ["conflict", "bad_pinfl"]


async def test_what_the_streams_strict_parser_refuses_survives_the_batch(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    good = json.dumps(payroll_event("a"))
    repeated_key = good[:-1] + ', "revision": 2}'
    nan = json.dumps(payroll_event("b", revision=float("nan")))
    body = f"[{good}, {repeated_key}, {nan}]".encode()
    response = await post(client, payroll_key, body)
    assert response.status_code == 422
    errors = response.json()["events"]
    assert [(e["index"], e["reason_code"]) for e in errors] == [(1, "schema"), (2, "not_json")]
    assert producer.sent == []


async def test_a_body_that_is_not_json_is_the_streams_not_json(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    response = await post(client, payroll_key, b"{not json")
    assert response.status_code == 422
    [error] = response.json()["events"]
    assert (error["index"], error["event_id"], error["reason_code"]) == (0, None, "not_json")


async def test_a_lone_surrogate_is_not_json_not_a_crash(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    body = json.dumps(payroll_event("a", record_id="\ud800")).encode()
    response = await post(client, payroll_key, body)
    assert response.status_code == 422
    response = await post(client, payroll_key, b"[" + body + b"]")
    assert response.status_code == 422


async def test_the_size_limit_applies_per_event(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    big = payroll_event("big", record_id="r")
    big["data"]["employer_tin"] = "1" * MAX_EVENT_BYTES
    response = await post(client, payroll_key, [payroll_event("a"), big])
    assert response.status_code == 422
    assert [(e["index"], e["reason_code"]) for e in response.json()["events"]] == [(1, "too_large")]


# --- batch and body limits --------------------------------------------------------------


async def test_a_full_batch_is_accepted_and_one_more_is_413(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    events = [payroll_event(f"e{i}") for i in range(MAX_BATCH_EVENTS + 1)]
    response = await post(client, payroll_key, events)
    assert response.status_code == 413
    assert response.json()["error"] == "batch_too_large"
    assert producer.sent == []
    response = await post(client, payroll_key, events[:MAX_BATCH_EVENTS])
    assert response.status_code == 202
    assert len(response.json()["accepted"]) == MAX_BATCH_EVENTS == len(producer.sent)


async def test_an_empty_batch_is_422(client: httpx.AsyncClient, payroll_key: str) -> None:
    response = await post(client, payroll_key, [])
    assert response.status_code == 422
    assert response.json()["error"] == "empty_batch"


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient, payroll_key: str) -> None:
    body = b"[" + b" " * MAX_BODY_BYTES + b"]"
    response = await post(client, payroll_key, body)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


async def test_a_chunked_body_over_the_limit_is_413(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    chunk = b" " * (1024 * 1024)

    async def chunks() -> Any:
        yield b"["
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
            yield chunk
        yield b"]"

    response = await client.post(URL, content=chunks(), headers=bearer(payroll_key))
    assert response.status_code == 413


# --- the rest of the app ----------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_the_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    document = (await client.get("/openapi.json")).json()
    assert "/api/v1/registries/{registry}/events" in document["paths"]


async def test_the_limits_follow_the_settings_policy(
    tmp_path: Any, producer: FakeProducer, clock: FixedClock
) -> None:
    """PROACTAX_MAX_EVENT_BYTES sets the stream's and the API's per-event and body limits."""
    from portal.app import create_app
    from storage.migrate import upgrade

    settings = Settings.from_env(
        {
            "PROACTAX_DEVELOPMENT": "1",
            "PROACTAX_RUN_DIR": str(tmp_path / "run"),
            "PROACTAX_DATABASE_URL": f"sqlite:///{tmp_path / 'small.db'}",
            "PROACTAX_MAX_EVENT_BYTES": "2000",
        }
    )
    upgrade(settings.database)
    app = create_app(settings, producer=producer, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        token = app.state.services.api_keys.create("payroll").token
        padded = payroll_event("big", record_id="r" * 64, occurred_at="2026-04-05T10:02:11+05:00")
        padded["data"]["employer_tin"] = "3" * 2000
        response = await post(client, token, [payroll_event("a"), padded])
        assert [(e["index"], e["reason_code"]) for e in response.json()["events"]] == [
            (1, "too_large")
        ]
        body = b"[" + b" " * (MAX_BATCH_EVENTS * 2000 + 1024 * 1024) + b"]"
        assert (await post(client, token, body)).status_code == 413


async def test_a_claim_in_flight_blocks_other_content_for_its_event_id(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    """While one request waits for the broker, another with the same event_id and other
    content is a conflict, and one with the same content is published too (harmless)."""
    producer.hold = True
    first = asyncio.create_task(post(client, payroll_key, [payroll_event("a")]))
    await await_until(lambda: _true(producer.sent), timeout_s=10, what="the first send")
    clash = await post(client, payroll_key, [payroll_event("a", revision=2)])
    assert clash.status_code == 409
    same = asyncio.create_task(post(client, payroll_key, [payroll_event("a")]))
    await await_until(lambda: _true(len(producer.sent) == 2), timeout_s=10, what="second send")
    producer.release()
    assert (await asyncio.wait_for(first, 10)).json() == {"accepted": ["a"], "duplicates": []}
    assert (await asyncio.wait_for(same, 10)).status_code == 202
    assert (await post(client, payroll_key, [payroll_event("a")])).json()["duplicates"] == ["a"]
