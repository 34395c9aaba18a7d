"""The work a service process keeps doing in the background (its consumers, the outbox relay,
its timers and sweeps), started and watched here, and the waits inside those loops.

- `Watch.start`: a task whose end by an exception is logged (`background_task_ended`) and kept,
  so /healthz and /livez say so; under `opendeur serve` the process then stops gracefully with
  exit status 70 (`EXIT_TASK_ENDED`), and whatever supervises it starts it again: `opendeur up`
  (with its back-off when it keeps failing at start), compose's restart policy, the kubelet.
  Before, such an end went unseen: the service stayed up, its health check green, and that
  work stopped until someone restarted it (a helper's review of the loops, 6 December 2026).
- `woken` and `within`: waits with a timeout that a stop's cancellation always ends. On Python
  3.11 `asyncio.wait_for` returns the result of what it waited for when that came at the same
  moment as the cancellation, and the cancellation is lost: a loop around it ran on after a
  stop, and the stop then waited for it until the process was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from opendeur.logging import get_logger

log = get_logger(component="tasks")

T = TypeVar("T")
# Set by `opendeur serve`: what stops the server gracefully once a background task ended by an
# exception, so the process exits with EXIT_TASK_ENDED to be started again.
on_ended: Callable[[], None] | None = None
EXIT_TASK_ENDED = 70  # EX_SOFTWARE


class Watch:
    """The background tasks of one process, and those of them that ended by an exception."""

    def __init__(self) -> None:
        self.ended: dict[str, str] = {}  # task name → the exception's type that ended it

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run `coro` as a task named `name`. A task that returns (a subscription made once)
        or is cancelled (a stop) has done its part; one that raises has ended too early."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        error = type(task.exception()).__name__
        self.ended[task.get_name()] = error
        # The type only: an exception's message may carry a value it was given.
        log.error(
            "background_task_ended", task=task.get_name(), error=error, stops=on_ended is not None
        )
        if on_ended is not None:
            on_ended()

    @property
    def all_running(self) -> bool:
        return not self.ended


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` have passed (True when it was set)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


async def within(aw: Awaitable[T], seconds: float) -> T:
    """`aw`'s result, or TimeoutError after `seconds` (asyncio.wait_for without its lost
    cancellation)."""
    async with asyncio.timeout(seconds):
        return await aw
