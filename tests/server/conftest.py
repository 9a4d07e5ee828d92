"""Fixtures for the HTTP service tests: BM25 over real SciFact passages and a real cross-encoder-shaped reranker.

The reranker is the cross-encoder method on the packaged all-MiniLM-L6-v2 encoder: its classification head is
untrained (randomly initialised), so its scores test the mechanics (batching, order, limits), not quality.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from rerankit.data import load_dataset
from rerankit.pipeline import Pipeline
from rerankit.registry import build
from rerankit.retrievers.bm25 import BM25Retriever


@pytest.fixture(scope="session")
def scifact_docs(shared_data):
    ds = load_dataset("beir/scifact", data_dir=shared_data)
    return list(ds.corpus.values())[:400]


@pytest.fixture(scope="session")
def bm25_small(scifact_docs):
    return BM25Retriever(show_progress=False).index(scifact_docs)


@pytest.fixture(scope="session")
def ce_reranker(minilm):
    return build("reranker", "cross-encoder", model=str(minilm), progress=False, depth=10, allow_untrained_head=True)


@pytest.fixture(scope="session")
def pipeline(bm25_small, ce_reranker):
    return Pipeline(bm25_small, [ce_reranker], k=20)


def wait_ready(client, timeout: float = 60.0) -> dict:
    """Poll /ready until 200 (models loaded) or fail with the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get("/ready")
        if resp.status_code == 200:
            return resp.json()
        if time.monotonic() > deadline or resp.json().get("status") == "failed":
            raise AssertionError(f"service not ready: {resp.status_code} {resp.text}")
        time.sleep(0.05)


def http_ready(base: str, timeout: float, gave_up: Callable[[], bool] = lambda: False,
               interval: float = 0.2) -> bool:
    """Poll a real server's ``{base}/ready`` until it answers 200 (True), or until `gave_up()` or `timeout` (False)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if gave_up() or time.monotonic() > deadline:
            return False
        time.sleep(interval)
