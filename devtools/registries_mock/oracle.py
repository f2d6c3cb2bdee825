"""The right answers of a season, as a JSON file for tests and benchmarks.

* Expected facts: per ``(pinfl, tax_year)`` the active records the ledger must hold
  (``"<registry>/<record_id>"`` -> revision and data); a ledger whose records were all
  voided is present and empty.
* Expected dead letters: one per rejected event *delivery* (a replayed bad event is
  rejected each time), with the source topic (without namespace), Kafka key, reason_code,
  field, the event_id when readable, and the SHA-256 of the exact bytes published (the
  dead letter's ``raw_base64`` decodes to them).

File layout (``format`` = ``proactax.mock.oracle/1``)::

    {"format", "tax_year", "seed", "people", "faults", "id_prefix",
     "policy": {"tax_years": [first, last], "max_event_bytes", "pinfl_check_digit"},
     "counts": {"events", "by_registry": {...}, "by_fault": {...}},
     "expected_facts": {"<pinfl>:<tax_year>": {"<registry>/<record_id>":
                                               {"revision", "data"}}},
     "expected_dead_letters": [{"topic", "key", "reason_code", "field", "event_id",
                                "raw_sha256", "fault"}]}
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

FORMAT = "proactax.mock.oracle/1"

# (pinfl, tax_year) -> {"<registry>/<record_id>": (revision, data)}
ExpectedFacts = dict[tuple[str, int], dict[str, tuple[int, dict[str, Any]]]]


@dataclasses.dataclass(frozen=True, slots=True)
class ExpectedDeadLetter:
    topic: str  # e.g. "registry.payroll.v1" (no test namespace)
    key: str | None
    reason_code: str
    field: str | None
    event_id: str | None
    raw_sha256: str
    fault: str  # the fault kind that produced it, e.g. "schema.unknown_field"

    def identity(self) -> tuple[str, str | None, str, str | None, str]:
        """What a dead letter on the topic must match: (topic, key, reason, field, bytes)."""
        return (self.topic, self.key, self.reason_code, self.field, self.raw_sha256)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Oracle:
    tax_year: int
    seed: int
    people: int
    faults: bool
    id_prefix: str
    policy: dict[str, Any]
    counts: dict[str, Any]
    expected_facts: ExpectedFacts
    expected_dead_letters: tuple[ExpectedDeadLetter, ...]

    @property
    def taxpayers(self) -> list[str]:
        """PINFLs that get a return for the tax year (they have an income ledger)."""
        return sorted({pinfl for pinfl, year in self.expected_facts if year == self.tax_year})

    def dead_letter_multiset(self) -> Counter[tuple[str, str | None, str, str | None, str]]:
        return Counter(d.identity() for d in self.expected_dead_letters)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tax_year": self.tax_year,
            "seed": self.seed,
            "people": self.people,
            "faults": self.faults,
            "id_prefix": self.id_prefix,
            "policy": self.policy,
            "counts": self.counts,
            "expected_facts": {
                f"{pinfl}:{year}": {
                    key: {"revision": revision, "data": data}
                    for key, (revision, data) in sorted(records.items())
                }
                for (pinfl, year), records in sorted(self.expected_facts.items())
            },
            "expected_dead_letters": [d.as_json() for d in self.expected_dead_letters],
        }

    def write(self, path: str | Path) -> Path:
        """Write the oracle as JSON (UTF-8); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as handle:
            json.dump(self.as_json(), handle, ensure_ascii=False, separators=(",", ":"))
            handle.write("\n")
        return target

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Oracle:
        if document.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document: format {document.get('format')!r}")
        facts: ExpectedFacts = {}
        for ledger, records in document["expected_facts"].items():
            pinfl, year = ledger.rsplit(":", 1)
            facts[(pinfl, int(year))] = {
                key: (int(record["revision"]), record["data"]) for key, record in records.items()
            }
        return cls(
            tax_year=int(document["tax_year"]),
            seed=int(document["seed"]),
            people=int(document["people"]),
            faults=bool(document["faults"]),
            id_prefix=str(document["id_prefix"]),
            policy=dict(document["policy"]),
            counts=dict(document["counts"]),
            expected_facts=facts,
            expected_dead_letters=tuple(
                ExpectedDeadLetter(**d) for d in document["expected_dead_letters"]
            ),
        )


def load_oracle(path: str | Path) -> Oracle:
    """Read an oracle file written by ``Season.write_oracle`` / ``Oracle.write``."""
    with Path(path).open(encoding="utf-8") as handle:
        return Oracle.from_json(json.load(handle))
