"""Running the gateway's coroutines on uvloop."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any

# The store's writer thread gives up the GIL at every SQLite step and must get it back from
# the event loop's thread; with Python's default 5 ms switch interval a busy loop made it wait
# up to 5 ms each time, and a group commit of a few hundred statements took tens of ms
# (and a single order behind a 4 MB junk batch half a second: benchmarks/hostile_load).
SWITCH_INTERVAL_S = float(os.environ.get("GATEWAY_SWITCH_INTERVAL_S", "0.0005"))


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed (it is a dependency on every POSIX platform)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    result: int = uvloop.run(coro)
    return result
