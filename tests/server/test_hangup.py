"""Requests whose client hangs up are dropped from the queue, never computed: deterministic, on a real HTTP server.

The service runs in-process under uvicorn (a real socket, so a client that gives up really closes its connection)
with a reranker stage that blocks on an event: the first request holds the stage until the test releases it, so the
later requests are certainly queued behind it when their clients hang up, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from rerankit.pipeline import Pipeline
from rerankit.rerankers.base import Reranker
from rerankit.server import create_app
from rerankit.server.ports import free_local_port
from rerankit.server.service import ServerSettings

from .conftest import http_ready

uvicorn = pytest.importorskip("uvicorn")


class _Gate(Reranker):
    """Keeps BM25's order; its first call waits until `release` is set. Records every ranking it computes."""

    name = "gate"

    def __init__(self) -> None:
        super().__init__(depth=5)
        self.entered, self.release = threading.Event(), threading.Event()
        self.computed: list[str] = []

    def _rerank_batch(self, rankings):
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(60), "the test never released the gate"
        self.computed.extend(r.query.text for r in rankings)
        return rankings


@pytest.fixture
def gated_server(bm25_small):
    gate = _Gate()
    app = create_app(Pipeline(bm25_small, [gate], k=5), ServerSettings(warmup=False, max_batch=8, max_wait_ms=0))
    port = free_local_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    assert http_ready(base, 30, interval=0.05), "in-process server did not become ready"
    yield gate, base
    gate.release.set()
    server.should_exit = True
    thread.join(30)


def _stats(base: str) -> dict:
    return httpx.get(f"{base}/stats", timeout=10).json()


def _wait_for(predicate, what: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_requests_whose_client_hangs_up_are_dropped_and_not_computed(gated_server):
    gate, base = gated_server
    before = _stats(base)

    async def scenario():
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            busy = asyncio.create_task(c.post("/search", json={"query": "stem cells", "k": 3}))
            while not gate.entered.is_set():  # the first request now holds the reranker stage
                await asyncio.sleep(0.02)
            async with httpx.AsyncClient(base_url=base, timeout=0.5) as impatient:
                gone = await asyncio.gather(*(impatient.post("/search", json={"query": q, "k": 3})
                                              for q in ("insulin", "vitamin d")), return_exceptions=True)
            # both hang-ups are seen by the server while the stage is still held; only then is it released
            await asyncio.to_thread(_wait_for, lambda: _stats(base)["requests"]["disconnected"]
                                    - before["requests"]["disconnected"] >= 2, "the server to see two hang-ups")
            gate.release.set()
            return await busy, gone

    busy, gone = asyncio.run(scenario())
    assert busy.status_code == 200 and [h["id"] for h in busy.json()["hits"]]
    assert all(isinstance(g, httpx.TimeoutException) for g in gone), gone
    after = _wait_for(lambda: (s := _stats(base))["requests"]["in_flight"] == 0 and s, "the queue to drain")
    req = after["requests"]
    assert req["disconnected"] - before["requests"]["disconnected"] == 2
    assert req["not_computed"] - before["requests"]["not_computed"] == 2
    assert after["stages"]["rerank"]["items"] - before["stages"]["rerank"]["items"] == 1
    assert gate.computed == ["stem cells"]  # the hung-up queries never reached the stage
    ok = httpx.post(f"{base}/search", json={"query": "insulin", "k": 2}, timeout=30)
    assert ok.status_code == 200 and gate.computed == ["stem cells", "insulin"]
