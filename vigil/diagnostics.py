"""`kill -USR1 <pid>`: a running process logs what each of its asyncio tasks is waiting on.

For operations: a process that has gone quiet (no readings handed off, no batches written) can
be asked where it stands without stopping it. Each task is logged as one line, its await chain
from the outermost coroutine to the innermost awaitable.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger("vigil.diagnostics")


def install_task_dump(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks, loop)


def dump_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    log.warning("task dump: %d tasks", len(tasks))
    for task in tasks:
        log.warning("task %s: %s", task.get_name(), " <- ".join(await_chain(task.get_coro())))


def await_chain(awaitable: Any) -> list[str]:
    """Frames of a coroutine and of whatever it awaits, outermost first."""
    chain: list[str] = []
    while awaitable is not None and len(chain) < 50:
        frame = (
            getattr(awaitable, "cr_frame", None)
            or getattr(awaitable, "ag_frame", None)
            or getattr(awaitable, "gi_frame", None)
        )
        if frame is None:
            chain.append(type(awaitable).__name__)
        else:
            code = frame.f_code
            chain.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {code.co_name}")
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "ag_await", None)
            or getattr(awaitable, "gi_yieldfrom", None)
        )
    return chain
