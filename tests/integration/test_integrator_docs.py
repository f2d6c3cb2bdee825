"""The copy-paste examples in docs/integrators.md work: kcat and Python publish events that
end up in a return, a correction makes a new version, and dead letters can be read.

The examples name the production topics and 127.0.0.1:9092; the test points them at its
own broker and topic namespace and runs them otherwise as written.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proactax.kafka_client import credentials
from proactax.settings import Settings
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.returns_repository import ReturnsRepository
from tests.support.kcat import kcat_environment
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/integrators.md has no example {name!r}"
    return match.group(1)


def retarget(code: str, settings: Settings) -> str:
    """Point an example at the test broker, its CA and this test's topic namespace."""
    code = code.replace("127.0.0.1:9092", settings.bootstrap_servers)
    code = re.sub(r"(?<![\w/])ca\.pem", str(settings.kafka_ca_path), code)
    return re.sub(r"(?<![\w.])registry\.", f"{settings.topic_namespace}.registry.", code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_documented_examples_reach_a_return(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    assert shutil.which("kcat"), "kcat is needed: apt-get install kcat (bash .ci/run does)"
    # 2 February 2027: the 2026 cut-off has passed, so returns are computed without closure.
    settings = dataclasses.replace(pipeline_settings, clock_start="2027-02-02T09:00:00+05:00")
    upgrade(settings.database)
    repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
    # the examples log in as the payroll registry, its password in KAFKA_PASSWORD
    _, password = credentials(settings, "registry-payroll")
    env = kcat_environment(tmp_path / "librdkafka", KAFKA_PASSWORD=password)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        kcat_publish = retarget(example("kcat-publish"), settings)
        assert "sasl.username=registry-payroll" in kcat_publish
        subprocess.run(["bash", "-c", kcat_publish], check=True, env=env, timeout=60)
        first = wait_until(
            lambda: worker.assert_alive() or repository.latest("31403850261230", 2026),
            timeout_s=120,
            what="the kcat event in a return",
            describe=worker.log_tail,
        )
        assert first.payload["totals"]["gross_income_tiyin"] == 1_200_000_000

        kcat_correct = retarget(example("kcat-correct"), settings)
        subprocess.run(["bash", "-c", kcat_correct], check=True, env=env, timeout=60)
        corrected = wait_until(
            lambda: (
                worker.assert_alive()
                or _version_at_least(repository, "31403850261230", first.version + 1)
            ),
            timeout_s=120,
            what="the correction in a new version",
            describe=worker.log_tail,
        )
        assert corrected.payload["totals"]["gross_income_tiyin"] == 1_300_000_000

        script = tmp_path / "publish.py"
        script.write_text(retarget(example("python-publish"), settings))
        subprocess.run([sys.executable, str(script)], check=True, timeout=120, env=env)
        python_return = wait_until(
            lambda: (
                worker.assert_alive()
                or _gross_at_least(repository, "40207920400774", 12 * 800_000_000)
            ),
            timeout_s=120,
            what="the Python example's 12 months in a return",
            describe=worker.log_tail,
        )
        assert python_return.payload["totals"]["gross_income_tiyin"] == 12 * 800_000_000

        # A bad event, then the documented dead-letter reader shows it.
        bad = example("kcat-publish").replace('"month":3', '"month":13')
        bad = bad.replace("pay-2026-03-000123-r1", "pay-2026-13-bad")
        subprocess.run(["bash", "-c", retarget(bad, settings)], check=True, env=env, timeout=60)
        reader = retarget(example("kcat-deadletters"), settings)
        letters = wait_until(
            lambda: (
                worker.assert_alive()
                or subprocess.run(
                    ["bash", "-c", reader], capture_output=True, text=True, env=env, timeout=60
                ).stdout
            ),
            timeout_s=120,
            what="the dead letter readable with kcat",
            describe=worker.log_tail,
        )
        assert '"reason_code": "out_of_range"' in letters and "data.month" in letters
    finally:
        assert worker.stop() == 0, worker.log_tail()


def _version_at_least(repository: ReturnsRepository, pinfl: str, version: int):
    row = repository.latest(pinfl, 2026)
    return row if row is not None and row.version >= version else None


def _gross_at_least(repository: ReturnsRepository, pinfl: str, gross: int):
    row = repository.latest(pinfl, 2026)
    return row if row and row.payload["totals"]["gross_income_tiyin"] >= gross else None
