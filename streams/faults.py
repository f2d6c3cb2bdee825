"""Fault points: where the crash tests make a worker die as ``kill -9`` would, one switch for
all of them. Development and tests only; empty in every deployment.

``PROACTAX_FAULT_POINT=<name>`` (``Settings.fault_point``) kills the process (SIGKILL) the
first time it reaches the point ``<name>``; ``stop_<name>`` stops it there (SIGSTOP) until a
SIGCONT, a zombie in the making. The points: ``before_commit`` (a registry batch's outputs
sent, its transaction not committed) and ``restore`` (part of a store restored) in
streams/transactions.py; ``returns_projection``, ``people_projection`` and
``feed_health`` (a batch's rows and offsets written, not committed) in the
projections (agents/projection.py, agents/feed_health.py through streams/committed.py).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

from core.settings import Settings

log = logging.getLogger(__name__)

_FIRED: set[str] = set()


def hit(settings: Settings, name: str) -> None:
    """The fault point ``name``: kill or stop this process here if the setting says so (once
    per process); otherwise nothing."""
    if name in _FIRED or settings.fault_point not in (name, f"stop_{name}"):
        return
    _FIRED.add(name)
    if settings.fault_point == name:
        log.warning("fault point %s: killing this process", name)
        os.kill(os.getpid(), signal.SIGKILL)
    log.warning("fault point %s: stopping this process", name)
    os.kill(os.getpid(), signal.SIGSTOP)


def armed(settings: Settings, name: str) -> Callable[[], None] | None:
    """For a hot loop that checks once: a function that hits ``name``, or None when the
    setting names another point (or none)."""
    if settings.fault_point not in (name, f"stop_{name}"):
        return None
    return lambda: hit(settings, name)
