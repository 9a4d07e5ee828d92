"""The queue bound and the disconnect watch on their own (the real server is tested in test_serve.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from rerankit.server.admission import Admission, ClientGone, Overloaded, until_disconnect
from rerankit.server.batcher import MicroBatcher


def test_admission_sheds_past_max_queue_and_counts():
    a = Admission(max_queue=2)
    first = a.enter()
    time.sleep(1.2)
    second = a.enter()
    with pytest.raises(Overloaded) as info:
        a.enter()
    # nothing completed yet: the oldest request inside has waited 1.2 s, so a slot is at least 2 s away
    assert info.value.retry_after == 2 and "max_queue" in str(info.value)
    a.leave(first, "completed")
    third = a.enter()  # a slot is free again
    a.leave(second, "disconnected")
    a.leave(third, "failed")
    assert a.in_flight == 0
    assert a.stats.as_dict() == {"admitted": 3, "completed": 1, "failed": 1, "shed": 1, "disconnected": 1}
    assert a.retry_after() == 2  # the completed request took 1.2 s


def test_until_disconnect_returns_the_result_when_the_client_stays():
    async def main():
        never = asyncio.Event()

        async def receive():
            await never.wait()
            return {"type": "http.disconnect"}

        async def work():
            await asyncio.sleep(0.01)
            return 42

        return await until_disconnect(receive, work())

    assert asyncio.run(main()) == 42


def test_a_disconnected_client_is_dropped_from_the_batcher_queue_uncomputed():
    computed: list[int] = []

    def slow(items: list[int]) -> list[int]:
        computed.extend(items)
        time.sleep(0.2)
        return items

    async def main():
        b = MicroBatcher(slow, "slow", max_batch=1, max_wait_ms=0)
        await b.start()
        gone = asyncio.Event()

        async def receive():
            await gone.wait()
            return {"type": "http.disconnect"}

        first = asyncio.create_task(b.submit(1))  # occupies the model
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(until_disconnect(receive, b.submit(2)))
        await asyncio.sleep(0.05)
        gone.set()  # the second client hangs up while its item is still queued
        with pytest.raises(ClientGone):
            await waiting
        assert await first == 1
        await b.stop()
        return b

    b = asyncio.run(main())
    assert computed == [1]
    assert b.stats.dropped_items == 1 and b.stats.items == 1
