"""Per-API-key limits of the ingest API: a request rate (GCRA: ``rate_per_s`` on average,
bursts of up to ``burst``) and a number of requests in flight. A request over either is
refused with how long to wait (the API answers 429 with ``Retry-After``). Limits hold per
portal process; with N replicas behind a balancer a key gets at most N times as much."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class IngestLimiter:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or concurrency < 1:
            raise ValueError("rate_per_s > 0, burst >= 1 and concurrency >= 1")
        self._interval = 1.0 / rate_per_s
        self._tolerance = (burst - 1) * self._interval
        self._concurrency = concurrency
        self._clock = clock
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}  # theoretical arrival time of each key's next request
        self._in_flight: dict[str, int] = {}

    def acquire(self, key_id: str) -> int | None:
        """``None``: admitted (call ``release`` when done); else seconds to wait (>= 1)."""
        with self._lock:
            now = self._clock()
            if self._in_flight.get(key_id, 0) >= self._concurrency:
                return 1
            tat = max(self._tat.get(key_id, now), now)
            wait = tat - now - self._tolerance
            if wait > 0:
                return max(1, math.ceil(wait))
            self._tat[key_id] = tat + self._interval
            self._in_flight[key_id] = self._in_flight.get(key_id, 0) + 1
            return None

    def release(self, key_id: str) -> None:
        with self._lock:
            left = self._in_flight.get(key_id, 0) - 1
            if left > 0:
                self._in_flight[key_id] = left
            else:
                self._in_flight.pop(key_id, None)
