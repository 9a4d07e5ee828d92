"""The adapters are tested against the real LangChain / LlamaIndex packages (the `langchain` and `llamaindex`
extras). Missing packages skip here and fail under CI, like missing data."""

from __future__ import annotations

import importlib
import os

import pytest

from rerankit.pipeline import Pipeline
from rerankit.registry import build
from rerankit.retrievers.bm25 import BM25Retriever
from rerankit.types import Document

CORPUS = [
    Document("d1", "The Earth's axial tilt of about 23.4 degrees causes the seasons.", "Seasons"),
    Document("d2", "Bananas are rich in potassium and are eaten worldwide.", "Bananas"),
    Document("d3", "Summer happens when a hemisphere is tilted toward the Sun and days are longer.", "Summer"),
    Document("d4", "The stock market closed higher on Tuesday after the earnings reports.", "Markets"),
]


def require(module: str, package: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the package {package!r} is missing under CI: install the adapter extras")
        pytest.skip(f"the package {package!r} is not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def reranker(minilm):
    # Cross-encoder mechanics on a packaged encoder: the head is untrained, so tests compare against the
    # reranker's own output on the same input rather than expecting relevant documents first.
    return build("reranker", "cross-encoder", model=str(minilm), progress=False, allow_untrained_head=True)


@pytest.fixture(scope="session")
def pipeline(reranker):
    return Pipeline(BM25Retriever(show_progress=False).index(CORPUS), [reranker], k=4)
