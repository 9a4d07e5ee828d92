"""Hybrid BM25 + dense (packaged all-MiniLM-L6-v2) built the way the CLI builds it: by name, indexed, saved, loaded."""

from __future__ import annotations

import pytest

from rerankit.errors import IndexMismatchError, InputError
from rerankit.registry import build, stage_class
from rerankit.retrievers.fusion import HybridRetriever, fuse_runs

from .conftest import QUERIES, SEASONS, as_lists

pytestmark = pytest.mark.slow  # loads a real encoder


@pytest.fixture(scope="module")
def hybrid(minilm, minilm_encoder):
    retriever = build("retriever", "hybrid", model=str(minilm), show_progress=False)
    retriever.retrievers[1]._model = minilm_encoder
    return retriever.index(SEASONS)


def test_hybrid_is_bm25_and_dense_fused_by_rrf(hybrid, minilm):
    bm25, dense = hybrid.retrievers
    assert (bm25.name, dense.name, hybrid.model_name) == ("bm25", "dense", str(minilm))
    run = hybrid.search_many(QUERIES, k=4)
    expected = fuse_runs([bm25.search_many(QUERIES, 1000), dense.search_many(QUERIES, 1000)], "rrf", k=4)
    assert as_lists(run) == as_lists(expected)
    assert run["q1"].ids()[0] in ("d1", "d3", "d6")
    assert run["q3"].ids()[0] == "d2"
    assert hybrid.config()["retrievers"][1]["model"] == str(minilm)


def test_save_reload_in_a_new_process_gives_identical_results(hybrid, tmp_path, search_in_new_process):
    hybrid.save(tmp_path / "idx")
    expected = as_lists(hybrid.search_many(QUERIES, k=5))
    assert search_in_new_process("hybrid", tmp_path / "idx", QUERIES, 5) == expected
    # the CLI's path: the class by name, load, with runtime options that only some parts take
    loaded = stage_class("retriever", "hybrid").load(tmp_path / "idx", show_progress=False, batch_size=8)
    assert as_lists(loaded.search_many(QUERIES, k=5)) == expected


def test_mismatched_encoder_or_corrupt_part_is_refused(hybrid, splade_tiny, tmp_path):
    hybrid.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="128-d vectors"):  # a 2-layer BERT, mean-pooled
        HybridRetriever.load(tmp_path / "idx", model=str(splade_tiny))
    (tmp_path / "idx" / "0-bm25" / "docs.jsonl").write_text("")
    with pytest.raises(IndexMismatchError):
        HybridRetriever.load(tmp_path / "idx")


def test_weighted_hybrid_options(minilm):
    h = HybridRetriever(model=str(minilm), method="wsum", weights=[0.3, 0.7], show_progress=False)
    assert h.norm == "min-max" and h.weights == [0.3, 0.7]
    with pytest.raises(InputError, match="either as model"):
        HybridRetriever(model=str(minilm), dense={"model": str(minilm)})
