"""The oracle: what the ledger must hold and which dead letters must appear.

It is worked out by the season itself from the contract's rules; here the real ledger
fold (``agents/ledger.py``) is run over the same events and must agree, and the file
round-trips."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agents.ledger import FoldResult, active_records, apply_event, empty_ledger
from contracts.registry_events import EventRejected, decode_event
from contracts.topics import registry_topic
from devtools.registries_mock.faults import CONFLICT
from devtools.registries_mock.oracle import load_oracle
from devtools.registries_mock.season import Season
from tests.support.oracle import expected_returns


def test_the_real_ledger_fold_agrees_with_the_oracle(faulty_season: Season) -> None:
    policy = faulty_season.policy
    assert policy is not None
    ledgers: dict[str, dict] = {}
    conflicts = []
    for event in faulty_season.events:
        try:
            decoded = decode_event(event.payload, event.topic_registry, policy)
        except EventRejected:
            continue
        if decoded.registry == "population":
            continue
        assert decoded.tax_year is not None
        key = f"{decoded.pinfl}:{decoded.tax_year}"  # the oracle's "<pinfl>:<year>"
        ledger = ledgers.setdefault(key, empty_ledger())
        if apply_event(ledger, decoded) is FoldResult.CONFLICT:
            conflicts.append(event)
    folded = {
        key: {f"{r.registry}/{r.record_id}": (r.revision, r.data) for r in active_records(ledger)}
        for key, ledger in ledgers.items()
    }
    expected = {
        f"{pinfl}:{year}": records for (pinfl, year), records in faulty_season.oracle.items()
    }
    assert folded == expected
    assert conflicts and all(e.fault is CONFLICT for e in conflicts)
    assert len(conflicts) == sum(e.fault is CONFLICT for e in faulty_season.events)


def test_expected_dead_letters_are_the_broken_deliveries_in_order(faulty_season: Season) -> None:
    broken = [e for e in faulty_season.events if e.fault is not None]
    assert [
        (d.topic, d.key, d.reason_code, d.field, d.fault) for d in faulty_season.dead_letters
    ] == [
        (registry_topic(e.topic_registry), e.key, e.fault.reason_code, e.fault.field, e.fault.kind)
        for e in broken
        if e.fault is not None
    ]
    assert len({d.raw_sha256 for d in faulty_season.dead_letters}) < len(faulty_season.dead_letters)


def test_a_clean_season_has_no_dead_letters(clean_season: Season) -> None:
    assert clean_season.dead_letters == []
    assert all(e.fault is None for e in clean_season.events)


def test_the_oracle_file_round_trips(faulty_season: Season, tmp_path: Path) -> None:
    path = faulty_season.write_oracle(tmp_path / "oracle.json")
    oracle = load_oracle(path)
    assert oracle.expected_facts == faulty_season.oracle
    assert list(oracle.expected_dead_letters) == faulty_season.dead_letters
    assert oracle.taxpayers == faulty_season.taxpayers
    assert oracle.tax_year == 2026 and oracle.faults and oracle.people == len(faulty_season.people)
    assert oracle.policy == {
        "tax_years": [2023, 2026],
        "max_event_bytes": 65536,
        "pinfl_check_digit": True,
    }
    assert oracle.counts["events"] == len(faulty_season.events)
    assert sum(oracle.counts["by_fault"].values()) == len(faulty_season.dead_letters)
    assert oracle.dead_letter_multiset() == Counter(
        d.identity() for d in faulty_season.dead_letters
    )


def test_returns_from_the_oracle_are_in_whole_soums_and_mostly_settled(
    clean_season: Season,
) -> None:
    returns = expected_returns(clean_season)
    assert len(returns) == len(clean_season.taxpayers)
    balances = [value["totals"]["balance_tiyin"] for value in returns.values()]
    assert all(b % 100 == 0 for b in balances)
    assert not any(0 < abs(b) < 1000 * 100 for b in balances)  # no silly leftovers
    settled = sum(b == 0 for b in balances) / len(balances)
    refunds = sum(b < 0 for b in balances) / len(balances)
    payable = sum(b > 0 for b in balances) / len(balances)
    assert 0.5 < settled < 0.85 and 0.1 < refunds < 0.35 and 0.03 < payable < 0.2
