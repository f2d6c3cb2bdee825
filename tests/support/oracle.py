"""Expected returns from the mock's oracle, computed by the real tax engine, a checker
that compares them with what the pipeline projected into the database, and the identity
of a dead letter to compare with the oracle's expected ones."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from typing import Any, Protocol

from agents.returns_builder import return_id
from contracts.returns_v1 import content_fingerprint, to_returns_v1
from contracts.topics import namespaced
from devtools.registries_mock.oracle import ExpectedFacts
from storage.returns_repository import ReturnsRepository
from tax import RegistryRecord, compute_return, facts_from_records, load_parameters


class HasExpectedFacts(Protocol):  # a Season or an Oracle read back from its file
    @property
    def expected_facts(self) -> ExpectedFacts: ...


def expected_returns(season: HasExpectedFacts) -> dict[str, dict[str, Any]]:
    """The return the engine computes from the oracle's expected facts, per PINFL."""
    parameters = load_parameters()
    expected = {}
    for (pinfl, year), records in season.expected_facts.items():
        facts = facts_from_records(
            pinfl,
            year,
            [
                RegistryRecord(key.split("/", 1)[0], key.split("/", 1)[1], revision, data)
                for key, (revision, data) in sorted(records.items())
            ],
        )
        value = to_returns_v1(
            compute_return(facts, parameters, year),
            return_id=return_id(pinfl, year),
            version=1,
            computed_at="",
        )
        expected[pinfl] = value
    return expected


class ProjectionCheck:
    """Callable probe for ``wait_until``: True once every taxpayer's current return is right."""

    def __init__(
        self, repository: ReturnsRepository, expected: dict[str, dict[str, Any]], tax_year: int
    ) -> None:
        self.repository = repository
        self.expected = {p: content_fingerprint(v) for p, v in expected.items()}
        self.tax_year = tax_year
        self.last_problems: list[str] = []

    def __call__(self) -> bool:
        current = self.repository.latest_by_taxpayer(self.tax_year)
        problems = [f"missing {p}" for p in self.expected if p not in current]
        problems += [
            f"differs {p} (v{current[p].version})"
            for p, fingerprint in self.expected.items()
            if p in current and content_fingerprint(current[p].payload) != fingerprint
        ]
        problems += [f"unexpected {p}" for p in current if p not in self.expected]
        self.last_problems = problems
        return not problems

    def __repr__(self) -> str:
        return f"{len(self.last_problems)} problems, e.g. {self.last_problems[:5]}"


def repeated_identical_versions(
    repository: ReturnsRepository, pinfls: list[str], tax_year: int
) -> list[str]:
    """Taxpayers with two consecutive versions of identical content (there must be none)."""
    repeated = []
    for pinfl in pinfls:
        fingerprints = [
            content_fingerprint(v.payload) for v in repository.versions(pinfl, tax_year)
        ]
        if any(a == b for a, b in itertools.pairwise(fingerprints)):
            repeated.append(pinfl)
    return repeated


def dead_letter_identity(
    key: bytes | None, value: bytes, namespace: str
) -> tuple[str, str | None, str, str | None, str]:
    """A ``registry.deadletter.v1`` message as ``ExpectedDeadLetter.identity()``: source
    topic without the test namespace, key, reason_code, field, SHA-256 of the raw bytes."""
    letter = json.loads(value)
    prefix = namespaced("", namespace)
    topic = letter["source_topic"]
    return (
        topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic,
        None if key is None else key.decode(),
        letter["reason_code"],
        letter["field"],
        hashlib.sha256(base64.b64decode(letter["raw_base64"])).hexdigest(),
    )
