"""Every one of 10,000 hostile registry events gets the dead-letter reason and field it
must (the fast check without a broker: decode_event, the Kafka key rule and the ledger)."""

from __future__ import annotations

import time
from collections import Counter

from contracts.deadletters import REASON_CODES
from contracts.validation import ValidationPolicy
from devtools.registries_mock.hostile import HOSTILE_MAKERS, MEGABYTE, reasons
from tests.reliability.hostile import HOSTILE, hostile_run, judge

POLICY = ValidationPolicy(range(2023, 2027))


def test_every_hostile_event_gets_its_reason_and_field() -> None:
    started = time.monotonic()
    run = hostile_run(POLICY)
    assert len(run.hostile) == HOSTILE
    ledgers: dict = {}
    for event in run.before:
        assert judge(event, POLICY, ledgers) is None, event
    wrong = []
    for event in run.hostile:
        assert event.fault is not None
        got = judge(event, POLICY, ledgers)
        if got != (event.fault.reason_code, event.fault.field):
            wrong.append((event.fault.kind, got, event.fault.field))
    for event in run.after:  # valid events after the storm are still accepted
        assert judge(event, POLICY, ledgers) is None, event
    kinds = Counter(w[0] for w in wrong)
    assert wrong == [], f"{len(wrong)} wrong answers by kind {dict(kinds)}; e.g. {wrong[:5]}"
    # The mix covers every reason, every maker, and the sizes the issue names.
    assert set(reasons(run.hostile)) == REASON_CODES
    made = Counter(e.fault.kind for e in run.hostile if e.fault)
    assert set(HOSTILE_MAKERS) <= set(made), set(HOSTILE_MAKERS) - set(made)
    assert {"conflict.event_id_reused", "conflict.revision_reused"} <= set(made)
    assert max(len(e.payload) for e in run.hostile) >= MEGABYTE - 1000
    print(
        f"\n{HOSTILE:,} hostile events judged in {time.monotonic() - started:.1f}s: "
        f"{dict(sorted(reasons(run.hostile).items()))}"
    )


def test_the_set_is_the_same_for_the_same_seed() -> None:
    first = hostile_run(POLICY, n=500)
    second = hostile_run(POLICY, n=500)
    assert [e.payload for e in first.hostile] == [e.payload for e in second.hostile]
    assert [e.key for e in first.hostile] == [e.key for e in second.hostile]


def test_the_dead_letter_of_a_megabyte_event_fits_the_broker() -> None:
    """A 1 MB event's dead letter once was ~1.4 MB: the agent could not write it and
    crashed on that event for ever (found by the broker test of this package)."""
    import json

    from contracts.deadletters import MAX_RAW_BYTES, deadletter_value
    from contracts.validation import validator

    raw = b"{" + b" " * (MEGABYTE - 2) + b"}"
    value = deadletter_value(
        source_topic="registry.payroll.v1", source_partition=0, source_offset=1,
        received_at="2027-01-14T10:02:12+05:00", reason_code="too_large",
        reason="The event is 1000000 bytes; at most 65536 are accepted.", field=None, raw=raw,
    )  # fmt: skip
    assert len(value) < 1_000_000 - 1024  # faust's producer refuses ~1,000,000 bytes
    letter = json.loads(value)
    assert list(validator("registry.deadletter.v1").iter_errors(letter)) == []
    assert f"first {MAX_RAW_BYTES} of its {MEGABYTE} bytes" in letter["reason"]
    small = json.loads(
        deadletter_value(
            source_topic="t",
            source_partition=0,
            source_offset=0,
            received_at="x",
            reason_code="schema",
            reason="r",
            field=None,
            raw=b"{}",
        )
    )
    assert small["raw_base64"] == "e30=" and small["reason"] == "r"
