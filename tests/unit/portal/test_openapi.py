"""The committed OpenAPI document is the one the app serves, and it documents every field."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from contracts.registry_events import canonical_json
from core.settings import Settings
from portal.api.schemas import EXAMPLE_EVENT
from portal.openapi import COMMITTED_PATH, openapi_document, render
from portal.validation import EventValidator

REPO = Path(__file__).resolve().parents[3]


def test_the_committed_document_is_what_the_app_generates() -> None:
    committed = (REPO / COMMITTED_PATH).read_text(encoding="utf-8")
    assert committed == render(openapi_document()), (
        "docs/openapi.json is stale: run `proactax portal openapi --output docs/openapi.json`"
    )


async def test_the_app_serves_the_same_document(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    assert served == json.loads((REPO / COMMITTED_PATH).read_text(encoding="utf-8"))


def test_every_model_field_and_every_error_status_is_described() -> None:
    document = openapi_document()
    for name, schema in document["components"]["schemas"].items():
        assert schema.get("description"), name
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"
    operation = document["paths"]["/api/v1/registries/{registry}/events"]["post"]
    statuses = {"202", "401", "403", "404", "409", "413", "422", "429", "503"}
    assert set(operation["responses"]) == statuses
    for status, response in operation["responses"].items():
        if status != "202":
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, status
    assert {"BearerKey", "ApiKeyHeader"} <= set(document["components"]["securitySchemes"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["maxItems"] == 1000


def test_the_documented_example_passes_the_streams_validation(tmp_path: Path) -> None:
    settings = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
    event = EventValidator(settings)(canonical_json(EXAMPLE_EVENT), "payroll")
    assert event.event_id == EXAMPLE_EVENT["event_id"]
