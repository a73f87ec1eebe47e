"""Running the gateway's coroutines on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed (it is a dependency on every POSIX platform)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    result: int = uvloop.run(coro)
    return result
