"""``proactax demo --from/--to``: a compressed season runs as a real command against the
real broker and prints the funnel at each milestone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_a_compressed_season_prints_the_funnel_at_each_milestone(kafka: Settings) -> None:
    env = {**os.environ, **kafka.as_env(), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "proactax", "demo", "--from", "2027-03-29", "--to",
               "2027-06-03", "--people", "40", "--day-seconds", "0.2"]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    output = done.stdout + done.stderr
    database = re.search(r"database sqlite:///(\S+)/proactax\.db", output)
    if database:
        shutil.rmtree(database.group(1), ignore_errors=True)
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"== 2027-0[34]-\d\d · the first notices are out ==", output), output
    for milestone in (
        "2027-04-01 · 1 April: the declaration deadline",
        "2027-06-01 · 1 June: the payment deadline",
        "2027-06-03 · the last day",
    ):
        assert f"== {milestone} ==" in output, output[-4000:]
    last = output[output.index("· the last day ==") :]
    assert re.search(r"ever reached: notified [1-9]", last), last
    assert "money:" in last and "Simulated actions:" in output
