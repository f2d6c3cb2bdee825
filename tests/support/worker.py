"""The stream worker as a real child process, for integration tests."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from devtools.processes import ServiceProcess


class WorkerProcess(ServiceProcess):
    def __init__(self, settings: Settings, log_path: Path) -> None:
        super().__init__("worker", ["worker", "--loglevel", "info"], settings, log_path)

    def assert_alive(self) -> None:
        """Fail at once, with its log, when the worker has died: no point waiting for it."""
        assert self.alive(), f"the worker exited:\n{self.log_tail()}"

    def start(self) -> WorkerProcess:
        super().start()
        return self
