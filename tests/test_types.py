"""Core types: rankings are immutable in spirit and convert cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.errors import InputError
from rerankit.types import Document, Hit, Query, Ranking, as_query


def _ranking() -> Ranking:
    docs = [Document(f"d{i}", f"text {i}") for i in range(4)]
    return Ranking(Query("q1", "a question"), [Hit(d, 4.0 - i) for i, d in enumerate(docs)])


def test_empty_query_is_refused():
    with pytest.raises(InputError, match="empty"):
        Query("q", "   ")
    with pytest.raises(InputError, match="string or a Query"):
        as_query(42)  # type: ignore[arg-type]


def test_top_ids_and_trec_lines():
    r = _ranking()
    assert r.top(2).ids() == ["d0", "d1"]
    assert len(r) == 4 and r.top(None) is r
    assert r.to_trec_lines("t")[0] == "q1 Q0 d0 1 4.000000 t"
    with pytest.raises(InputError):
        r.top(-1)


def test_reordered_and_sorted_by_return_new_rankings():
    r = _ranking()
    new = r.reordered([2, 0])
    assert new.ids() == ["d2", "d0", "d1", "d3"]
    assert [h.score for h in new.hits] == sorted((h.score for h in new.hits), reverse=True)
    assert r.ids() == ["d0", "d1", "d2", "d3"]  # input untouched
    s = r.sorted_by([0.1, 0.9, 0.5, 0.9])
    assert s.ids() == ["d1", "d3", "d2", "d0"]  # stable on ties
    with pytest.raises(InputError, match="2 scores for 4 hits"):
        r.sorted_by([1.0, 2.0])


def test_full_text_joins_title_like_beir():
    assert Document("x", "body", title="Title").full_text == "Title body"
    assert Document("x", "body").full_text == "body"


@pytest.mark.parametrize("make, message", [
    (lambda: Query(None, "text"), "query id must be a string"),
    (lambda: Query("q", None), "text must be a string"),
    (lambda: Document(None, "t"), "document id must be a string"),
    (lambda: Document("d", 5), "must be strings"),
    (lambda: Hit(Document("d", "t"), score="high"), "score must be a number"),
    (lambda: Hit(Document("d", "t"), score=None), "score must be a number"),
    (lambda: Hit("d", 1.0), "needs a Document"),
    (lambda: Ranking("q", ()), "needs a Query"),
    (lambda: Ranking(Query("q", "t"), ["d1"]), "Hit objects"),
    (lambda: Ranking(Query("q", "t"), "d1"), "sequence of Hit"),
])
def test_wrong_types_are_input_errors(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_numeric_ids_and_numpy_scores_are_normalised():

    assert Query(7, "t").id == "7" and Document(3, "t").id == "3"
    hit = Hit(Document("d", "t"), np.float32(0.5))
    assert type(hit.score) is float and hit.score == 0.5


def test_lazy_ranking_builds_hits_only_when_read_and_equals_the_built_one():
    import copy
    import pickle

    docs = [Document(f"d{i}", f"text {i}") for i in range(5)]
    lazy = Ranking.from_indices(Query("q", "x"), docs, [3, 0, 4], [2.5, 1.0, 0.5])
    built = Ranking(Query("q", "x"), (Hit(docs[3], 2.5), Hit(docs[0], 1.0), Hit(docs[4], 0.5)))
    assert len(lazy) == 3 and lazy.ids() == ["d3", "d0", "d4"] and lazy.score_list() == [2.5, 1.0, 0.5]
    assert lazy.top(2).ids() == ["d3", "d0"] and lazy.to_trec_lines() == built.to_trec_lines()
    assert lazy.scores() == built.scores() and lazy.documents() == built.documents()
    assert "hits" not in lazy.__dict__
    assert lazy == built and lazy.hits == built.hits and "hits" in lazy.__dict__
    fresh = Ranking.from_indices(Query("q", "x"), docs, [3, 0, 4], [2.5, 1.0, 0.5])
    for clone in (pickle.loads(pickle.dumps(fresh)), copy.deepcopy(fresh)):
        assert clone == built and "_lazy" not in clone.__dict__
    assert pickle.loads(pickle.dumps(built.hits[0])) == built.hits[0]  # Hit uses slots and still pickles
    with pytest.raises(InputError, match="outside the 5 documents"):
        Ranking.from_indices(Query("q", "x"), docs, [5], [1.0])
    with pytest.raises(InputError, match="2 document indices but 1 scores"):
        Ranking.from_indices(Query("q", "x"), docs, [0, 1], [1.0])


def test_a_ranking_over_array_rows_reads_as_one_over_lists():
    """Index code hands over numpy rows (no Python objects until read): every reader sees what lists give."""
    docs = [Document(f"d{i}", f"text {i}") for i in range(5)]
    rows = np.array([[3, 0, 4], [1, 2, 0]], dtype=np.int64), np.array([[2.5, 1.0, 0.5], [3.0, 2.0, 1.0]], np.float32)
    want = Ranking.from_indices(Query("q", "x"), docs, [3, 0, 4], [2.5, 1.0, 0.5])
    for read in (lambda r: r.ids(), lambda r: r.score_list(), lambda r: r.hits, len, lambda r: r.top(2).ids(),
                 lambda r: r.scores(), lambda r: r.documents(), lambda r: r.to_trec_lines()):
        lazy = Ranking._from_checked_rows(Query("q", "x"), docs, rows[0][0], rows[1][0])
        assert read(lazy) == read(want)
        assert all(type(s) is float for s in lazy.score_list()) and all(type(i) is int for i in lazy._lazy[1])
    lazy = Ranking._from_checked_rows(Query("q", "x"), docs, rows[0][1], rows[1][1])
    assert lazy == Ranking.from_indices(Query("q", "x"), docs, [1, 2, 0], [3.0, 2.0, 1.0])
