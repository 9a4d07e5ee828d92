"""Micro-batching: concurrent requests queue up and reach the model together, as one batched call.

While one batch runs, new requests wait in the queue; the next batch takes all of them (up to `max_batch`).
So under load batches grow by themselves, and a lone request waits at most `max_wait_ms` for company.
The batch function runs in a worker thread so the event loop keeps serving health checks and new requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rerankit.errors import InputError

__all__ = ["MicroBatcher", "BatcherStats", "ShuttingDown"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class ShuttingDown(RuntimeError):
    """The batcher is draining for shutdown and takes no new work."""


@dataclass
class BatcherStats:
    """Counters for /stats: how much batching actually happened."""

    items: int = 0
    batches: int = 0
    largest_batch: int = 0
    failed_items: int = 0
    dropped_items: int = 0  # callers that went away (disconnected) before their item reached the model
    busy_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        mean = self.items / self.batches if self.batches else 0.0
        return {"items": self.items, "batches": self.batches, "mean_batch": round(mean, 2),
                "largest_batch": self.largest_batch, "failed_items": self.failed_items,
                "dropped_items": self.dropped_items, "busy_seconds": round(self.busy_seconds, 3)}


class MicroBatcher(Generic[T, R]):
    """Collects items from concurrent callers into batches for `fn(list[T]) -> list[R]` (same length, order).

    If a batch fails, its items are retried one by one, so one bad request fails alone, not its batch-mates.
    An item whose caller was cancelled (its client disconnected) is dropped from the queue uncomputed, and
    counted in ``stats.dropped_items``.
    """

    def __init__(self, fn: Callable[[list[T]], Sequence[R]], name: str, max_batch: int = 32,
                 max_wait_ms: float = 5.0, executor: ThreadPoolExecutor | None = None) -> None:
        if max_batch < 1:
            raise InputError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise InputError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.fn = fn
        self.name = name
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatcherStats()
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rerankit-{name}")
        self._own_executor = executor is None
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]] | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Start the collecting loop on the running event loop."""
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._loop(), name=f"batcher-{self.name}")

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (exceptions of the batch function are raised here)."""
        if self._closing or self._queue is None:
            raise ShuttingDown(f"the {self.name} queue is not accepting work (the server is shutting down)")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut))
        return await fut

    async def stop(self) -> None:
        """Refuse new items, finish every queued one, then stop the loop and the worker thread."""
        self._closing = True
        if self._queue is not None and self._task is not None:
            await self._queue.put(None)  # sentinel: everything queued before it is still served
            await self._task
        if self._own_executor:
            self._executor.shutdown(wait=True)

    @property
    def pending(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def _loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        stop = False
        while not stop:
            first = await queue.get()
            if first is None:
                break
            if self._dropped(first):
                continue
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    nxt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(queue.get(), timeout=left)
                    except asyncio.TimeoutError:
                        break
                if nxt is None:
                    stop = True
                    break
                if not self._dropped(nxt):
                    batch.append(nxt)
            await self._run(batch)

    def _dropped(self, entry: tuple[T, asyncio.Future[R]]) -> bool:
        """True (and counted) if the entry's caller went away while it waited in the queue."""
        if entry[1].cancelled():
            self.stats.dropped_items += 1
            return True
        return False

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        loop = asyncio.get_running_loop()
        live = [entry for entry in batch if not self._dropped(entry)]  # callers that went away meanwhile
        if not live:
            return
        items = [item for item, _ in live]
        t0 = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self._call, items)
        except Exception as exc:
            if len(live) == 1:
                self.stats.failed_items += 1
                _settle(live[0][1], exc=exc)
                return
            log.info("%s batch of %d failed (%s); retrying its items one by one", self.name, len(live), exc)
            for item, fut in live:
                await self._run([(item, fut)])
            return
        finally:
            self.stats.busy_seconds += time.perf_counter() - t0
        self.stats.items += len(live)
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(live))
        for (_, fut), res in zip(live, results):
            _settle(fut, result=res)

    def _call(self, items: list[T]) -> list[R]:
        out = list(self.fn(items))
        if len(out) != len(items):
            raise RuntimeError(f"{self.name}: batch function returned {len(out)} results for {len(items)} items")
        return out


def _settle(fut: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
