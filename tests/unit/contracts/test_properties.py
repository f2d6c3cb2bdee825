"""Properties of decode_event over generated input (hypothesis).

* Any bytes give a RegistryEvent or an EventRejected with a contract reason code: never
  another exception, and the same verdict twice.
* The fast check compiled from a schema file agrees with jsonschema on every value.
* An event decode_event accepts is one the tax engine accepts too (so the engine's own
  reader is no longer needed as a second gate in the stream).
"""

from __future__ import annotations

import json
import string
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from contracts import topics
from contracts.deadletters import REASON_CODES
from contracts.registry_events import EventRejected, RegistryEvent, decode_event
from contracts.validation import fast_check, load_schema, validator
from devtools.registries_mock.pinfl import check_digit
from tax import RegistryRecord, facts_from_records
from tax.errors import TaxError
from tests.unit.contracts.events import DELETE, PINFL, POLICY, changed

FUZZ = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
TOPICS = [t.name for t in topics.ALL_TOPICS]
REGISTRY_NAMES = [*topics.REGISTRIES, "tractors"]
TRICKY = "\u200b\u202e\u0660\u0663\uff11\u00a0\n\t\r\x00\ufeff\u0301ʻЁé😀"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.text(alphabet=string.digits + TRICKY, max_size=16),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _pinfl(body: str) -> str:
    return body + str(check_digit(body))


def _enum_values() -> list[Any]:
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(node.get("enum", []))
            if "const" in node:
                found.append(node["const"])
            for key, value in node.items():
                if key != "examples":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for topic in TOPICS:
        walk(load_schema(topic))
    return sorted(set(found), key=repr)


plausible = st.one_of(
    st.from_regex(r"[0-9]{13}", fullmatch=True).map(_pinfl),
    st.from_regex(r"[0-9]{14}", fullmatch=True),
    st.from_regex(r"[0-9]{9}", fullmatch=True),
    st.dates(date(1890, 1, 1), date(2110, 12, 31)).map(date.isoformat),
    st.dates(date(2025, 6, 1), date(2027, 6, 30)).map(date.isoformat),
    st.integers(min_value=-2, max_value=10**16),
    st.integers(min_value=0, max_value=14),
    st.integers(min_value=2020, max_value=2030),
    st.sampled_from(_enum_values()),
    st.datetimes(datetime(1890, 1, 1), datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=timezone(timedelta(hours=5))).isoformat(timespec="seconds")
    ),
    st.text(alphabet=string.ascii_letters + string.digits + " -:.", min_size=1, max_size=70),
    st.just(PINFL),
    st.just(DELETE),
)


def _fields(registry: str) -> list[str]:
    schema = load_schema(f"registry.{registry}.v1")
    envelope = [f for f in schema["properties"] if f != "data"]
    data = [f"data.{f}" for f in schema["properties"]["data"]["properties"]]
    return [*envelope, *data, "data.surprise", "surprise"]


@st.composite
def mutated_events(draw: st.DrawFn, values: st.SearchStrategy[Any] = plausible) -> Any:
    registry = draw(st.sampled_from(topics.REGISTRIES))
    action = draw(st.sampled_from(["upsert", "upsert", "upsert", "void"]))
    paths = draw(st.lists(st.sampled_from(_fields(registry)), max_size=3, unique=True))
    if action == "void" or "data" in paths:
        paths = [p for p in paths if not p.startswith("data.")]
    changes = {path: draw(values) for path in paths}
    return registry, changed(registry, changes, action)


def _verdict(raw: Any, registry: str) -> tuple[str, str | None, str] | RegistryEvent:
    try:
        return decode_event(raw, registry, POLICY)
    except EventRejected as rejected:
        assert rejected.reason_code in REASON_CODES
        assert isinstance(rejected.reason, str) and rejected.reason
        rejected.reason.encode("utf-8")  # dead letters are UTF-8 JSON
        if rejected.field is not None:
            rejected.field.encode("utf-8")
            assert len(rejected.field) <= 256
        return (rejected.reason_code, rejected.field, rejected.reason)


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(REGISTRY_NAMES))
def test_any_bytes_give_an_event_or_a_known_reason(raw: bytes, registry: str) -> None:
    assert _verdict(raw, registry) == _verdict(raw, registry)


@FUZZ
@given(json_values, st.sampled_from(REGISTRY_NAMES))
def test_any_json_gives_an_event_or_a_known_reason(value: Any, registry: str) -> None:
    raw = json.dumps(value).encode()
    assert _verdict(raw, registry) == _verdict(raw, registry)


@FUZZ
@given(mutated_events(st.one_of(plausible, json_values)), st.sampled_from(REGISTRY_NAMES))
def test_mutated_events_give_an_event_or_a_known_reason(case: Any, topic_registry: str) -> None:
    registry, value = case
    raw = json.dumps(value, ensure_ascii=False).encode()
    first = _verdict(raw, topic_registry)
    assert first == _verdict(raw, topic_registry)
    if topic_registry != registry:
        assert not isinstance(first, RegistryEvent)


@FUZZ
@given(mutated_events())
def test_an_accepted_event_is_accepted_by_the_tax_engine(case: Any) -> None:
    registry, value = case
    verdict = _verdict(json.dumps(value).encode(), registry)
    assume(isinstance(verdict, RegistryEvent))
    assert isinstance(verdict, RegistryEvent)
    if verdict.tax_year is None or verdict.data is None:
        return
    try:
        facts_from_records(
            verdict.pinfl,
            verdict.tax_year,
            [RegistryRecord(verdict.registry, verdict.record_id, verdict.revision, verdict.data)],
        )
    except TaxError as exc:  # pragma: no cover - the failure message is the point
        raise AssertionError(f"decode_event accepted what the engine rejects: {exc}") from exc


@FUZZ
@given(st.sampled_from(TOPICS), st.one_of(json_values, mutated_events().map(lambda c: c[1])))
def test_the_fast_check_agrees_with_jsonschema(topic: str, value: Any) -> None:
    assert fast_check(topic)(value) == validator(topic).is_valid(value)


@FUZZ
@given(mutated_events(st.one_of(plausible, json_values)))
def test_the_fast_check_agrees_on_near_valid_events(case: Any) -> None:
    registry, value = case
    topic = topics.registry_topic(registry)
    assert fast_check(topic)(value) == validator(topic).is_valid(value)


def test_the_generators_reach_acceptance() -> None:
    """Guard against a vacuous property: near-valid events are often accepted."""
    accepted = 0

    @settings(deadline=None, max_examples=200, database=None)
    @given(mutated_events())
    def count(case: Any) -> None:
        nonlocal accepted
        registry, value = case
        if isinstance(_verdict(json.dumps(value).encode(), registry), RegistryEvent):
            accepted += 1

    count()
    assert accepted >= 20
