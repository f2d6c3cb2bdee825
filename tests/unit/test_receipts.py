"""Receipts (issue 17): the sandbox's test PINFLs, the receipts' database projection
(storage/receipts.py: exactly once, the first status kept unless superseded) and the HTTP
service that reads it (pending, unknown, another registry's)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.receipts_projection import readable
from contracts.receipts import ids_of, receipt_value, receipts_message
from contracts.sandbox import SANDBOX_PREFIX, is_sandbox, sandbox_pinfl
from contracts.value_rules import pinfl_check_digit_ok
from portal.services.receipts import ReceiptService
from storage.api_keys import AcceptedEventRepository
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.receipts import ReceiptRepository
from storage.stream_offsets import Source
from streams.committed import Record
from tests.support.query_plans import SelectPlans

T = "registry.payroll.receipts.v1"
AT = "2027-01-14T10:02:12+05:00"


@pytest.fixture
def sessions(database_url: str) -> Any:
    """SQLite and PostgreSQL: each reads a message's receipts with its own JSON functions."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_sandbox_pinfls_are_valid_and_never_a_real_persons() -> None:
    made = {sandbox_pinfl() for _ in range(200)} | {sandbox_pinfl(0), sandbox_pinfl(10**10 - 1)}
    for pinfl in made:
        assert len(pinfl) == 14 and pinfl.isdigit() and pinfl.startswith(SANDBOX_PREFIX)
        assert pinfl_check_digit_ok(pinfl) and is_sandbox(pinfl)
    assert not is_sandbox("31403850261230")  # a real PINFL's first digit is 1-6
    with pytest.raises(ValueError):
        sandbox_pinfl(10**10)


def row(event_id: str, status: str, revision: int = 1, reason: str | None = None) -> Record:
    value = receipt_value(
        event_id=event_id,
        registry="payroll",
        record_id="R-1",
        revision=revision,
        status=status,
        at=AT,
        reason=reason,
    )
    return Record(T, 0, 0, b"payroll", receipts_message([value]))


def write(repository: ReceiptRepository, records: list[Record], start: int) -> int:
    """As the projection writes a batch: its messages at offsets ``start``, ``start + 1``…"""
    assert all(readable(r) for r in records)
    return repository.record(
        [r.value or b"" for r in records],
        Source("receipts", [(T, 0, start + i) for i in range(len(records))],
               {(T, 0): start + len(records)}),
    )  # fmt: skip


def test_the_first_receipt_holds_unless_superseded_and_a_replay_writes_nothing(
    sessions: Any,
) -> None:
    receipts = ReceiptRepository(sessions)
    first = [row("e1", "accepted"), row("e1", "duplicate"), row("e2", "accepted", 2)]
    assert write(receipts, first, 0) == 2
    assert write(receipts, first, 0) == 0  # the same offsets again: nothing
    held = receipts.get("payroll", "e1")
    assert held is not None and held.status == "accepted"
    later = [row("e1", "superseded", reason="Revision 2 (event_id 'e2') replaced this revision.")]
    assert write(receipts, later, 3) == 1
    held = receipts.get("payroll", "e1")
    assert held is not None and (held.status, held.reason) == (
        "superseded",
        "Revision 2 (event_id 'e2') replaced this revision.",
    )
    assert receipts.get("rental", "e1") is None  # per registry


def test_a_receipt_superseded_in_its_own_batch_and_another_registrys_same_event_id(
    sessions: Any,
) -> None:
    receipts = ReceiptRepository(sessions)
    rental = receipt_value(event_id="e5", registry="rental", record_id="L-1", revision=1,
                           status="dead_lettered", reason_code="conflict", field="revision",
                           reason="Revision 1 was already accepted.", at=AT)  # fmt: skip
    batch = [
        row("e5", "accepted"),
        row("e5", "duplicate"),
        row("e5", "superseded", reason="Revision 2 (event_id 'e6') replaced this revision."),
        Record(T, 0, 0, b"rental", receipts_message([rental])),
    ]
    # two rows: payroll's e5 as its last superseded receipt says (the duplicate says nothing
    # new), and rental's e5; payroll's written twice (accepted, then superseded)
    assert write(receipts, batch, 0) == 3
    payroll = receipts.get("payroll", "e5")
    assert payroll is not None and (payroll.status, payroll.reason) == (
        "superseded",
        "Revision 2 (event_id 'e6') replaced this revision.",
    )
    other = receipts.get("rental", "e5")
    assert other is not None and (other.status, other.field, other.record_id) == (
        "dead_lettered",
        "revision",
        "L-1",
    )
    assert write(receipts, [row("e5", "accepted", 3)], 4) == 0  # held: the first stays


def test_the_http_service_says_pending_then_the_receipt_and_never_another_registrys(
    sessions: Any,
) -> None:
    receipts = ReceiptRepository(sessions)
    accepted = AcceptedEventRepository(sessions)
    service = ReceiptService(receipts, accepted)
    now = datetime(2027, 1, 14, tzinfo=UTC)
    assert accepted.claim("payroll", [("e9", "d" * 64)], "k1", now)
    assert service.get("payroll", "e9") is None  # claimed, not yet acknowledged
    accepted.mark_published("payroll", ["e9"], now)
    pending = service.get("payroll", "e9")
    assert pending is not None and pending.status == "pending"
    write(receipts, [row("e9", "accepted")], 0)
    done = service.get("payroll", "e9")
    assert done is not None and (done.status, done.record_id, done.at) == ("accepted", "R-1", AT)
    assert service.get("rental", "e9") is None


def test_a_refused_events_ids_are_read_only_when_well_formed() -> None:
    assert ids_of(b'{"event_id": "e-1", "record_id": "R 1", "revision": 3}') == ("e-1", "R 1", 3)
    assert ids_of(b'{"event_id": "bad id!", "revision": true}') == (None, None, None)
    assert ids_of(b"not json") == (None, None, None)
    # a revision beyond the schemas' 2^63-1 is not repeated in the receipt: it would not even
    # encode (a hostile event once failed its batch with a TypeError, again and again)
    huge = b'{"event_id": "e-2", "record_id": "R 2", "revision": 18446744073709551616}'
    assert ids_of(huge) == ("e-2", "R 2", None)
    receipt_value(event_id="e-2", registry="payroll", record_id="R 2", revision=None,
                  status="dead_lettered", at=AT)  # fmt: skip
    assert ids_of(b'["e-1"]') == (None, None, None)
    with pytest.raises(ValueError):
        receipt_value(event_id="e", registry="payroll", record_id=None, revision=None,
                      status="lost", at=AT)  # fmt: skip


def receipt(event_id: str, status: str, reason: str | None = None) -> bytes:
    return receipt_value(event_id=event_id, registry="payroll", record_id="R-1", revision=1,
                         status=status, at=AT, reason=reason)  # fmt: skip


def test_one_messages_receipts_of_one_event_id_in_order(sessions: Any) -> None:
    """The database reads a message's receipts in order: of one event_id the first counts
    unless a later one says superseded, the last of those then (PostgreSQL narrows them to
    that one before the statement; SQLite applies them one after another)."""
    receipts = ReceiptRepository(sessions)
    message = receipts_message([
        receipt("e7", "accepted"),
        receipt("e7", "duplicate"),
        receipt("e8", "accepted"),
        receipt("e7", "superseded", "Revision 2 (event_id 'e9') replaced this revision."),
        receipt("e8", "duplicate"),
        receipt("e7", "superseded", "Revision 3 (event_id 'e10') replaced this revision."),
        receipt("e7", "duplicate"),
    ])  # fmt: skip
    assert write(receipts, [Record(T, 0, 0, b"payroll", message)], 0) >= 2
    e7, e8 = receipts.get("payroll", "e7"), receipts.get("payroll", "e8")
    assert e7 is not None and (e7.status, e7.reason) == (
        "superseded",
        "Revision 3 (event_id 'e10') replaced this revision.",
    )
    assert e8 is not None and (e8.status, e8.reason, e8.revision, e8.record_id, e8.at) == (
        "accepted",
        None,
        1,
        "R-1",
        AT,
    )


def test_only_a_message_the_table_can_hold_is_written() -> None:
    """A message whose receipts would fail the statement (and every retry of its batch) is
    skipped; the check comes from the table's columns, so it cannot drift from them."""
    good = receipts_message([receipt(f"e{i}", "accepted") for i in range(3)])
    assert readable(Record(T, 0, 7, b"payroll", good))
    too_long = receipt_value(event_id="e" * 65, registry="payroll", record_id=None,
                             revision=None, status="accepted", at=AT)  # fmt: skip
    refused = [
        b"{}",  # no receipts
        b"not json",
        None,
        receipts_message([too_long]),  # the column's 64 characters (PostgreSQL enforces them)
        good.replace(b'"revision":1', b'"revision":"1"'),
        good.replace(b'"revision":1', b'"revision":9223372036854775808'),  # beyond a bigint
        good.replace(b'"at":"' + AT.encode() + b'"', b'"at":null', 1),  # a NOT NULL column
        good.replace(b'"status":"accepted"', b'"status":"accepted","extra":1', 1),
    ]
    for value in refused:
        assert not readable(Record(T, 0, 8, b"payroll", value)), value
    assert readable(Record(T, 0, 9, b"payroll", good.replace(b'"R-1"', b"null")))  # nullable


def test_the_projection_reads_no_receipt_back_to_write_one(tmp_path: Path) -> None:
    """The database decides what is held (``ON CONFLICT`` on the primary key): no lookup of
    the held receipts before a batch. Filtering it on event_id alone once scanned the whole
    table for every batch (a million-resident season stalled on it); by the primary key it
    still cost ≈ 30 % of the receipts projection's CPU (docs/benchmarks.md)."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    engine = make_engine(url)
    lookups = SelectPlans(engine, tmp_path / "plan.db", "ingest_receipts")
    receipts = ReceiptRepository(make_session_factory(engine))
    write(receipts, [row("e1", "accepted"), row("e2", "accepted")], 0)
    write(receipts, [row("e1", "superseded"), row("e3", "accepted")], 2)
    assert lookups.seen == []
    statuses = {e: getattr(receipts.get("payroll", e), "status", None) for e in ("e1", "e2", "e3")}
    assert statuses == {"e1": "superseded", "e2": "accepted", "e3": "accepted"}
