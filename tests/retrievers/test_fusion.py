"""Rank fusion: hand-checked RRF and min-max weighted sums, errors, and a fused BM25 pair saved and reloaded."""

from __future__ import annotations

import pytest

from rerankit.errors import IndexMismatchError, InputError
from rerankit.registry import build
from rerankit.retrievers.fusion import FusionRetriever, fuse_runs
from rerankit.types import Document, Hit, Query, Ranking

from .conftest import QUERIES, SEASONS, as_lists


def _run(qid: str, pairs: list[tuple[str, float]]) -> dict[str, Ranking]:
    return {qid: Ranking(Query(qid, "text"), tuple(Hit(Document(d, f"text of {d}"), s) for d, s in pairs))}


A = _run("q", [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)])
B = _run("q", [("d3", 0.9), ("d4", 0.5)])


def test_rrf_matches_the_formula_by_hand():
    fused = fuse_runs([A, B], "rrf", rrf_k=60)["q"]
    expected = {"d3": 1 / 63 + 1 / 61, "d1": 1 / 61, "d2": 1 / 62, "d4": 1 / 62}
    assert fused.ids() == ["d3", "d1", "d4", "d2"]  # d2/d4 tie: document id descending, as trec_eval orders
    for h in fused:
        assert h.score == pytest.approx(expected[h.doc.id], abs=1e-12)
    assert fused[0].doc.text == "text of d3"  # hits keep their documents


def test_rrf_uses_ranks_not_scores_and_its_k():
    a_other_scores = _run("q", [("d1", 100.0), ("d2", 0.2), ("d3", 0.1)])
    assert as_lists(fuse_runs([a_other_scores, B], "rrf")) == as_lists(fuse_runs([A, B], "rrf"))
    fused = fuse_runs([A, B], "rrf", rrf_k=0)["q"]
    assert fused.scores()["d3"] == pytest.approx(1 / 3 + 1 / 1)


def test_weighted_min_max_sum_by_hand():
    # min-max: A -> d1 1, d2 .5, d3 0; B -> d3 1, d4 0
    fused = fuse_runs([A, B], "wsum", weights=[0.25, 0.75])["q"]
    assert fused.scores() == pytest.approx({"d1": 0.25, "d2": 0.125, "d3": 0.75, "d4": 0.0})
    assert fused.ids() == ["d3", "d1", "d2", "d4"]
    equal = fuse_runs([A, B], "wsum")["q"].scores()
    assert equal == pytest.approx({"d1": 0.5, "d2": 0.25, "d3": 0.5, "d4": 0.0})


def test_top_k_and_empty_rankings():
    assert fuse_runs([A, B], "rrf", k=2)["q"].ids() == ["d3", "d1"]
    empty = {"q": Ranking(Query("q", "text"), ())}
    assert fuse_runs([A, empty], "rrf")["q"].ids() == ["d1", "d2", "d3"]
    assert fuse_runs([empty, empty], "rrf")["q"].ids() == []


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "nope"}, "unknown fusion method"),
    ({"method": "wsum", "norm": "weird"}, "unknown score normalisation"),
    ({"method": "wsum", "weights": [1.0]}, "got 1 fusion weights for 2"),
    ({"method": "rrf", "weights": [0.5, 0.5]}, "takes no weights"),
    ({"method": "rrf", "backend": "numba"}, "unknown fusion backend"),
])
def test_bad_fusion_options_are_clear_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        fuse_runs([A, B], **kwargs)


@pytest.mark.slow
def test_native_fusion_equals_ranx_fuse():
    # a second query with other documents, ties and a run that retrieves nothing for it
    a = {**A, **_run("r", [("x1", 5.0), ("x2", 5.0), ("x3", -1.0), ("x4", -2.0)])}
    b = {**B, **_run("r", [])}
    c = {**_run("q", [("d4", 7.0), ("d9", 3.0), ("d1", 1.0)]), **_run("r", [("x3", 2.0), ("x5", 1.5)])}
    # (sum/max, max/sum/rank norms agree too; left out here because each ranx function compiles for seconds)
    cases = [("rrf", None, None), ("wsum", "min-max", [0.2, 0.3, 0.5]), ("mnz", "zmuv", None)]
    for method, norm, weights in cases:
        ours = fuse_runs([a, b, c], method, norm, weights)
        theirs = fuse_runs([a, b, c], method, norm, weights, backend="ranx")
        for q in ("q", "r"):
            assert ours[q].ids() == theirs[q].ids(), (method, norm, q)
            assert list(ours[q].scores().values()) == pytest.approx(list(theirs[q].scores().values()))
    empty = {"q": Ranking(Query("q", "text"), ()), "r": Ranking(Query("r", "text"), ())}
    assert fuse_runs([a, empty], "rrf", backend="ranx")["q"].ids() == ["d1", "d2", "d3"]


def test_runs_must_cover_the_same_queries():
    with pytest.raises(InputError, match="at least two runs"):
        fuse_runs([A], "rrf")
    with pytest.raises(InputError, match="other queries"):
        fuse_runs([A, _run("other", [("d1", 1.0)])], "rrf")


def test_fusion_retriever_equals_fusing_its_parts_and_reloads(tmp_path, search_in_new_process):
    fusion = build("retriever", "fusion", retrievers=["bm25", {"name": "bm25", "k1": 1.2, "b": 0.75,
                                                               "stemmer": None}], method="rrf")
    fusion.index(SEASONS)
    run = fusion.search_many(QUERIES, k=5)
    parts = [r.search_many(QUERIES, 1000) for r in fusion.retrievers]
    assert as_lists(run) == as_lists(fuse_runs(parts, "rrf", k=5))
    assert run["q1"].ids()[0] in ("d1", "d6")
    fusion.save(tmp_path / "fusion")
    assert search_in_new_process("fusion", tmp_path / "fusion", QUERIES, 5) == as_lists(run)
    (tmp_path / "fusion" / "1-bm25" / "rerankit.json").write_text("{}")
    with pytest.raises(IndexMismatchError):
        FusionRetriever.load(tmp_path / "fusion")


def test_fusion_needs_two_retrievers():
    with pytest.raises(InputError, match="at least two"):
        FusionRetriever(["bm25"])
