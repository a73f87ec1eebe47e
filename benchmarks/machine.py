"""What the machine is and what it is doing: CPU model and cores, load, steal time, the CPU and
peak memory of processes (all read from /proc), and what else is running meanwhile.

On a machine shared with other work, absolute figures move with the neighbours; these readings
let a reader tell a slow gateway from a busy machine.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; NaN once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return float("nan")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of a process, by thread name (names repeat: summed)."""
    result: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                name = stat[stat.index("(") + 1 : stat.rindex(")")]
                fields = stat.rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
                result[name] = result.get(name, 0.0) + cpu
    return result


def memory_mib(pid: int, key: str = "VmHWM") -> float:
    """A memory figure of /proc/<pid>/status in MiB: VmHWM (peak RSS) or VmRSS."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU counters of /proc/stat, in seconds summed over all CPUs."""

    busy: float
    idle: float
    steal: float

    @staticmethod
    def now() -> CpuTimes:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, idle, iowait, irq, softirq, steal = fields
        busy = user + nice + system + irq + softirq
        return CpuTimes(busy / CLOCK_TICKS, (idle + iowait) / CLOCK_TICKS, steal / CLOCK_TICKS)


@dataclass(frozen=True)
class Usage:
    """How the machine's CPUs were used over an interval."""

    wall_s: float
    busy_cpus: float  # CPUs' worth of work done, all processes
    ours_cpus: float  # of which the benchmark's own processes (bench, broker, suppliers, systems)
    steal_pct: float  # of all CPU time, taken by the hypervisor

    @property
    def others_cpus(self) -> float:
        return max(0.0, self.busy_cpus - self.ours_cpus)


def usage(before: CpuTimes, after: CpuTimes, ours_s: float, wall_s: float) -> Usage:
    total = (after.busy - before.busy) + (after.idle - before.idle) + (after.steal - before.steal)
    return Usage(
        wall_s=wall_s,
        busy_cpus=(after.busy - before.busy) / wall_s if wall_s else float("nan"),
        ours_cpus=ours_s / wall_s if wall_s else float("nan"),
        steal_pct=(after.steal - before.steal) / total * 100 if total else float("nan"),
    )


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def busiest_processes(
    interval_s: float, exclude: Iterable[int] = (), top: int = 5
) -> list[tuple[str, float]]:
    """The processes that used the most CPU over `interval_s` (seconds of CPU per second):
    what else the machine was doing. Blocks for `interval_s`."""

    def sample() -> dict[int, tuple[str, float]]:
        found: dict[int, tuple[str, float]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                name = stat[stat.index("(") + 1 : stat.rindex(")")]
                fields = stat.rsplit(")", 1)[1].split()
                found[int(entry)] = (name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        return found

    first = sample()
    time.sleep(interval_s)
    second = sample()
    skip = set(exclude) | {os.getpid()}
    used: dict[str, float] = {}
    for pid, (name, cpu) in second.items():
        if pid in skip or pid not in first:
            continue
        used[name] = used.get(name, 0.0) + (cpu - first[pid][1]) / interval_s
    return sorted(((n, c) for n, c in used.items() if c >= 0.01), key=lambda x: -x[1])[:top]


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount, fstype = parts[1], parts[2]
            if str(path.resolve()).startswith(mount) and len(mount) >= len(best):
                best, kind = mount, f"{fstype} ({parts[0]} on {mount})"
    return kind


def description(workdir: Path) -> list[tuple[str, str]]:
    """(what, value) rows that say which machine and software the figures come from."""
    usable = len(os.sched_getaffinity(0))
    libraries = ", ".join(
        f"{name} {_version(name)}"
        for name in ("aiohttp", "uvloop", "msgspec", "aiomqtt", "paho-mqtt", "aiosqlite")
    )
    return [
        ("CPU", f"{cpu_model()}; {os.cpu_count()} CPUs, {usable} usable by this process"),
        ("memory", f"{_mem_total_gib():.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("SQLite", sqlite3.sqlite_version),
        ("libraries", libraries),
        ("data on", filesystem_of(workdir)),
    ]


def _mem_total_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def children_named(name: str) -> list[int]:
    """Pids of this process's children whose command name is `name` (the broker)."""
    found: list[int] = []
    me = os.getpid()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{me}/task"):
            with contextlib.suppress(OSError):
                for pid in Path(f"/proc/{me}/task/{task}/children").read_text().split():
                    with contextlib.suppress(OSError):
                        if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                            found.append(int(pid))
    return found
