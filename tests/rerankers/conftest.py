"""Fixtures for the LLM reranker tests: one small real LLM (SmolLM2-135M) shared by the session, DL19 candidates."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm_engine(smollm):
    from rerankit.engines import get_engine

    return get_engine("transformers", str(smollm), batch_size=8)


@pytest.fixture(scope="session")
def dl19(shared_data):
    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=shared_data)
    return ds, ds.candidates("bm25")
