"""SIGUSR1 task dumps name where each task is stuck, outermost coroutine first."""

from __future__ import annotations

import asyncio
import logging

import pytest

from vigil.diagnostics import await_chain, dump_tasks


async def _inner(gate: asyncio.Event) -> None:
    await gate.wait()


async def _outer(gate: asyncio.Event) -> None:
    await _inner(gate)


def test_a_waiting_task_is_shown_down_to_what_it_waits_on(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[str]:
        gate = asyncio.Event()
        task = asyncio.create_task(_outer(gate), name="stuck")
        await asyncio.sleep(0)
        chain = await_chain(task.get_coro())
        with caplog.at_level(logging.WARNING, logger="vigil.diagnostics"):
            dump_tasks(asyncio.get_running_loop())
        gate.set()
        await task
        return chain

    chain = asyncio.run(scenario())
    names = [c.split()[-1] for c in chain]
    assert names[:3] == ["_outer", "_inner", "wait"]
    assert ":" not in chain[-1]  # the innermost awaitable is not a coroutine (a future)
    assert any(
        "task stuck:" in r.getMessage() and "_inner" in r.getMessage() for r in caplog.records
    )
