"""The guide's PINFL check-digit code (docs/integrators.md, example pinfl-check) runs as
written and agrees with the service's own check on generated and corrupted PINFLs."""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

from contracts.value_rules import pinfl_check_digit_ok
from devtools.registries_mock.pinfl import make_pinfl

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/integrators.md has no example {name!r}"
    return match.group(1)


def test_the_guides_check_digit_code_agrees_with_the_service() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(example("pinfl-check"), "pinfl-check", "exec"), namespace)  # its asserts run
    pinfl_ok = namespace["pinfl_ok"]
    rng = random.Random(17)
    for i in range(500):
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(30_000))
        good = make_pinfl(born, rng.choice("MF"), rng.randrange(1, 1000), i % 1000)
        bad = good[:13] + str((int(good[13]) + rng.randrange(1, 10)) % 10)
        assert pinfl_ok(good) and pinfl_check_digit_ok(good), good
        assert not pinfl_ok(bad) and not pinfl_check_digit_ok(bad), bad
    assert not pinfl_ok("3140385026123") and not pinfl_ok("3140385026123x")


def test_every_registrys_example_is_a_valid_event_keyed_by_its_pinfl() -> None:
    """The JSON of each kcat-<registry> example passes the service's own validation, on
    its registry's topic, with the key the example sends."""
    from contracts.registry_events import ValidationPolicy, decode_event
    from contracts.topics import REGISTRIES
    from core.settings import Settings

    policy = ValidationPolicy.from_settings(Settings.from_env({"PROACTAX_DEVELOPMENT": "1"}))
    for registry in REGISTRIES:
        name = "kcat-publish" if registry == "payroll" else f"kcat-{registry}"
        code = example(name)
        line = re.search(r"echo '([^']*)'", code)
        assert line, name
        key, value = line.group(1).split("|", 1)
        assert f"-t registry.{registry}.v1" in code and f"registry-{registry}" in code
        event = decode_event(value.encode(), registry, policy)
        assert event.pinfl == key, name
