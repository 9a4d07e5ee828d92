"""Pipeline mechanics: stages in order, depth cut, tails kept, resumable stage cache.

The reranker here is a tiny deterministic test stage (it orders hits by document length) so that the pipeline's
own behaviour is checked without a model; model-backed rerankers have their own tests.
"""

from __future__ import annotations

import pytest

from rerankit.errors import InputError
from rerankit.pipeline import Pipeline
from rerankit.rerankers.base import Reranker
from rerankit.retrievers.bm25 import BM25Retriever
from rerankit.types import Document, Hit, Query, Ranking


class LongestFirst(Reranker):
    name = "longest-first"

    def __init__(self, depth=None, fail_after=None):
        super().__init__(depth)
        self.calls: list[list[str]] = []
        self.fail_after = fail_after

    def _rerank_batch(self, rankings):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls.append([r.query.id for r in rankings])
        return [r.sorted_by([float(len(h.doc.text)) for h in r.hits]) for r in rankings]


DOCS = [Document(f"d{i}", "seasons" + " word" * i) for i in range(1, 8)]


def test_run_accepts_a_string_and_applies_stages_in_order():
    bm25 = BM25Retriever(show_progress=False).index(DOCS)
    res = Pipeline(bm25, [LongestFirst()], k=5).run("seasons")
    # BM25 prefers the shortest documents (length normalisation); the reranker then puts the longest first
    assert res.stages["retriever"].ids() == ["d1", "d2", "d3", "d4", "d5"]
    assert res.ranking.ids() == ["d5", "d4", "d3", "d2", "d1"]
    assert list(res.stages) == ["retriever", "longest-first"]


def test_depth_reranks_only_the_head_and_keeps_the_tail():
    q = Query("q", "x")
    r = Ranking(q, [Hit(Document(f"d{i}", "y" * i), 10.0 - i) for i in range(1, 6)])
    out = LongestFirst(depth=3).rerank(r)
    assert out.ids() == ["d3", "d2", "d1", "d4", "d5"]
    scores = [h.score for h in out.hits]
    assert scores == sorted(scores, reverse=True)


def test_empty_candidates_and_bad_options():
    with pytest.raises(InputError, match="no candidates"):
        LongestFirst().rerank(Ranking(Query("q", "x"), ()))
    with pytest.raises(InputError, match="depth"):
        LongestFirst(depth=0)
    with pytest.raises(InputError, match="no retriever"):
        Pipeline(None, [LongestFirst()]).run("x")
    with pytest.raises(InputError, match="duplicate query id"):
        Pipeline(BM25Retriever(show_progress=False).index(DOCS)).run_many([Query("a", "x"), Query("a", "y")])


def test_interrupted_run_resumes_from_the_cache(tmp_path):
    rankings = [Ranking(Query(f"q{i}", "x"), [Hit(d, 1.0) for d in DOCS]) for i in range(5)]
    crashing = LongestFirst(fail_after=1)
    pipe = Pipeline(rerankers=[crashing], cache_dir=tmp_path, chunk_size=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipe.rerank_run(rankings)
    assert crashing.calls == [["q0", "q1"]]
    fresh = LongestFirst()
    results = Pipeline(rerankers=[fresh], cache_dir=tmp_path, chunk_size=2).rerank_run(rankings)
    assert fresh.calls == [["q2", "q3"], ["q4"]]  # q0, q1 came from the cache
    assert [r.ranking.query.id for r in results] == [f"q{i}" for i in range(5)]
    assert all(r.ranking.ids()[0] == "d7" for r in results)


@pytest.mark.parametrize("make, message", [
    (lambda: Pipeline("bm25"), "must be a Retriever object"),
    (lambda: Pipeline(rerankers=["cross-encoder"]), "Reranker objects"),
    (lambda: Pipeline(BM25Retriever(), k="10"), "k must be an integer"),
    (lambda: Pipeline(depth=0), "depth must be at least 1"),
    (lambda: Pipeline(depth=-3), "depth must be at least 1"),
    (lambda: Pipeline(rerankers=[LongestFirst()]).rerank_run("q1"), "rerank_run takes"),
    (lambda: LongestFirst(depth=0), "depth must be at least 1"),
])
def test_wrong_types_and_values_are_input_errors(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_run_many_refuses_a_bare_string():
    pipe = Pipeline(BM25Retriever(show_progress=False).index(DOCS))
    with pytest.raises(InputError, match="expected a list of queries"):
        pipe.run_many("abc")
    with pytest.raises(InputError, match="k must be an integer"):
        pipe.retriever.search("seasons", k="3")
