"""Running the gateway's coroutines on uvloop."""

from __future__ import annotations

import asyncio
import gc
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


def settle_heap() -> None:
    """Once started: what exists by now (modules, config, plugins, the app) lives as long as
    the process, so it is frozen out of the collector's scans. A full collection under load
    then walks the few ten thousand objects made since, not everything the imports made: the
    loop stalled 25-100 ms at each (about one a second at 700 orders/s), 1-6 ms with this
    (quick benchmark: intake max at 300 orders/s 44 ms -> 15 ms)."""
    gc.collect()
    gc.freeze()
