"""Sample a running worker with py-spy and summarise where its time goes.

``Sampler(pid).start()`` records the process's threads (idle samples included) into
py-spy's collapsed-stack format; ``stop()`` returns a ``Profile`` whose ``report()`` prints
the main thread's share of idle time (the event loop waiting in ``select``), its top
functions by own time, and our own modules' functions by inclusive time, which is what
names the next optimisation. Used by ``bench/season.py --profile``.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

OURS = re.compile(r"\((agents|contracts|storage|tax|streams)/")  # not the entry points
IDLE = ("EpollSelector.select", "_worker (concurrent/futures/thread.py)")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclasses.dataclass
class Profile:
    threads: dict[str, collections.Counter[tuple[str, ...]]]

    def report(self, top: int = 12) -> str:
        main = self.threads.get("MainThread", collections.Counter())
        total = sum(main.values())
        if not total:
            return "profile: no samples of the main thread"
        own: collections.Counter[str] = collections.Counter()
        inclusive: collections.Counter[str] = collections.Counter()
        idle = 0
        for stack, n in main.items():
            own[stack[-1]] += n
            idle += n if stack[-1].startswith(IDLE[0]) else 0
            for frame in set(stack):
                if OURS.search(frame):
                    inclusive[frame] += n
        lines = [
            f"profile of the worker's main thread: {total:,} samples, "
            f"{idle / total:.0%} idle (event loop waiting)",
            "  own time:",
            *(f"    {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)),
            "  our code, inclusive:",
            *(f"    {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)),
        ]
        others = {name: sum(c.values()) for name, c in self.threads.items() if name != "MainThread"}
        busy = {
            name: sum(n for stack, n in c.items() if not stack[-1].startswith(IDLE))
            for name, c in self.threads.items()
            if name != "MainThread"
        }
        for name in sorted(others, key=lambda k: -busy[k]):
            if others[name] >= total / 10:  # not threads that lived a moment
                lines.append(f"  thread {name}: busy {busy[name] / others[name]:.0%}")
        return "\n".join(lines)


def parse(text: str) -> Profile:
    threads: dict[str, collections.Counter[tuple[str, ...]]] = collections.defaultdict(
        collections.Counter
    )
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        frames = stack.split(";")
        thread = re.sub(r"^thread \(\w+\): ?", "", frames[0]).strip() or "?"
        names = tuple(re.sub(r":\d+\)$", ")", f) for f in frames[1:]) or ("?",)
        threads[thread][names] += int(count)
    return Profile(dict(threads))


class Sampler:
    def __init__(self, pid: int, out: Path, rate: int = 50) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Sampler:
        binary = py_spy()
        if binary is None:
            print("profile: py-spy is not installed (pip install py-spy)")
            return self
        self.process = subprocess.Popen(
            [binary, "record", "--pid", str(self.pid), "--format", "raw", "--idle",
             "--threads", "--nonblocking", "--rate", str(self.rate), "-o", str(self.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return self

    def stop(self) -> Profile | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None
        return parse(self.out.read_text()) if self.out.exists() else None
