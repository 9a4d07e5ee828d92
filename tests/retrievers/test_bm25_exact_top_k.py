"""The one-pass BM25 top-k against a brute-force sort, on score vectors made of ties."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.retrievers.bm25 import numba_available

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba is not installed")


def _brute(scores: np.ndarray, id_rank: np.ndarray, k: int) -> list[tuple[int, float]]:
    hits = [(i, float(s)) for i, s in enumerate(scores.tolist()) if s > 0]
    hits.sort(key=lambda h: (h[1], id_rank[h[0]]), reverse=True)
    return hits[:k]


@pytest.mark.parametrize("ascending", [False, True])
@pytest.mark.parametrize("seed", range(30))
def test_top_k_equals_a_full_sort_in_trec_eval_order(seed, ascending):
    """Shuffled scores, and scores in ascending order: there every higher score arrives after the heap is full and
    lets out a tied document, so a tie across the cut shows only through what was let out."""
    from rerankit.retrievers.bm25_exact_top_k import _top_k

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    levels = rng.choice([0.0, 0.5, 1.25, 2.0, 3.5, 7.0], size=int(rng.integers(1, 6)), replace=False)
    scores = rng.choice(levels, size=n).astype(np.float32)  # few distinct values: ties everywhere, zeros too
    if ascending:
        scores.sort()
    id_rank = rng.permutation(n).astype(np.int64)
    for k in (1, 3, 10, 50, n):
        ids, vals = np.zeros(k, np.int64), np.zeros(k, np.float32)
        got = _top_k(scores, id_rank, k, ids, vals)
        assert list(zip(ids[:got].tolist(), vals[:got].tolist())) == _brute(scores, id_rank, k), (seed, k)


@pytest.mark.parametrize("order", ["shuffled", "ascending", "descending"])
@pytest.mark.parametrize("seed", range(20))
def test_top_k_of_documents_in_descending_id_order_equals_a_full_sort(seed, order):
    """Documents stored in descending id order (id rank = n - 1 - index): the forward scan orders ties without id
    lookups."""
    from rerankit.retrievers.bm25_exact_top_k import _top_k_in_descending_id_order

    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 400))
    levels = rng.choice([0.0, 0.5, 1.25, 2.0, 3.5, 7.0], size=int(rng.integers(1, 6)), replace=False)
    scores = rng.choice(levels, size=n).astype(np.float32)
    if order != "shuffled":  # ascending: the scan meets ever higher scores, each letting a tie out
        scores.sort()
        scores = scores if order == "ascending" else scores[::-1].copy()
    for k in (1, 3, 10, 50, n):
        ids, vals = np.zeros(k, np.int64), np.zeros(k, np.float32)
        got = _top_k_in_descending_id_order(scores, k, np.empty(k, np.float32), np.empty(k, np.int64), ids, vals)
        want = _brute(scores, np.arange(n - 1, -1, -1), k)
        assert list(zip(ids[:got].tolist(), vals[:got].tolist())) == want, (seed, k)


def test_a_tie_let_out_of_the_heap_is_found():
    from rerankit.retrievers.bm25_exact_top_k import _top_k

    scores = np.array([5.0, 5.0, 6.0], dtype=np.float32)
    id_rank = np.array([2, 0, 1], dtype=np.int64)  # document 0 has the highest id: it wins the tie at 5
    ids, vals = np.zeros(2, np.int64), np.zeros(2, np.float32)
    assert _top_k(scores, id_rank, 2, ids, vals) == 2
    assert ids.tolist() == [2, 0] and vals.tolist() == [6.0, 5.0]
