"""Sampling the gateway with py-spy while it works, and the top of what it found.

`--profile FILE` records one extra gateway round of case 1 (not counted in the figures: the
sampler costs CPU) as collapsed stacks (py-spy's raw format: one `frame;frame;... count` line
per distinct stack, which flamegraph.pl, inferno or speedscope turn into a picture) and prints
where the samples went: by thread, and by function (self and inclusive), in µs of one CPU per
order. Only samples of running threads are taken (py-spy's default), so waiting is not counted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.processes import BenchError

RATE = 200  # samples a second
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \((?P<tid>\d+)\)(?:: (?P<name>.*))?$")
# How a thread of the gateway shows itself in its stacks: the first of these frames found.
_THREAD_ROLES = (
    ("_run_group", "store writer thread"),
    ("feed_batch", "store reader thread"),
    ("_worker", "other executor threads"),
    ("_thread_main", "paho MQTT thread"),
    ("run_forever", "event loop thread"),
    ("run (uvloop", "event loop thread"),
    ("<module> (run.py", "event loop thread"),
)


def py_spy() -> str:
    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if found is None:
        venv = Path(sys.executable).parent / "py-spy"
        if venv.exists():
            return str(venv)
        raise BenchError("--profile needs py-spy (pip install py-spy, or PY_SPY=/path/to/it)")
    return found


@contextlib.contextmanager
def recording(pid: int, output: Path) -> Iterator[None]:
    process = subprocess.Popen(
        [
            *(py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--threads"),
            *("--nonblocking", "--format", "raw", "--output", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, errors = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            errors = b""
        if not output.exists():
            raise BenchError(f"py-spy recorded nothing: {errors.decode(errors='replace')[-500:]}")


def _frame_name(frame: str) -> str:
    """`handle (gateway/api/orders.py:42)` → `handle (gateway/api/orders.py)`."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['name']} ({file})"


# What a sample was doing: the first of these found anywhere in its stack (order matters: a log
# call made while handling a request counts as logging).
_ACTIVITIES = (
    ("structlog", "logging (structlog)"),
    ("prometheus_client", "metrics"),
    ("_run_group", "store: units of work on the writer thread (SQL, commit)"),
    ("gateway/feed/", "feed: publisher, payloads, aiomqtt/paho"),
    ("aiomqtt/", "feed: publisher, payloads, aiomqtt/paho"),
    ("paho/", "feed: publisher, payloads, aiomqtt/paho"),
    ("dropship_http_json", "suppliers: http_json adapter, aiohttp client"),
    ("aiohttp/client", "suppliers: http_json adapter, aiohttp client"),
    ("aiohttp/connector", "suppliers: http_json adapter, aiohttp client"),
    ("gateway/actors/supplier", "suppliers: actor and outcomes"),
    ("gateway/actors/outcomes", "suppliers: actor and outcomes"),
    ("gateway/actors/router", "router"),
    ("gateway/api/", "HTTP API: intake handler, access, validation"),
    ("gateway/actors/intake", "HTTP API: intake handler, access, validation"),
    ("aiohttp/web", "HTTP API: aiohttp server"),
    ("aiohttp/http_", "HTTP API: aiohttp server"),
    ("feed_batch", "store: reads on the reader thread"),
    ("Database.read", "store: reads on the reader thread"),
    ("gateway/store/", "store: other"),
    ("_worker (concurrent", "threads waking or waiting for work"),
)
_WRAPPERS = (
    "<module>",
    "Runner.run",
    "run_async",
    "main (",
    "cmd_serve",
    "Thread.",
    "_worker (",
    "_WorkItem.run",
    "run (asyncio",
)


@dataclass
class Summary:
    samples: int
    threads: Counter[str]
    activities: Counter[str]
    self_time: Counter[str]
    inclusive: Counter[str]


def summarise(raw: Path) -> Summary:
    threads: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = _THREAD.match(frames[0]) if frames else None
        if thread:
            frames = frames[1:]
        total += count
        threads[_role(frames, thread["name"] if thread else None)] += count
        activities[_activity(stack)] += count
        names = [_frame_name(f) for f in frames]
        if names:
            self_time[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    return Summary(total, threads, activities, self_time, inclusive)


def _activity(stack: str) -> str:
    for marker, activity in _ACTIVITIES:
        if marker in stack:
            return activity
    return "event loop and the rest"


def _role(frames: list[str], name: str | None) -> str:
    """What a sampled thread was: known frames first (py-spy's thread names can be stale)."""
    for marker, role in _THREAD_ROLES:
        if any(marker in frame for frame in frames):
            return role
    return f"thread {name.rstrip('_0123456789')}" if name else "other"


def report(summary: Summary, orders: int, top: int = 15) -> list[str]:
    """Lines to print: the share of samples and µs of CPU per order of the top entries."""
    if not summary.samples:
        return ["   (no samples)"]
    per_order = 1e6 / RATE / orders  # µs of one CPU per sample, per order

    def rows(counter: Counter[str], n: int) -> list[str]:
        return [
            f"   {c / summary.samples * 100:5.1f}%  {c * per_order:7.1f} µs/order  {name}"
            for name, c in counter.most_common(n)
        ]

    lines = [
        f"   {summary.samples:,} samples at {RATE}/s over {orders:,} orders; µs/order = time"
        " a thread was seen running (or waiting for the GIL or a disk flush) per order",
        "   by thread:",
    ]
    lines += rows(summary.threads, 8)
    lines.append("   by activity (what the stack was doing):")
    lines += rows(summary.activities, 20)
    lines.append("   by function, self (the frame on top of the stack):")
    lines += rows(summary.self_time, top)
    lines.append("   by function, inclusive (entry points and thread wrappers left out):")
    interesting = Counter(
        {name: c for name, c in summary.inclusive.items() if not name.startswith(_WRAPPERS)}
    )
    lines += rows(interesting, top)
    return lines
