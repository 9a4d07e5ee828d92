"""`rerankit serve` as a real process on localhost: readiness, batching under concurrency, body limits on a
chunked upload, and graceful shutdown on SIGTERM (in-flight requests finish, then the models are released)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, bm25_small, minilm):
    root = tmp_path_factory.mktemp("serve")
    bm25_small.save(root / "index")
    (root / "pipeline.yaml").write_text(yaml.safe_dump({
        "retriever": {"index": "index"},  # relative to the config file
        "rerankers": [{"name": "cross-encoder", "model": str(minilm), "depth": 5, "progress": False,
                       "allow_untrained_head": True}],
        "k": 10}))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rerankit.cli", "serve", "--config", str(root / "pipeline.yaml"),
                             "--port", str(port), "--max-body-bytes", "4096", "--max-wait-ms", "20",
                             "--shutdown-timeout", "60", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TQDM_DISABLE": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def _many_searches(base: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        queries = ["stem cells", "insulin", "cancer risk", "vitamin D", "protein folding"]
        return await asyncio.gather(*(c.post("/search", json={"query": queries[i % 5], "k": 3})
                                      for i in range(n)))


@pytest.mark.slow
def test_concurrent_requests_share_model_batches(server):
    proc, base = server
    responses = asyncio.run(_many_searches(base, 20))
    assert [r.status_code for r in responses] == [200] * 20
    assert all(len(r.json()["hits"]) == 3 for r in responses)
    stats = httpx.get(f"{base}/stats").json()["stages"]
    assert stats["rerank"]["items"] >= 20
    assert stats["rerank"]["largest_batch"] > 1  # requests met in the queue and went to the model together


@pytest.mark.slow
def test_chunked_oversized_body_is_refused(server):
    proc, base = server

    def chunks():
        yield b'{"query": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    resp = httpx.post(f"{base}/search", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413 and "at most 4096 bytes" in resp.json()["error"]
    assert httpx.post(f"{base}/search", json={"query": "insulin", "k": 2}).status_code == 200


@pytest.mark.slow
def test_sigterm_lets_in_flight_requests_finish(server):
    proc, base = server

    async def scenario():
        task = asyncio.create_task(_many_searches(base, 8))
        await asyncio.sleep(0.3)  # requests are in the queue or in the model
        proc.send_signal(signal.SIGTERM)
        return await task

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * 8
    # uvicorn exits through the signal it caught (-SIGTERM) once shutdown is complete
    assert proc.wait(60) in (0, -signal.SIGTERM)
    log = proc.stdout.read()
    assert "service stopped" in log and "Finished server process" in log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/health", timeout=2)
