"""What every benchmark prints about the machine it ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> str:
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"machine: {platform.platform()}; CPU: {cpu_model()} x {os.cpu_count()}{memory}; "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def stat_cpu_seconds(stat: str, children: bool = False) -> float:
    """User + system CPU seconds from a /proc/<pid>/stat (or task/<tid>/stat) line, with
    the waited-for children's when ``children``."""
    fields = stat.rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11 : 15 if children else 13])  # utime, stime, cu-, cs-
    return ticks / os.sysconf("SC_CLK_TCK")
