"""`rerankit serve` as a real process on localhost: readiness, batching under concurrency, body limits on a
chunked upload, graceful shutdown on SIGTERM (in-flight requests finish, then the models are released), a failed
load that ends the process, and load shedding past --max-queue. Requests dropped when their client hangs up are
tested deterministically in test_hangup.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import pytest
import yaml

from rerankit.server.ports import free_local_port

from .conftest import http_ready


def _start(config, *options: str) -> tuple[subprocess.Popen, str]:
    port = free_local_port()
    proc = subprocess.Popen([sys.executable, "-m", "rerankit.cli", "serve", "--config", str(config),
                             "--port", str(port), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TQDM_DISABLE": "1"})
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen, base: str) -> None:
    if http_ready(base, 120, gave_up=lambda: proc.poll() is not None):
        return
    if proc.poll() is None:  # past the deadline and still alive: stop it, or reading its output blocks forever
        proc.terminate()
        proc.wait(30)
    raise AssertionError(f"server did not become ready: {proc.stdout.read() if proc.stdout else ''}")


def _write_config(root, bm25_small, minilm, depth: int = 5):
    bm25_small.save(root / "index")
    (root / "pipeline.yaml").write_text(yaml.safe_dump({
        "retriever": {"index": "index"},  # relative to the config file
        "rerankers": [{"name": "cross-encoder", "model": str(minilm), "depth": depth, "progress": False,
                       "allow_untrained_head": True}],
        "k": 10}))
    return root / "pipeline.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory, bm25_small, minilm):
    config = _write_config(tmp_path_factory.mktemp("serve"), bm25_small, minilm)
    proc, base = _start(config, "--max-body-bytes", "4096", "--max-wait-ms", "20", "--shutdown-timeout", "60", "-v")
    try:
        _wait_ready(proc, base)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def _many_searches(base: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=300) as c:
        queries = ["stem cells", "insulin", "cancer risk", "vitamin D", "protein folding"]
        return await asyncio.gather(*(c.post("/search", json={"query": queries[i % 5], "k": 3})
                                      for i in range(n)))


@pytest.mark.slow
def test_concurrent_requests_share_model_batches(server):
    proc, base = server
    responses = asyncio.run(_many_searches(base, 20))
    assert [r.status_code for r in responses] == [200] * 20
    assert all(len(r.json()["hits"]) == 3 for r in responses)
    stats = httpx.get(f"{base}/stats", timeout=30).json()["stages"]
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

    resp = httpx.post(f"{base}/search", content=chunks(), headers={"content-type": "application/json"},
                      timeout=120)
    assert resp.status_code == 413 and "at most 4096 bytes" in resp.json()["error"]
    assert httpx.post(f"{base}/search", json={"query": "insulin", "k": 2}, timeout=120).status_code == 200


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


def test_a_config_that_cannot_load_ends_the_process_with_the_error(tmp_path):
    """The spec is valid but its index folder is missing: the server says where it listened, then exits 2."""
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({"retriever": {"index": "no-such-index"}, "k": 10}))
    proc, base = _start(tmp_path / "pipeline.yaml")
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out
    assert f"listening on {base}" in out
    assert "error:" in out and "no-such-index" in out


@pytest.fixture(scope="module")
def narrow_server(tmp_path_factory, bm25_small, minilm):
    """One request at a time in the model (--max-batch 1) and at most 3 requests in the service (--max-queue 3)."""
    config = _write_config(tmp_path_factory.mktemp("narrow"), bm25_small, minilm)
    proc, base = _start(config, "--max-batch", "1", "--max-queue", "3", "--max-candidates", "100",
                        "--max-wait-ms", "0")
    try:
        _wait_ready(proc, base)
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _slow_rerank_body(scifact_docs, n: int = 100) -> dict:
    """A /rerank request that keeps the cross-encoder busy for a while (n passages, each as long as the model takes:
    an abstract repeated, so that even a quiet machine needs seconds for it)."""
    return {"query": "how do stem cells differentiate into neurons",
            "passages": [{"id": d.id, "text": " ".join([d.text] * 3)} for d in scifact_docs[:n]]}


def _stats(base: str) -> dict:
    return httpx.get(f"{base}/stats", timeout=10).json()


@pytest.mark.slow
def test_past_max_queue_requests_are_shed_with_503_and_retry_after(narrow_server, scifact_docs):
    proc, base = narrow_server
    before = _stats(base)["requests"]

    async def burst():
        async with httpx.AsyncClient(base_url=base, timeout=300) as c:
            return await asyncio.gather(*(c.post("/rerank", json=_slow_rerank_body(scifact_docs, 20))
                                          for _ in range(10)))

    responses = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503} and codes.count(200) >= 3 and codes.count(503) >= 1, codes
    for r in responses:
        assert r.headers["content-type"].startswith("application/json")
        if r.status_code == 503:
            assert r.json()["type"] == "overloaded" and int(r.headers["retry-after"]) >= 1
    after = _stats(base)["requests"]
    assert after["shed"] - before["shed"] == codes.count(503)
    assert after["completed"] - before["completed"] == codes.count(200)
    assert after["in_flight"] == 0 and after["max_queue"] == 3
