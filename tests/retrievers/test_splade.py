"""SPLADE with the packaged splade-tiny: the pooling formula, the inverted index, save/reload, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from rerankit.errors import IndexMismatchError, InputError, ModelNotFoundError
from rerankit.registry import build
from rerankit.retrievers.sparse_index import SparseIndex
from rerankit.retrievers.splade import SpladeRetriever

from .conftest import QUERIES, SEASONS, as_lists


def test_sparse_index_matches_brute_force_dot_products():
    docs = sparse.random(50, 300, density=0.05, random_state=1, format="csr", dtype=np.float32)
    queries = sparse.random(7, 300, density=0.05, random_state=2, format="csr", dtype=np.float32)
    index = SparseIndex.from_documents(docs)
    assert index.num_docs == 50 and index.vocab_size == 300 and index.nnz == docs.nnz
    dense_scores = (queries @ docs.T).toarray()
    for row, (ids, scores) in enumerate(index.search(queries, k=5, chunk=3)):
        positive = np.flatnonzero(dense_scores[row] > 0)
        best = positive[np.argsort(-dense_scores[row][positive], kind="stable")][:5]
        assert sorted(ids.tolist()) == sorted(best.tolist())
        assert np.allclose(scores, dense_scores[row][ids], rtol=1e-5)
        assert list(scores) == sorted(scores, reverse=True)
    with pytest.raises(IndexMismatchError, match="dimensions"):
        index.search(sparse.csr_matrix((1, 299), dtype=np.float32), k=3)


@pytest.fixture(scope="module")
def splade(splade_tiny):
    return build("retriever", "splade", model=str(splade_tiny), show_progress=False).index(SEASONS)


@pytest.mark.slow
def test_vectors_follow_the_splade_formula(splade):
    import torch

    enc = splade.document_encoder
    text = "Sunlight hits the northern hemisphere more directly in summer."
    # encoded next to a much longer text, so padding must be masked out
    batch = enc.encode([text, SEASONS[0].full_text * 3]).toarray()[0]
    tokens = enc.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        logits = enc.model(**tokens).logits[0]
    expected = torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()
    assert np.allclose(batch, expected, atol=1e-4)
    assert (batch >= 0).all() and 0 < np.count_nonzero(batch) < batch.size / 10
    terms = dict(enc.terms(sparse.csr_matrix(batch), top=30))
    assert "sunlight" in terms and len(set(terms) & {"sun", "sunshine", "light"}) >= 1  # real expansion


@pytest.mark.slow
def test_ranks_the_relevant_passages_first(splade):
    run = splade.search_many(QUERIES, k=3)
    assert run["q1"].ids()[0] in ("d1", "d6")
    assert run["q2"].ids()[0] == "d5"
    assert run["q3"].ids()[0] == "d2"
    assert run["q4"].ids()[0] == "d4"


@pytest.mark.slow
def test_save_reload_in_a_new_process_gives_identical_results(splade, tmp_path, search_in_new_process):
    splade.save(tmp_path / "idx")
    expected = as_lists(splade.search_many(QUERIES, k=5))
    assert search_in_new_process("splade", tmp_path / "idx", QUERIES, 5) == expected


@pytest.mark.slow
def test_corrupt_or_mismatched_index_is_refused(splade, minilm, tmp_path):
    splade.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="encodes differently|vocabulary"):
        SpladeRetriever.load(tmp_path / "idx", model=str(minilm))  # a BERT without SPLADE's trained MLM head
    lines = (tmp_path / "idx" / "docs.jsonl").read_text().splitlines()
    (tmp_path / "idx" / "docs.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # a document lost
    with pytest.raises(IndexMismatchError, match="checksum"):
        SpladeRetriever.load(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="document store"):
        SpladeRetriever.load(tmp_path / "idx", verify=False)
    (tmp_path / "idx" / "postings.npz").write_bytes(b"garbage")
    with pytest.raises(IndexMismatchError):
        SpladeRetriever.load(tmp_path / "idx", verify=False)


@pytest.mark.slow
def test_bad_input_errors(splade_tiny, tmp_path):
    with pytest.raises(InputError, match="empty"):
        SpladeRetriever(str(splade_tiny)).search("x")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        SpladeRetriever(str(tmp_path / "missing")).document_encoder  # noqa: B018
    with pytest.raises(InputError, match="corpus is empty"):
        SpladeRetriever(str(splade_tiny)).index([])


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_ties_at_the_cut_are_decided_by_document_id(splade_tiny, order):
    """Six copies of one passage score exactly alike: the k that make the cut are those trec_eval ranks first (the
    highest ids), whatever order the index holds them in."""
    from rerankit.types import Document, Query

    copies = [Document(f"dup-{i}", "Leaves turn sunlight into sugar by photosynthesis.") for i in range(6)]
    docs = [*SEASONS, *(copies if order == "ascending" else copies[::-1])]
    retriever = build("retriever", "splade", model=str(splade_tiny), show_progress=False, batch_size=1).index(docs)
    query = Query("q", "leaves sunlight sugar photosynthesis")
    for k in (1, 3, 5):
        got = retriever.search(query, k)
        assert got.ids() == [f"dup-{i}" for i in range(5, 5 - k, -1)], (order, k)
        assert len(set(got.score_list())) == 1


def test_the_sparse_index_hands_over_every_document_tied_at_the_cut():
    rows = [[5.0, 0.0, 0.0]] + [[1.0, 2.0, 0.0]] * 4 + [[1.0, 0.0, 0.0]]  # scores 5, four times 3, then 1
    index = SparseIndex.from_documents(sparse.csr_matrix(np.array(rows, dtype=np.float32)))
    (ids, scores), = index.search(sparse.csr_matrix(np.array([[1.0, 1.0, 0.0]], dtype=np.float32)), k=2)
    assert ids[0] == 0 and sorted(ids[1:].tolist()) == [1, 2, 3, 4]
    assert scores.tolist() == [5.0, 3.0, 3.0, 3.0, 3.0]
