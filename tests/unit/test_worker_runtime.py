"""The worker's interpreter settings (proactax/worker.py ``tune_runtime``): the GIL's switch
interval and the cycle collector's thresholds, measured in docs/benchmarks.md."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from proactax import worker
from streams import loop_times


@pytest.fixture
def restored_runtime() -> Iterator[None]:
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks


@pytest.mark.usefixtures("restored_runtime")
def test_the_worker_collects_cycles_rarely_and_hands_the_gil_over_often() -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    sys.setswitchinterval(0.005)
    worker.tune_runtime()
    assert gc.get_threshold() == (50_000, 20, 20)
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    assert gc.isenabled(), "cycles are still collected, only less often"
    assert loop_times.COLLECTOR.callback in gc.callbacks  # and its pauses logged
