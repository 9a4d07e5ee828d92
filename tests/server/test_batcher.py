"""Micro-batching: concurrent submissions share batches, failures stay with their item, stop drains the queue."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rerankit.errors import InputError
from rerankit.server.batcher import MicroBatcher, ShuttingDown


def _square_all(items: list[int]) -> list[int]:
    time.sleep(0.02)  # a model call takes a while: requests pile up behind it
    return [i * i for i in items]


def test_concurrent_items_are_batched_and_results_keep_their_owner():
    async def main():
        b = MicroBatcher(_square_all, "square", max_batch=16, max_wait_ms=2)
        await b.start()
        results = await asyncio.gather(*(b.submit(i) for i in range(50)))
        await b.stop()
        return b, results

    b, results = asyncio.run(main())
    assert results == [i * i for i in range(50)]
    assert b.stats.items == 50
    assert b.stats.batches < 50 and 1 < b.stats.largest_batch <= 16


def test_a_failing_item_fails_alone():
    def pick(items: list[int]) -> list[int]:
        if 13 in items:
            raise InputError("13 is not allowed")
        return [-i for i in items]

    async def main():
        b = MicroBatcher(pick, "pick", max_batch=8, max_wait_ms=5)
        await b.start()
        out = await asyncio.gather(*(b.submit(i) for i in range(10, 17)), return_exceptions=True)
        await b.stop()
        return b, out

    b, out = asyncio.run(main())
    assert isinstance(out[3], InputError) and "13" in str(out[3])
    assert [x for i, x in enumerate(out) if i != 3] == [-10, -11, -12, -14, -15, -16]
    assert b.stats.failed_items == 1


def test_stop_finishes_queued_work_then_refuses_new_items():
    seen: list[int] = []
    lock = threading.Lock()

    def record(items: list[int]) -> list[int]:
        time.sleep(0.01)
        with lock:
            seen.extend(items)
        return items

    async def main():
        b = MicroBatcher(record, "record", max_batch=4, max_wait_ms=1)
        await b.start()
        pending = [asyncio.create_task(b.submit(i)) for i in range(12)]
        await asyncio.sleep(0)  # all twelve are queued before stop
        await b.stop()
        done = await asyncio.gather(*pending)
        with pytest.raises(ShuttingDown):
            await b.submit(99)
        return done

    assert asyncio.run(main()) == list(range(12))
    assert sorted(seen) == list(range(12))


def test_wrong_batch_function_and_options_are_errors():
    with pytest.raises(InputError, match="max_batch"):
        MicroBatcher(_square_all, "x", max_batch=0)

    async def main():
        b = MicroBatcher(lambda items: items[:-1], "short", max_batch=4, max_wait_ms=1)
        await b.start()
        try:
            return await b.submit(1)
        finally:
            await b.stop()

    with pytest.raises(RuntimeError, match="returned 0 results for 1 items"):
        asyncio.run(main())
