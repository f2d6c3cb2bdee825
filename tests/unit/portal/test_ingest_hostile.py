"""Hostile bodies on the HTTP ingest path (issue 14 item 8): the same bounded strict parser as
the Kafka path, so each answer is a 4xx naming the problem, never a 500 or a RecursionError;
and every problem of every event in one 422 (issue 17 item 3)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import httpx
import pytest

from contracts.registry_events import EventRejected, decode_event
from contracts.strict_json import MAX_DEPTH
from contracts.topics import REGISTRIES
from core.settings import Settings
from portal.services.api_keys import ApiKeyService
from portal.services.ingest import MAX_BODY_BYTES
from portal.validation import validation_policy
from tests.reliability.hostile import hostile_run
from tests.unit.portal.conftest import FakeProducer, bearer, payroll_event


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Hundreds of requests with one key in a moment: the per-key rate limit (tested in
    test_ingest_limits.py) is lifted here, the body parser is what these tests are about."""
    return dataclasses.replace(settings, ingest_key_rate_per_s=1e6, ingest_key_burst=10**6)


URL = "/api/v1/registries/payroll/events"
HTTP_HOSTILE = 600


async def post(client: httpx.AsyncClient, token: str, body: bytes) -> httpx.Response:
    return await client.post(URL, content=body, headers=bearer(token))


def _good() -> str:
    return json.dumps(payroll_event("ok"))


HOSTILE: list[tuple[str, bytes, str, str]] = [
    # (name, body, reason_code or request error, words the answer must carry)
    ("deep arrays", b"[" * 5000, "schema", f"deeper than {MAX_DEPTH} levels"),
    ("deep arrays closed", b"[" * 3000 + b"]" * 3000, "schema", "deeper than"),
    ("deep objects", b'{"a":' * 3000 + b"1" + b"}" * 3000, "schema", "deeper than"),
    ("deep inside a batch", f"[{_good()}, {'[' * 4000}{']' * 4000}]".encode(), "schema", "deeper"),
    ("huge integer", b'{"revision": ' + b"9" * 5000 + b"}", "", ""),
    ("huge integer in a batch", f'[{_good()}, {{"revision": {"9" * 5000}}}]'.encode(), "", ""),
    ("invalid UTF-8", b'{"event_id": "\xff\xfe"}', "not_json", "UTF-8"),
    (
        "invalid UTF-8 in a batch",
        b"[" + _good().encode() + b', {"a": "\xc3"}]',
        "not_json",
        "UTF-8",
    ),
    ("duplicate keys", _good()[:-1].encode() + b', "revision": 2}', "schema", "occurs twice"),
    ("NaN", _good().replace('"revision": 1', '"revision": NaN').encode(), "not_json", "NaN"),
    ("Infinity", b'[{"revision": -Infinity}]', "not_json", "Infinity"),
    ("lone surrogate", _good().replace('"ok"', '"\\udfff"').encode(), "not_json", "surrogate"),
    ("not JSON", b"{not json", "not_json", "not valid JSON"),
    ("truncated batch", b"[" + _good().encode(), "not_json", "not valid JSON"),
    ("empty body", b"", "not_json", "not valid JSON"),
    ("a number", b"12", "schema", "JSON object"),
    ("many values", b'{"a": [' + b"0," * 1100 + b"0]}", "schema", "more than 1024 values"),
]


@pytest.mark.parametrize(("name", "body", "code", "words"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_a_hostile_body_is_a_4xx_naming_the_problem(
    client: httpx.AsyncClient,
    payroll_key: str,
    producer: FakeProducer,
    name: str,
    body: bytes,
    code: str,
    words: str,
) -> None:
    response = await post(client, payroll_key, body)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
    answer = response.json()
    assert answer["message"]
    if code:
        found = [(e["reason_code"], e["reason"]) for e in answer["events"]]
        assert any(c == code and words in reason for c, reason in found), (name, answer)
    else:  # huge numbers: out of range for the field they are in, or unknown fields
        assert answer["events"], answer
        assert all(e["reason"] for e in answer["events"])
    assert producer.sent == []


async def test_a_422_lists_every_problem_of_every_event(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    four = payroll_event(
        "four", pinfl="31501901230015", tax_year=2020, data={"month": 13, "surprise": 1}
    )
    events: list[Any] = [payroll_event("ok"), four, payroll_event("two", tax_year=2020, revision=0)]
    response = await post(client, payroll_key, json.dumps(events).encode())
    assert response.status_code == 422
    got = [
        (e["index"], e["event_id"], e["reason_code"], e["field"]) for e in response.json()["events"]
    ]
    assert got == [
        (1, "four", "out_of_range", "data.month"),
        (1, "four", "schema", "data.surprise"),
        (1, "four", "bad_pinfl", "pinfl"),
        (1, "four", "out_of_range", "tax_year"),
        (2, "two", "out_of_range", "revision"),
        (2, "two", "out_of_range", "tax_year"),
    ]
    assert all(e["reason"].endswith(".") for e in response.json()["events"])
    assert producer.sent == []


async def test_the_hostile_set_gets_the_kafka_paths_answers_over_http(
    client: httpx.AsyncClient, keys: ApiKeyService, producer: FakeProducer, settings: Settings
) -> None:
    """The hostile events of the broker test (devtools.registries_mock.hostile), each posted alone:
    the 422's first entry is the dead letter decode_event gives the same bytes on Kafka.
    (A body that is an array is a batch over HTTP, so those are left to the tests above.)"""
    policy = validation_policy(settings)
    run = hostile_run(policy, n=HTTP_HOSTILE)
    tokens = {registry: keys.create(registry).token for registry in REGISTRIES}
    checked: Counter[str] = Counter()
    for event in run.hostile:
        payload = event.payload or b""
        if event.topic_registry not in REGISTRIES or payload.lstrip().startswith(b"["):
            continue
        try:
            decode_event(payload, event.topic_registry, policy)
        except EventRejected as rejected:
            url = f"/api/v1/registries/{event.topic_registry}/events"
            response = await client.post(
                url, content=payload, headers=bearer(tokens[event.topic_registry])
            )
            assert response.status_code in (413, 422), (event.fault, response.text[:300])
            if response.status_code == 413:  # over the body limit: refused before reading
                assert len(payload) > MAX_BODY_BYTES
                continue
            first = response.json()["events"][0]
            assert (first["index"], first["reason_code"], first["field"], first["reason"]) == (
                0,
                rejected.reason_code,
                rejected.field,
                rejected.reason,
            ), event.fault
            checked[rejected.reason_code] += 1
    assert producer.sent == []
    assert set(checked) >= {"not_json", "schema", "bad_pinfl", "out_of_range", "too_large"}, checked


async def test_a_large_batch_that_never_closes_is_not_json(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    body = b"[" + f"{_good()},".encode() * 300  # over one event's limit, no closing bracket
    assert len(body) > 65536
    response = await post(client, payroll_key, body)
    assert response.status_code == 422
    assert response.json()["error"] == "not_json"
    assert "does not close" in response.json()["message"]
    assert producer.sent == []
