"""A local Ray instance (2 CPUs, no dashboard, no network) shared by the executor tests, and a saved cross-encoder
checkpoint (MiniLM with a seeded, untrained head written to disk, so every worker loads the same weights)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def saved_cross_encoder(minilm, tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ce-minilm")
    AutoModelForSequenceClassification.from_pretrained(str(minilm), num_labels=1).save_pretrained(out)
    AutoTokenizer.from_pretrained(str(minilm)).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def dl19_bm25(shared_data):
    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=shared_data)
    return ds.candidates("bm25")
