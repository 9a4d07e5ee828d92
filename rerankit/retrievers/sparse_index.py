"""An inverted index over weighted terms (learned-sparse vectors), scored by dot product.

The postings are a scipy CSR matrix of shape (vocabulary, documents): row t lists the documents holding term t
and their weights, which is exactly an inverted index. A batch of sparse queries times the postings gives every
query's score over the documents that share a term with it; the top k are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rerankit.errors import IndexMismatchError, InputError

__all__ = ["SparseIndex"]


class SparseIndex:
    """Term -> (document, weight) postings; ``search`` returns the top-k documents by dot product per query."""

    def __init__(self, postings: Any) -> None:
        self.postings = postings.tocsr()
        self.postings.sort_indices()

    @classmethod
    def from_documents(cls, doc_vectors: Any) -> SparseIndex:
        """Build from a (documents, vocabulary) sparse matrix of term weights."""
        if doc_vectors.shape[0] == 0:
            raise InputError("the corpus is empty: there is nothing to index")
        return cls(doc_vectors.T.tocsr().astype(np.float32))

    @property
    def vocab_size(self) -> int:
        return int(self.postings.shape[0])

    @property
    def num_docs(self) -> int:
        return int(self.postings.shape[1])

    @property
    def nnz(self) -> int:
        """Number of postings (document-term pairs with a positive weight)."""
        return int(self.postings.nnz)

    @property
    def nbytes(self) -> int:
        """Memory of the postings arrays (weights, document ids, row pointers)."""
        p = self.postings
        return int(p.data.nbytes + p.indices.nbytes + p.indptr.nbytes)

    def search(self, queries: Any, k: int, chunk: int = 256) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query row: (document indices, scores), best first, only documents sharing a term: the `k` best, and
        every other document tied with the k-th score (which of those make the cut is decided by document id, by
        the caller: :func:`~rerankit.retrievers.index_io.ranking_from_scores` with `k`)."""
        if queries.shape[1] != self.vocab_size:
            raise IndexMismatchError(f"query vectors have {queries.shape[1]} dimensions but the index vocabulary "
                                     f"has {self.vocab_size}: the query encoder does not match the index")
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        queries = queries.tocsr().astype(np.float32)
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for start in range(0, queries.shape[0], chunk):
            scores = (queries[start:start + chunk] @ self.postings).tocsr()
            for row in range(scores.shape[0]):
                lo, hi = scores.indptr[row], scores.indptr[row + 1]
                docs, vals = scores.indices[lo:hi], scores.data[lo:hi]
                keep = vals > 0
                docs, vals = docs[keep], vals[keep]
                if len(vals) > k:
                    kth = np.partition(vals, len(vals) - k)[len(vals) - k]  # the k-th highest score
                    top = np.flatnonzero(vals >= kth)
                    docs, vals = docs[top], vals[top]
                order = np.argsort(-vals, kind="stable")
                out.append((docs[order].astype(np.int64), vals[order]))
        return out

    def save(self, file: str | Path) -> None:
        from scipy import sparse

        sparse.save_npz(str(file), self.postings, compressed=False)

    @classmethod
    def load(cls, file: str | Path) -> SparseIndex:
        from scipy import sparse

        try:
            return cls(sparse.load_npz(str(file)))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatchError(f"cannot read the sparse index {file} ({exc})") from None
