"""Load shedding and abandoned requests: a bounded number of requests in the service, and work that stops when
its client goes away.

:class:`Admission` lets at most `max_queue` model requests be queued or running at once; one more is refused at
once (503 with Retry-After) instead of waiting behind work the service cannot finish in time.
:func:`until_disconnect` runs a request's work while watching its connection: when the client disconnects, the
work is cancelled, so a request still waiting in a batcher's queue is dropped there and never reaches the model.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Admission", "Overloaded", "ClientGone", "until_disconnect"]

R = TypeVar("R")
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class Overloaded(RuntimeError):
    """The request queue is full; `retry_after` is the suggested wait in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ClientGone(Exception):
    """The client disconnected before its answer was ready; nothing is sent back."""


@dataclass
class AdmissionStats:
    """Request counters for /stats and /health (touched only on the event loop thread)."""

    admitted: int = 0
    completed: int = 0
    failed: int = 0
    shed: int = 0
    disconnected: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Admission:
    """At most `max_queue` requests inside the service (queued or computing); the rest are shed with 503.

    Used from the event loop only (no locks needed): :meth:`enter` before the work, :meth:`leave` after it.
    """

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.stats = AdmissionStats()
        self._started: dict[int, float] = {}  # ticket -> monotonic start time of each request inside
        self._tickets = itertools.count()
        self._latency: float | None = None  # running mean of completed requests' seconds (for Retry-After)

    @property
    def in_flight(self) -> int:
        return len(self._started)

    def enter(self) -> int:
        """Admit one request and return its ticket, or raise :class:`Overloaded` if `max_queue` are already in."""
        if self.in_flight >= self.max_queue:
            self.stats.shed += 1
            raise Overloaded(f"the server is at capacity ({self.in_flight} requests queued or running, its "
                             f"max_queue); retry after the Retry-After seconds", self.retry_after())
        ticket = next(self._tickets)
        self._started[ticket] = time.monotonic()
        self.stats.admitted += 1
        return ticket

    def leave(self, ticket: int, outcome: str) -> None:
        """The request of `ticket` is done: `outcome` is ``completed``, ``failed`` or ``disconnected``."""
        seconds = time.monotonic() - self._started.pop(ticket)
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        if outcome == "completed":
            self._latency = seconds if self._latency is None else self._latency + 0.2 * (seconds - self._latency)

    def retry_after(self) -> int:
        """Whole seconds (1 to 60) until a slot is likely free: the recent latency of a request; before any
        request completed, how long the oldest one inside has been waiting (it takes at least that long)."""
        if self._latency is not None:
            guess = self._latency
        else:
            guess = time.monotonic() - min(self._started.values()) if self._started else 1.0
        return max(1, min(60, math.ceil(guess)))


async def until_disconnect(receive: Receive, work: Coroutine[Any, Any, R]) -> R:
    """Run `work` until it finishes or the client disconnects (then cancel it and raise :class:`ClientGone`).

    `receive` is the request's ASGI receive channel after its body was read: its next message is
    ``http.disconnect`` when the connection closes.
    """
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # noqa: S110 - the client is gone; its failure has nobody to go to
        pass
    raise ClientGone()
