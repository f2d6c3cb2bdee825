"""A synthetic tax season: people, their registry events, and the oracle of right answers.

Deterministic for a seed: the people and their records come from their own random
streams, so ``faults=True`` breaks events of the very same population.

Every season carries what any real feed carries and the contract allows: corrections
(a higher revision), voids, exact redeliveries and revisions arriving out of order.
``faults=True`` adds more of those, and events the service must reject, each with the
``reason_code`` (and field) it must get (``devtools.registries_mock.faults``): malformed JSON,
schema violations, bad PINFLs, out-of-range values, oversized messages, and conflicts
(an ``event_id`` reused with other content, which only the ledger or the API can see).

The oracle is worked out from the final order of the events by the contract's rules
(idempotent by ``event_id`` per registry, highest revision wins, void withdraws) -
independently of ``agents/ledger.py``, which the integration tests hold to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from contracts.registry_events import canonical_json
from contracts.topics import REGISTRIES, registry_topic
from contracts.validation import ValidationPolicy
from devtools.registries_mock import faults as fault_makers
from devtools.registries_mock.faults import CONFLICT, Fault, encode
from devtools.registries_mock.incomes import (
    CONFLICTING_AMOUNT,
    THOUSAND,
    Counterparties,
    IncomeMaker,
    Record,
    corrected,
    stamp,
)
from devtools.registries_mock.oracle import ExpectedDeadLetter, ExpectedFacts, Oracle
from devtools.registries_mock.population import Person, PinflIssuer, make_person

__all__ = ["Event", "Fault", "FaultRates", "Season", "generate_season"]

ID_PREFIX = re.compile(r"[A-Za-z0-9._:-]{1,40}")


@dataclasses.dataclass(frozen=True)
class Event:
    """One message for ``registry.<topic_registry>.v1``: Kafka key and value."""

    topic_registry: str
    key: str
    value: dict[str, Any] | None  # the JSON object sent; None when the bytes are no JSON object
    raw: bytes | None = None  # the exact bytes, when they are not ``encode(value)``
    fault: Fault | None = None  # what the service must answer; None = a valid event

    @property
    def payload(self) -> bytes:
        """The bytes to publish."""
        if self.raw is not None:
            return self.raw
        assert self.value is not None
        return encode(self.value)

    @property
    def event_id(self) -> str | None:
        event_id = self.value.get("event_id") if self.value is not None else None
        return event_id if isinstance(event_id, str) else None

    @property
    def rejected(self) -> bool:
        """True when the service must refuse it (a dead letter, or a 4xx of the API)."""
        return self.fault is not None


@dataclasses.dataclass(frozen=True, slots=True)
class FaultRates:
    """How often each kind of trouble occurs (fractions; at least one each when > 0)."""

    corrections: float  # of income and population records: a higher revision follows
    second_corrections: float  # of the corrected records: yet another revision
    voids: float  # of income records: withdrawn
    out_of_order: float  # of corrections and voids: published before what they replace
    duplicates: float  # of all events: an exact redelivery later on
    invalid: float  # of valid events: a broken event (spread over the fault kinds)
    conflicts: float  # of income events: the event_id reused with other content


CLEAN = FaultRates(0.01, 0.1, 0.003, 0.3, 0.01, 0.0, 0.0)
FAULTY = FaultRates(0.03, 0.15, 0.01, 0.4, 0.03, 0.01, 0.002)


@dataclasses.dataclass
class Season:
    tax_year: int
    people: list[dict[str, Any]]
    events: list[Event]
    # (pinfl, tax_year) -> {"<registry>/<record_id>": (revision, data)} of active records
    oracle: ExpectedFacts
    dead_letters: list[ExpectedDeadLetter] = dataclasses.field(default_factory=list)
    seed: int = 0
    faults: bool = False
    id_prefix: str = "mock"
    policy: ValidationPolicy | None = None
    registries: tuple[str, ...] = REGISTRIES

    @property
    def taxpayers(self) -> list[str]:
        """PINFLs that get a return for the tax year (they have an income ledger)."""
        return sorted({pinfl for pinfl, year in self.oracle if year == self.tax_year})

    @property
    def expected_facts(self) -> ExpectedFacts:
        return self.oracle

    @property
    def expected_dead_letters(self) -> list[ExpectedDeadLetter]:
        """One per refused delivery, in publishing order (a replayed bad event twice)."""
        return self.dead_letters

    def to_oracle(self) -> Oracle:
        policy = self.policy or default_policy(self.tax_year)
        return Oracle(
            tax_year=self.tax_year,
            seed=self.seed,
            people=len(self.people),
            faults=self.faults,
            id_prefix=self.id_prefix,
            policy={
                "tax_years": [policy.tax_years.start, policy.tax_years.stop - 1],
                "max_event_bytes": policy.max_event_bytes,
                "pinfl_check_digit": policy.pinfl_check_digit,
            },
            counts=self.counts(),
            expected_facts=self.oracle,
            expected_dead_letters=tuple(self.dead_letters),
        )

    def write_oracle(self, path: str | Path) -> Path:
        """Write the expected facts and dead letters as JSON (``oracle``)."""
        return self.to_oracle().write(path)

    def counts(self) -> dict[str, Any]:
        return {
            "events": len(self.events),
            "by_registry": dict(sorted(Counter(e.topic_registry for e in self.events).items())),
            "by_fault": dict(sorted(Counter(e.fault.kind for e in self.events if e.fault).items())),
            "taxpayers": len(self.taxpayers),
        }


def default_policy(tax_year: int) -> ValidationPolicy:
    """The service's default window (settings: 2023-2026) moved to end at ``tax_year``."""
    return ValidationPolicy(range(tax_year - 3, tax_year + 1))


def generate_season(
    n_people: int = 200,
    tax_year: int = 2026,
    seed: int = 7,
    id_prefix: str = "mock",
    *,
    faults: bool = False,
    policy: ValidationPolicy | None = None,
    rates: FaultRates | None = None,
) -> Season:
    """A season of ``n_people`` residents for ``tax_year``.

    ``policy`` is the validation the service applies (its tax-year window, event size
    limit and PINFL check-digit switch); broken events are made to break it and the
    oracle's expectations assume it. ``rates`` overrides the preset (CLEAN or FAULTY).
    """
    if not ID_PREFIX.fullmatch(id_prefix):
        raise ValueError("id_prefix must be 1-40 characters of A-Z a-z 0-9 . _ : -")
    if n_people < 1:
        raise ValueError("n_people must be at least 1")
    policy = policy or default_policy(tax_year)
    if tax_year not in policy.tax_years:
        raise ValueError(f"tax year {tax_year} is outside the policy's {policy.tax_years}")
    builder = _Builder(tax_year, seed, id_prefix, policy, rates or (FAULTY if faults else CLEAN))
    builder.populate(n_people)
    builder.life()
    if builder.rates.invalid > 0:
        builder.broken_events()
    if builder.rates.conflicts > 0:
        builder.conflicts()
    builder.duplicates()
    events = builder.ordered()
    people, facts, dead_letters = fold(events, tax_year)
    return Season(
        tax_year=tax_year,
        people=people,
        events=events,
        oracle=facts,
        dead_letters=dead_letters,
        seed=seed,
        faults=faults,
        id_prefix=id_prefix,
        policy=policy,
    )


@dataclasses.dataclass
class _Placed:
    position: float
    order: int
    event: Event


class _Builder:
    def __init__(
        self, tax_year: int, seed: int, id_prefix: str, policy: ValidationPolicy, rates: FaultRates
    ) -> None:
        self.tax_year = tax_year
        self.seed = seed
        self.id_prefix = id_prefix
        self.policy = policy
        self.rates = rates
        self.placed: list[_Placed] = []
        self._serial = 0

    def rng(self, stream: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.tax_year}:{stream}")

    def event_id(self) -> str:
        self._serial += 1
        return f"{self.id_prefix}-{self._serial:08d}"

    def place(self, event: Event, position: float) -> _Placed:
        placed = _Placed(position, len(self.placed), event)
        self.placed.append(placed)
        return placed

    def envelope(
        self, record: Record, revision: int, action: str = "upsert", occurred_at: str = ""
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "event_id": self.event_id(),
            "registry": record.registry,
            "schema_version": 1,
            "record_id": record.record_id,
            "revision": revision,
            "action": action,
            "occurred_at": occurred_at or record.occurred_at,
            "pinfl": self.owner[record.record_id],
        }
        if record.registry != "population":
            value["tax_year"] = self.tax_year
        if action == "upsert":
            value["data"] = record.data
        return value

    # --- the people and their records, each published once ----------------------------

    def populate(self, n_people: int) -> None:
        people_rng = self.rng("people")
        issuer = PinflIssuer(people_rng)
        self.persons: list[Person] = [
            make_person(people_rng, issuer, self.tax_year) for _ in range(n_people)
        ]
        income_rng = self.rng("incomes")
        maker = IncomeMaker(income_rng, self.tax_year, Counterparties(income_rng, n_people), issuer)
        self.records: list[_Placed] = []
        self.owner: dict[str, str] = {}
        for person in self.persons:
            registered = Record(
                "population",
                f"POP-{person.pinfl}",
                person.registry_data(),
                stamp(
                    people_rng, date(self.tax_year, 1, 1) + timedelta(days=people_rng.randrange(30))
                ),
            )
            for record in [registered, *maker.records(person, self.persons)]:
                self.owner[record.record_id] = person.pinfl
                value = self.envelope(record, 1)
                placed = self.place(Event(record.registry, person.pinfl, value), len(self.placed))
                self.records.append(placed)

    # --- corrections and voids ---------------------------------------------------------

    def life(self) -> None:
        rng = self.rng("life")
        rates = self.rates
        total = len(self.placed)
        for original in _sample(rng, self.records, rates.corrections):
            value = original.event.value
            assert value is not None
            revisions = 2 if rng.random() < rates.second_corrections else 1
            data = value["data"]
            for step in range(1, revisions + 1):
                data = corrected(rng, value["registry"], data, self.tax_year)
                self._revise(rng, original, value["revision"] + step, data, total)
        incomes = [p for p in self.records if p.event.topic_registry != "population"]
        for original in _sample(rng, incomes, rates.voids):
            value = original.event.value
            assert value is not None
            self._revise(rng, original, value["revision"] + 5, None, total)

    def _revise(
        self,
        rng: random.Random,
        original: _Placed,
        revision: int,
        data: dict[str, Any] | None,
        total: int,
    ) -> None:
        value = original.event.value
        assert value is not None
        record = Record(value["registry"], value["record_id"], data or {}, "")
        later = date.fromisoformat(value["occurred_at"][:10]) + timedelta(days=rng.randint(3, 90))
        new = self.envelope(
            record, revision, "upsert" if data is not None else "void", stamp(rng, later)
        )
        if rng.random() < self.rates.out_of_order:  # overtakes what it replaces
            position = original.position - rng.uniform(0.001, min(original.position, 2000) + 0.001)
        else:
            position = original.position + rng.uniform(0.001, max(total - original.position, 1))
        self.place(Event(value["registry"], original.event.key, new), position)

    # --- events the service must reject -------------------------------------------------

    def broken_events(self) -> None:
        rng = self.rng("faults")
        valid = [p for p in self.placed if p.event.fault is None]
        kinds = list(fault_makers.MAKERS)
        wanted = max(len(kinds), round(len(valid) * self.rates.invalid))
        # Every kind at least once (some apply to some registries only), then at random.
        plan = kinds + [rng.choice(kinds) for _ in range(wanted - len(kinds))]
        for kind in plan:
            for _attempt in range(200):
                source = rng.choice(valid)
                assert source.event.value is not None
                fresh = dict(source.event.value, event_id=self.event_id())  # the next event
                broken = fault_makers.MAKERS[kind](rng, fresh, self.policy)
                if broken is not None:
                    break
            else:
                continue  # no event of a registry this kind applies to
            key = broken.value.get("pinfl") if broken.value is not None else None
            event = Event(
                source.event.topic_registry,
                key if isinstance(key, str) else source.event.key,
                broken.value,
                broken.raw,
                broken.fault,
            )
            self.place(event, rng.uniform(0, len(self.records)))

    def conflicts(self) -> None:
        rng = self.rng("conflicts")
        incomes = [
            p
            for p in self.placed
            if p.event.fault is None
            and p.event.topic_registry != "population"
            and p.event.value is not None
            and p.event.value["action"] == "upsert"
        ]
        for original in _sample(rng, incomes, self.rates.conflicts):
            value = original.event.value
            assert value is not None
            other = dict(value, data=dict(value["data"]))
            amount = CONFLICTING_AMOUNT[value["registry"]]
            other["data"][amount] += THOUSAND  # same event_id, other content
            position = original.position + rng.uniform(
                0.001, max(len(self.records) - original.position, 1)
            )
            self.place(
                Event(value["registry"], original.event.key, other, None, CONFLICT), position
            )

    # --- redeliveries -------------------------------------------------------------------

    def duplicates(self) -> None:
        rng = self.rng("duplicates")
        for original in _sample(rng, list(self.placed), self.rates.duplicates):
            self.place(original.event, original.position + rng.uniform(0.001, 500))

    def ordered(self) -> list[Event]:
        return [p.event for p in sorted(self.placed, key=lambda p: (p.position, p.order))]


def _sample(rng: random.Random, items: list[_Placed], rate: float) -> list[_Placed]:
    if rate <= 0 or not items:
        return []
    return rng.sample(items, k=min(len(items), max(1, round(len(items) * rate))))


# --- the oracle: the contract's rules over the final order --------------------------------


@dataclasses.dataclass
class _Ledger:
    events: dict[str, str] = dataclasses.field(default_factory=dict)  # registry:event_id -> digest
    records: dict[str, tuple[int, str, dict[str, Any] | None]] = dataclasses.field(
        default_factory=dict
    )


def fold(
    events: list[Event], tax_year: int
) -> tuple[list[dict[str, Any]], ExpectedFacts, list[ExpectedDeadLetter]]:
    """People (newest revision), active records per ledger and the dead letters, in order."""
    people: dict[str, tuple[int, dict[str, Any]]] = {}
    ledgers: dict[tuple[str, int], _Ledger] = {}
    dead: list[ExpectedDeadLetter] = []
    for event in events:
        if event.fault is not None and event.fault is not CONFLICT:
            dead.append(_dead_letter(event, event.fault))
            continue
        value = event.value
        assert value is not None
        if event.topic_registry == "population":
            held = people.get(value["pinfl"])
            if held is None or value["revision"] > held[0]:
                people[value["pinfl"]] = (value["revision"], value["data"])
            continue
        ledger = ledgers.setdefault((value["pinfl"], value["tax_year"]), _Ledger())
        digest = hashlib.sha256(canonical_json(value)).hexdigest()
        seen = ledger.events.get(f"{event.topic_registry}:{value['event_id']}")
        if seen is not None and seen != digest:
            dead.append(_dead_letter(event, CONFLICT))
            continue
        if event.fault is CONFLICT:
            raise AssertionError(f"a conflict arrived before its original: {value['event_id']}")
        if seen is not None:
            continue  # a redelivery
        ledger.events[f"{event.topic_registry}:{value['event_id']}"] = digest
        record = f"{value['registry']}/{value['record_id']}"
        held_record = ledger.records.get(record)
        if held_record is not None and value["revision"] <= held_record[0]:
            if value["revision"] == held_record[0]:
                raise AssertionError(f"revision {value['revision']} of {record} published twice")
            continue  # an older revision arriving late
        ledger.records[record] = (value["revision"], value["action"], value.get("data"))
    facts: ExpectedFacts = {
        key: {
            record: (revision, data)
            for record, (revision, action, data) in sorted(ledger.records.items())
            if action == "upsert" and data is not None
        }
        for key, ledger in sorted(ledgers.items())
    }
    return (
        [{"pinfl": pinfl, **data} for pinfl, (_, data) in people.items()],
        facts,
        dead,
    )


def _dead_letter(event: Event, fault: Fault) -> ExpectedDeadLetter:
    return ExpectedDeadLetter(
        topic=registry_topic(event.topic_registry),
        key=event.key,
        reason_code=fault.reason_code,
        field=fault.field,
        event_id=event.event_id,
        raw_sha256=hashlib.sha256(event.payload).hexdigest(),
        fault=fault.kind,
    )
