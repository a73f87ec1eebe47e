"""Running the gateway's coroutines on uvloop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The
# store's writer thread needs the GIL back after every SQLite call; while the loop validates a
# large batch, each of those waits would cost it up to the whole interval, and a single order
# behind a 4 MB junk batch waited half a second for its commit (issue 6, benchmarks/hostile_load).
GIL_SWITCH_INTERVAL_S = 0.0005


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed (it is a dependency on every POSIX platform)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    result: int = uvloop.run(coro)
    return result
