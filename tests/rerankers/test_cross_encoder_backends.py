"""The cross-encoder on ONNX Runtime and OpenVINO gives torch's scores (within 1e-4) and rankings on real DL19
candidates; int8 runs and stays close. The packaged MiniLM has an untrained, seeded classification head: these
tests check that the backends compute the same function, not ranking quality."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.data import load_dataset
from rerankit.registry import build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dl19(shared_data):
    run = load_dataset("dl19", data_dir=shared_data).candidates("bm25")
    return [run[qid].top(10) for qid in sorted(run)[:2]]


@pytest.fixture(scope="module", autouse=True)
def export_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("RERANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def _rerank(minilm, rankings, **options):
    import torch

    torch.manual_seed(0)  # the same untrained head for every backend
    ce = build("reranker", "cross-encoder", model=str(minilm), allow_untrained_head=True, progress=False, **options)
    return ce, ce.rerank_many(rankings)


@pytest.fixture(scope="module")
def torch_out(minilm, dl19):
    return _rerank(minilm, dl19)[1]


def _scores(rankings):
    return {(r.query.id, h.doc.id): h.score for r in rankings for h in r.hits}


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_fp32_backend_matches_torch(minilm, dl19, torch_out, backend):
    ce, out = _rerank(minilm, dl19, backend=backend)
    ref, got = _scores(torch_out), _scores(out)
    assert got.keys() == ref.keys()
    assert max(abs(got[k] - ref[k]) for k in ref) <= 1e-4
    assert [r.ids() for r in out] == [r.ids() for r in torch_out]
    assert ce.config()["backend"] == backend and "backend" not in _rerank(minilm, [])[0].config()


def test_int8_runs_close_to_torch(minilm, dl19, torch_out):
    ce, out = _rerank(minilm, dl19, backend="onnx", quantize="int8")
    ref, got = _scores(torch_out), _scores(out)
    diff = np.array([got[k] - ref[k] for k in ref])
    assert 0 < np.abs(diff).max() < 0.05  # quantised: different, but near (sigmoid scores)
    assert ce.config()["quantize"] == "int8"


def test_onnx_graph_is_fused_and_cached_apart_from_the_plain_graph(minilm, dl19, torch_out):
    """backend="onnx" fuses the graph (ONNX Runtime's transformer optimiser: one Attention per layer) and still gives
    torch's ranking; optimize=False keeps the plain graph under its own cache key, with the same ranking."""
    fused, out = _rerank(minilm, dl19, backend="onnx")
    plain, out_plain = _rerank(minilm, dl19, backend="onnx", optimize=False)
    layers = fused.model.config.num_hidden_layers
    assert fused.model.manifest["optimized"] and fused.model.manifest["fused_operators"]["Attention"] == layers
    assert "optimized" not in plain.model.manifest and plain.model.folder != fused.model.folder
    ref = _scores(torch_out)
    for got in (out, out_plain):
        assert max(abs(_scores(got)[k] - ref[k]) for k in ref) <= 1e-4
        assert [r.ids() for r in got] == [r.ids() for r in torch_out]
    assert plain.config()["optimize"] is False and "optimize" not in fused.config()
