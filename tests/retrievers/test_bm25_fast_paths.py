"""BM25's fast paths give the plain path's rankings bit for bit, on the full BEIR SciFact corpus.

The plain path is rebuilt here as rerankit did it before: each text analysed on its own (stemming every token),
bm25s indexed from token strings, every query scored over the whole corpus with bm25s's numpy `get_scores`, and the
matching documents ordered as trec_eval orders them (score descending, ties by document id descending).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from rerankit.retrievers.analysis import Analyzer
from rerankit.retrievers.bm25 import BM25Retriever, numba_available
from rerankit.types import Hit, Ranking

pytestmark = pytest.mark.slow  # the full SciFact corpus (5,183 documents, 300 queries)


@pytest.fixture(scope="module")
def scifact(shared_data):
    from rerankit.data import load_dataset

    ds = load_dataset("beir/scifact", data_dir=shared_data)
    return list(ds.corpus.values()), list(ds.queries.values())


@pytest.fixture(scope="module")
def plain(scifact):
    """Per query: every matching document as (id, score) in trec_eval's order, from the whole-corpus scores."""
    import bm25s

    docs, queries = scifact
    analyzer = Analyzer()
    model = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    model.index([analyzer(d.full_text) for d in docs], show_progress=False)
    out = {}
    for q in queries:
        tokens = [t for t in analyzer(q.text) if t in model.vocab_dict]
        scores = model.get_scores(tokens) if tokens else np.zeros(len(docs), dtype=np.float32)
        hits = [(docs[i].id, float(s)) for i, s in enumerate(scores.tolist()) if s > 0]
        hits.sort(key=lambda h: h[0], reverse=True)
        hits.sort(key=lambda h: -h[1])
        out[q.id] = hits
    return out


def test_batched_analysis_equals_one_text_at_a_time(scifact):
    docs, queries = scifact
    analyzer = Analyzer()
    texts = [d.full_text for d in docs] + [q.text for q in queries]
    one_by_one = [analyzer(t) for t in texts]
    assert analyzer.many(texts) == one_by_one
    assert any("" in terms for terms in one_by_one)  # Porter stems "s" to "": a term the batched path must keep
    vocab: dict[str, int] = {}
    ids = analyzer.many_ids(texts, vocab, grow=True)
    term = {i: t for t, i in vocab.items()}
    assert [[term[i] for i in row] for row in ids] == one_by_one
    known = {t: i for t, i in list(vocab.items())[:1000]}
    assert analyzer.many_ids(texts[:50], known, grow=False) == [[i for i in row if i < 1000] for row in ids[:50]]


@pytest.fixture(scope="module")
def bm25(scifact):
    return BM25Retriever(show_progress=False).index(scifact[0])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("k", [10, 100, 1000])
def test_rankings_equal_the_plain_path(scifact, plain, bm25, backend, k):
    if backend == "numba" and not numba_available():
        pytest.skip("numba is not installed")
    queries = scifact[1]
    bm25.backend = backend  # which top-k implementation searches; the index is the same
    run = bm25.search_many(queries, k)
    for q in queries:
        assert list(zip(run[q.id].ids(), run[q.id].score_list())) == plain[q.id][:k], q.id
    if k == 1000:  # a tie crosses the cut somewhere, so the tie rule at the cut was exercised
        cut = [p for p in plain.values() if len(p) > k and p[k - 1][1] == p[k][1]]
        assert cut


def test_lazy_rankings_equal_built_ones(scifact):
    docs, queries = scifact
    bm25 = BM25Retriever(show_progress=False).index(docs[:2000])
    lazy = bm25.search_many(queries[:20], 50)
    fresh = bm25.search_many(queries[:20], 50)
    for qid, ranking in lazy.items():
        built = Ranking(ranking.query, tuple(Hit(d, s) for d, s in zip(ranking.documents(), ranking.score_list())))
        assert len(ranking) == len(built) and ranking.ids() == built.ids()
        assert ranking.top(5).ids() == built.top(5).ids() and ranking.to_trec_lines() == built.to_trec_lines()
        assert "hits" not in ranking.__dict__  # nothing above needed the Hit objects
        assert ranking == built and ranking.hits == built.hits and repr(ranking) == repr(built)
        copy = pickle.loads(pickle.dumps(fresh[qid]))
        assert copy == built and "_lazy" not in copy.__dict__  # pickles its hits, not the document store
    assert len(pickle.dumps(fresh[queries[0].id])) < 50 * 3000  # 50 hits' text, far below the 2,000 documents'


@pytest.mark.parametrize("k", [10, 1000])
def test_parallel_numba_search_equals_the_plain_path(scifact, plain, bm25, k):
    if not numba_available():
        pytest.skip("numba is not installed")
    bm25.backend, bm25.n_threads = "numba", 2
    try:
        run = bm25.search_many(scifact[1], k)
    finally:
        bm25.n_threads = 0
    for q in scifact[1]:
        assert list(zip(run[q.id].ids(), run[q.id].score_list())) == plain[q.id][:k], q.id


def test_general_kernel_equals_the_plain_path(scifact, plain, bm25):
    """An index whose documents are not stored in descending id order (saved by an earlier version) takes the
    kernel that looks ids up at the cut: the same rankings."""
    if not numba_available():
        pytest.skip("numba is not installed")
    bm25.backend = "numba"
    bm25._rank_of_ids()
    assert bm25._ids_descending  # index() stores documents in descending id order
    bm25._ids_descending = False  # as for an index stored in another order
    try:
        run = bm25.search_many(scifact[1], 1000)
    finally:
        bm25._ids_descending = True
    for q in scifact[1]:
        assert list(zip(run[q.id].ids(), run[q.id].score_list())) == plain[q.id][:1000], q.id


@pytest.mark.parametrize("method", ["bm25l", "bm25+"])
def test_numba_scores_equal_bm25s_numba_kernel_where_absent_terms_score(scifact, method):
    """bm25l and bm25+ give documents a score for query terms they lack: rerankit's kernel adds it as bm25s's own
    numba kernel does, so the top scores are bm25s's bit for bit (bm25s's numpy path rounds differently)."""
    if not numba_available():
        pytest.skip("numba is not installed")
    from bm25s.numba.retrieve_utils import _retrieve_internal_jitted
    from numba import njit

    docs, queries = scifact
    bm25 = BM25Retriever(method=method, backend="numba", show_progress=False).index(docs[:1500])
    model, data = bm25._bm25, bm25._bm25.scores
    assert model.nonoccurrence_array is not None
    token_ids = [t for t in bm25.analyzer.many_ids((q.text for q in queries[:100]), model.vocab_dict, grow=False) if t]
    pointers = np.zeros(len(token_ids) + 1, dtype=np.int32)
    np.cumsum([len(t) for t in token_ids], out=pointers[1:])
    flat = np.array([i for t in token_ids for i in t], dtype=np.int32)
    ref_scores, _ = njit(nogil=True)(_retrieve_internal_jitted)(
        flat, pointers, 20, True, np.dtype(model.dtype), np.dtype(model.int_dtype), data["data"], data["indptr"],
        data["indices"], int(data["num_docs"]), model.nonoccurrence_array)
    ours = bm25._top_k(token_ids, 20)
    assert [list(s) for _, s in ours] == [list(row) for row in ref_scores]
    numpy_run = BM25Retriever(method=method, backend="numpy", show_progress=False).index(docs[:1500])._top_k(
        token_ids, 20)
    assert max(abs(a - b) for (_, x), (_, y) in zip(ours, numpy_run) for a, b in zip(x, y)) < 1e-4
