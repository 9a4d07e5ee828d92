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
