"""Background tasks of the real-time layer, started in a clean context and never lost.

Work that outlives the frame or event that caused it (a control event applied to a socket,
an empty room deleted after its grace period, a delayed cursor move) runs as a task. Two
things go wrong with a bare ``loop.create_task``: the task inherits the context it was made
in, which may be that of a signal receiver's ``async_to_sync`` whose thread executor is gone
by the time the task reaches the database ("CurrentThreadExecutor already quit"); and its
exception is only reported, if ever, when the task is collected. ``spawn`` gives each task a
context of its own and logs a failure at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

#: Running tasks: the event loop keeps only weak references to them.
_running: set[asyncio.Task[None]] = set()


async def _logged(coroutine: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("background task %s failed", name)


def spawn(
    coroutine: Coroutine[Any, Any, None],
    name: str,
    context: contextvars.Context | None = None,
) -> asyncio.Task[None]:
    """Run ``coroutine`` as a task in ``context`` (a new, empty one by default)."""
    task = asyncio.get_running_loop().create_task(
        _logged(coroutine, name), name=name, context=context or contextvars.Context()
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


def spawn_later(
    delay: float, make: Callable[[], Coroutine[Any, Any, None]], name: str
) -> asyncio.TimerHandle:
    """Run ``make()`` as a task ``delay`` seconds from now (the coroutine is made then)."""
    return asyncio.get_running_loop().call_later(
        delay, lambda: spawn(make(), name), context=contextvars.Context()
    )
