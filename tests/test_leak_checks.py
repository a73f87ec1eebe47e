"""The autouse `no_leftovers` fixture (tests/conftest.py) fails a test whose background tasks
died with an exception nobody retrieved: prove that it sees one, through the very collector it
installed for this test, and that it stays quiet about exceptions that were looked at.
(tests/test_store.py proves the other half: tasks left running and databases left open.)"""

from __future__ import annotations

import asyncio
import gc

import pytest

from tests.conftest import TaskFailures


async def test_a_task_that_died_with_an_exception_nobody_retrieved_is_caught(
    no_leftovers: TaskFailures,
) -> None:
    async def fail() -> None:
        raise ValueError("lost in the background")

    task = asyncio.create_task(fail(), name="forgotten-worker")
    await asyncio.wait([task])  # it has died; `wait` does not look at its exception
    del task
    gc.collect()  # the loop reports such a task when it is collected
    assert len(no_leftovers.lost) == 1, no_leftovers.lost
    [report] = no_leftovers.lost
    assert "forgotten-worker" in report
    assert "ValueError('lost in the background')" in report
    no_leftovers.lost.clear()  # caught as it should be: let this test pass


async def test_a_task_destroyed_while_still_pending_is_caught(no_leftovers: TaskFailures) -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await asyncio.get_running_loop().create_future()  # nobody else holds this future

    task = asyncio.create_task(stuck(), name="abandoned-worker")
    await started.wait()
    del task
    gc.collect()  # the task and its future only refer to each other: collected, still pending
    assert len(no_leftovers.lost) == 1, no_leftovers.lost
    assert "abandoned-worker" in no_leftovers.lost[0]
    assert "destroyed but it is pending" in no_leftovers.lost[0]
    no_leftovers.lost.clear()


async def test_an_exception_that_was_retrieved_is_not_reported(
    no_leftovers: TaskFailures,
) -> None:
    async def fail() -> None:
        raise ValueError("looked at")

    task = asyncio.create_task(fail())
    with pytest.raises(ValueError, match="looked at"):
        await task
    del task
    gc.collect()
    assert no_leftovers.lost == []
