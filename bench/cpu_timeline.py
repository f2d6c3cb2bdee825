"""Once a second, the CPU each process of a run used: every worker (``proactax worker``),
the broker (``kafka.Kafka``) and the bench, and how busy the machine's cores were; every
``--threads-every`` seconds, each worker's CPU by thread (the event loop, the database
threads, RocksDB's) since it started. Run it beside ``bench/season.py``:

    python bench/cpu_timeline.py timeline.txt &   # stop it with kill when the bench ends

This is how the eighth session found that two workers used both cores in the middle of
a run and lost their time at its start (docs/benchmarks.md). Reads /proc (Linux) only.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import stat_cpu_seconds


def processes() -> dict[str, tuple[int, float]]:
    """name ► (pid, CPU seconds so far) of the processes of a bench run."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        if "kafka.Kafka" in command:
            name = "broker"
        elif "proactax" in command and " worker" in command:
            name = f"worker{pid}"
        elif "bench/season.py" in command:
            name = "bench"
        else:
            continue
        found[name] = (int(pid), stat_cpu_seconds(stat))
    return found


def threads(pid: int) -> dict[str, float]:
    """CPU seconds by thread name ("main" for the process's own thread), most first."""
    by_name: dict[str, float] = collections.defaultdict(float)
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        name = "main" if tid == str(pid) else stat[stat.index("(") + 1 : stat.rindex(")")]
        by_name[name] += stat_cpu_seconds(stat)
    return dict(sorted(by_name.items(), key=lambda item: -item[1]))


def machine() -> tuple[float, float]:
    """(idle, total) CPU seconds of the machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return fields[3] / tick, sum(fields) / tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads-every", type=int, default=5)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    before, (idle, total) = processes(), machine()
    started = time.monotonic()
    with args.out.open("w") as out:
        while True:
            time.sleep(1)
            now, (idle_now, total_now) = processes(), machine()
            busy = cores * (1 - (idle_now - idle) / max(total_now - total, 1e-9))
            used = {
                name: round(cpu - before.get(name, (0, 0.0))[1], 2)
                for name, (_, cpu) in now.items()
            }
            second = round(time.monotonic() - started)
            out.write(f"{second} cores busy {busy:.2f} {used}\n")
            if second % args.threads_every == 0:
                for name, (pid, _) in now.items():
                    if name.startswith("worker"):
                        by_thread = " ".join(f"{t}={s:.1f}" for t, s in threads(pid).items())
                        out.write(f"{second} {name} {by_thread}\n")
            out.flush()
            before, idle, total = now, idle_now, total_now


if __name__ == "__main__":
    main()
