"""Dense and SPLADE retrieval with the encoder on ONNX Runtime / OpenVINO: the same rankings as torch, scores
within 1e-4, on real SciFact queries over a slice of the corpus; an index built that way saves and loads."""

from __future__ import annotations

import pytest

from rerankit.data import load_dataset
from rerankit.retrievers.dense import DenseRetriever
from rerankit.retrievers.splade import SpladeRetriever

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scifact_slice(shared_data):
    """Three SciFact test queries, and a corpus of their relevant abstracts plus 30 others."""
    ds = load_dataset("beir/scifact", data_dir=shared_data)
    qids = sorted(ds.qrels)[:3]
    wanted = {d for q in qids for d in ds.qrels[q]}
    docs = [d for i, d in enumerate(ds.corpus.values()) if d.id in wanted or i < 30]
    return [ds.queries[q] for q in qids], docs


@pytest.fixture(scope="module", autouse=True)
def export_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("RERANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def _same_run(got, ref):
    assert [r.ids() for r in got.values()] == [r.ids() for r in ref.values()]
    worst = max(abs(a.score - b.score) for qid in ref for a, b in zip(got[qid].hits, ref[qid].hits))
    assert worst <= 1e-4


def _models(minilm, splade_tiny):
    return {DenseRetriever: str(minilm), SpladeRetriever: str(splade_tiny)}


@pytest.mark.parametrize("cls", [DenseRetriever, SpladeRetriever])
def test_fp32_backends_rank_as_torch(cls, minilm, splade_tiny, scifact_slice, tmp_path):
    queries, docs = scifact_slice
    model = _models(minilm, splade_tiny)[cls]
    ref = cls(model, show_progress=False).index(docs).search_many(queries, 10)
    for backend in ("onnx", "openvino"):
        retriever = cls(model, backend=backend, show_progress=False).index(docs)
        _same_run(retriever.search_many(queries, 10), ref)
    assert retriever.config()["backend"] == "openvino"
    retriever.save(tmp_path / "index")
    loaded = cls.load(tmp_path / "index")
    assert loaded.backend == "openvino"
    _same_run(loaded.search_many(queries, 10), ref)
