"""schemathesis against the committed OpenAPI document (docs/openapi.json) of the HTTP
ingest API, run on the real app in process with a real (migrated) SQLite database.

Property-based: for generated valid and invalid requests, authorised or not, every
response is documented (status, content type, body schema), nothing answers 5xx, input
the document says is invalid is refused with a 4xx, and a refused event names its field.
The app's Kafka producer is the unit tier's recording fake (no broker here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.clock import FixedClock
from core.settings import Settings
from portal.app import create_app
from portal.openapi import COMMITTED_PATH
from portal.services.api_keys import ApiKeyService
from storage.api_keys import ApiKeyRepository
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from tests.unit.portal.conftest import FakeProducer

REPO = Path(__file__).resolve().parents[2]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 150
INGEST = "/api/v1/registries/{registry}/events"


@pytest.fixture(scope="module")
def schema() -> Any:
    return schemathesis.openapi.from_path(str(REPO / COMMITTED_PATH))


@pytest.fixture
def api(tmp_path: Path) -> Any:
    from datetime import UTC, datetime

    settings = Settings.from_env(
        {
            "PROACTAX_DEVELOPMENT": "1",
            "PROACTAX_RUN_DIR": str(tmp_path / "run"),
            "PROACTAX_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
            "PROACTAX_TOPIC_NAMESPACE": "st",
        }
    )
    upgrade(settings.database)
    clock = FixedClock(datetime(2027, 2, 10, 9, 0, tzinfo=UTC))
    keys = ApiKeyService(
        ApiKeyRepository(make_session_factory(make_engine(settings.database))), clock
    )
    token = keys.create("payroll", label="schemathesis").token
    producer = FakeProducer()
    app = create_app(settings, producer=producer, clock=clock)
    with TestClient(app, base_url="http://portal.test", raise_server_exceptions=False) as client:
        yield client, token, producer


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://portal.test", headers=headers)
    kwargs.pop("cookies", None)
    kwargs.pop("verify", None)
    if "data" in kwargs and not isinstance(kwargs["data"], dict):
        kwargs["content"] = kwargs.pop("data")
    return client.request(**kwargs)


def _events_name_their_field(response: Any) -> None:
    if response.status_code not in (409, 422):
        return
    body = response.json()
    assert body["error"] and body["message"], body
    if body["error"] in ("invalid_events", "conflict"):
        assert body["events"], body
        for event in body["events"]:
            assert event["reason_code"] and event["reason"], event
            if event["reason_code"] not in ("not_json", "too_large"):
                assert event["field"] is not None or event["reason_code"] == "schema", event


@pytest.mark.parametrize("authorised", [True, False], ids=["with-key", "without-key"])
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_generated_request_gets_a_documented_answer(
    schema: Any, api: Any, authorised: bool, mode: str
) -> None:
    client, token, _producer = api
    operation = schema[INGEST]["POST"]
    from schemathesis.generation import GenerationMode

    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
    headers = {"Authorization": f"Bearer {token}"} if authorised else {}
    statuses: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=strategy, own_registry=st.booleans())
    def run(case: Any, own_registry: bool) -> None:
        if authorised and (own_registry or mode == "positive"):  # the key's registry
            case.path_parameters = {**(case.path_parameters or {}), "registry": "payroll"}
        if authorised:
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in (
                "authorization", "x-api-key")}  # fmt: skip
        response = _send(client, case, headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        case.validate_response(response, checks=CHECKS)
        _events_name_their_field(response)

    run()
    assert sum(statuses.values()) >= EXAMPLES // 2
    if not authorised:
        assert set(statuses) <= {401, 403, 404, 413, 422}, statuses
    print(f"\n{mode} {'with' if authorised else 'without'} key: {statuses}")


def test_health_is_documented(schema: Any, api: Any) -> None:
    client, _token, _producer = api
    strategy = schema["/healthz"]["GET"].as_strategy()

    @settings(max_examples=10, deadline=None, database=None, derandomize=True)
    @given(case=strategy)
    def run(case: Any) -> None:
        response = _send(client, case, {})
        case.validate_response(response, checks=CHECKS)

    run()


def test_a_broken_event_is_refused_naming_its_field(api: Any) -> None:
    """A direct probe the generator may not hit: the 4xx names the field at fault."""
    client, token, producer = api
    from tests.unit.portal.conftest import payroll_event

    bad = payroll_event(data={"month": 13})
    r = client.post(
        "/api/v1/registries/payroll/events",
        content=json.dumps(bad),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    (event,) = r.json()["events"]
    assert (event["reason_code"], event["field"]) == ("out_of_range", "data.month")
    assert producer.sent == []
