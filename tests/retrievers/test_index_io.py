"""Rankings assembled from an index's (indices, scores): trec_eval's order, faiss's -1 left out, hits built lazily."""

from __future__ import annotations

import numpy as np

from rerankit.retrievers.index_io import ranking_from_scores
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
