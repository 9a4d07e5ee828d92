"""Rankings assembled from an index's (indices, scores): trec_eval's order, faiss's -1 left out, hits built lazily."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.errors import InputError
from rerankit.retrievers.index_io import (
    _sorted_ranking,
    ranking_from_scores,
    rankings_from_score_rows,
    search_past_the_tie,
)
from rerankit.types import Document, Hit, Query, Ranking


def test_ranking_from_scores_orders_like_trec_eval_and_builds_hits_only_when_read():
    docs = [Document(f"d{i}", f"text {i}") for i in range(6)]
    indices = np.array([2, 5, -1, 0, 3, 1])
    scores = np.array([0.5, 0.9, 9.0, 0.5, 0.5, 0.1], dtype=np.float32)
    ranking = ranking_from_scores(Query("q", "query"), docs, indices, scores)
    # score descending, ties by document id descending (d3 > d2 > d0); -1 ("no result") dropped
    assert ranking.ids() == ["d5", "d3", "d2", "d0", "d1"]
    assert ranking.score_list() == [float(np.float32(0.9)), 0.5, 0.5, 0.5, float(np.float32(0.1))]
    assert "hits" not in ranking.__dict__
    built = Ranking(ranking.query, tuple(Hit(docs[int(i[1:])], s) for i, s in zip(ranking.ids(), ranking.score_list())))
    assert ranking.hits == built.hits and ranking.hits[0].doc is docs[5]


def test_the_no_sort_path_for_descending_rows_gives_the_sorted_rankings():
    """Rows that come strictly score-descending skip the sort, other array rows are sorted by numpy; every kind of
    row must give what Python's sort of (index, score) pairs gives (ids of several lengths: "d5" > "d10")."""
    rng = np.random.default_rng(0)
    docs = [Document(f"d{i}", "t") for i in range(300)]
    q = Query("q", "query")
    kinds = {"descending": 0, "ties": 0, "unordered": 0, "no result": 0}
    for case in range(400):
        n = int(rng.integers(0, 40))
        idx = rng.permutation(300)[:n]
        scores = rng.normal(size=n).astype(np.float32 if case % 2 else np.float64)
        if case % 4 == 1 and n > 2:  # ties, as duplicate documents give
            scores = np.round(scores, 1)
        if case % 5 != 0:
            scores = -np.sort(-scores)
        if case % 7 == 3 and n:
            idx[rng.integers(0, n, size=max(1, n // 5))] = -1  # faiss's "no result"
        kinds["descending" if n < 2 or (np.diff(scores) < 0).all() else
              "ties" if (np.diff(scores) <= 0).all() else "unordered"] += 1
        kinds["no result"] += bool((idx < 0).any())
        got, want = ranking_from_scores(q, docs, idx, scores), _sorted_ranking(q, docs, idx.tolist(), list(scores))
        assert got.ids() == want.ids() and got.score_list() == want.score_list(), case
        assert all(type(s) is float for s in got.score_list())
    assert min(kinds.values()) > 20, kinds  # every kind of row was tried


def test_a_tie_across_the_cut_is_searched_until_a_lower_score_or_the_last_document():
    scores = np.array([9.0, 7.0] + [5.0] * 9 + [4.0, 3.0], dtype=np.float32)  # 9 documents tie at 5.0
    ids = np.arange(len(scores))
    depths: list[int] = []

    def search(depth: int) -> tuple[np.ndarray, np.ndarray]:
        depths.append(depth)
        return ids[:depth], scores[:depth]

    got_ids, got_scores = search_past_the_tie(search, 5.0, 3, len(scores))
    assert depths == [6, 12]  # doubling from the 3 fetched, stopping at the first depth past the tie
    assert set(got_ids[got_scores == 5.0].tolist()) == set(range(2, 11))
    assert got_scores[-1] < 5.0

    depths.clear()  # a tie reaching the last document: stops at n, not beyond
    all_tied = np.full(5, 1.0, dtype=np.float32)
    got_ids, _ = search_past_the_tie(lambda d: (depths.append(d), (np.arange(d), all_tied[:d]))[1], 1.0, 2, 5)
    assert depths == [4, 5] and got_ids.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whole_search_results_give_the_rankings_row_by_row_conversion_gives(dtype):
    """One search's (queries x depth) arrays, checked once: descending rows skip all per-row work, the rest are
    sorted; both must equal ranking_from_scores on each row, for every cut k."""
    rng = np.random.default_rng(1)
    docs = [Document(f"d{i:03d}", "t") for i in range(200)]
    queries = [Query(f"q{r}", "query") for r in range(120)]
    idx = np.stack([rng.permutation(200)[:21] for _ in queries])
    scores = -np.sort(-rng.normal(size=idx.shape).astype(dtype), axis=1)
    scores[1::4] = np.round(scores[1::4], 1)  # ties
    scores[2::6] = rng.normal(size=scores[2::6].shape)  # unordered
    idx[3::7, -3:] = -1  # faiss's "no result"
    scores[5::11, 4] = np.nan
    for k in (None, 1, 10, 20, 21):
        got = rankings_from_score_rows(queries, docs, idx, scores, k)
        for r, q in enumerate(queries):
            want = ranking_from_scores(q, docs, idx[r], scores[r], k)
            assert got[r].query is q and got[r].ids() == want.ids(), (k, r)
            np.testing.assert_array_equal(got[r].score_list(), want.score_list())
            assert all(type(s) is float for s in got[r].score_list())
    with pytest.raises(InputError, match="outside the 200 documents"):
        rankings_from_score_rows(queries[:1], docs, np.array([[3, 200]]), np.array([[2.0, 1.0]]))
    with pytest.raises(InputError, match="needs a Query"):
        rankings_from_score_rows(["q"], docs, np.array([[3, 2]]), np.array([[2.0, 1.0]]))
