"""BM25 on bm25s, the embedded default retriever, with Lucene/Anserini-compatible parameters.

Defaults reproduce Anserini's BM25 (k1=0.9, b=0.4, Lucene's BM25 variant, Porter stemming, Lucene stopwords,
title and text indexed as one field): on BEIR SciFact it gives nDCG@10 0.678 vs pyserini's published 0.6789.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from rerankit.checks import positive_int
from rerankit.errors import ConfigError, IndexMismatchError, InputError
from rerankit.retrievers.analysis import LUCENE_STOPWORDS, Analyzer
from rerankit.retrievers.base import IndexedRetriever, check_corpus, check_queries
from rerankit.retrievers.index_io import (
    DOCS,
    load_documents,
    read_manifest,
    save_documents,
    search_past_the_tie,
    write_manifest,
)
from rerankit.types import Document, Query, Ranking, Run

__all__ = ["BM25Retriever"]

log = logging.getLogger(__name__)

_FORMAT = "rerankit-bm25/2"  # /2: checksummed files (rerankit.json lists them)
_BM25S_DIR = "bm25s"
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
BACKENDS = ("auto", "numba", "numpy")


class BM25Retriever(IndexedRetriever):
    """Sparse lexical retrieval.

    Args:
        k1, b: BM25 parameters (Anserini defaults).
        method: bm25s scoring variant: "lucene" (default, as Anserini), "robertson", "atire", "bm25l", "bm25+".
        stemmer: a PyStemmer algorithm ("porter" as Lucene; "english" for Snowball), or None / "none" for no stemming.
        stopwords: "lucene" (Lucene's 33 English words), "none", or an explicit list.
        n_threads: threads for batched search (0 = one thread).
        backend: "auto" (numba when installed, else numpy), "numba" (rerankit's one-pass kernel over bm25s's
            index, `bm25_exact_top_k`) or "numpy" (bm25s's numpy top-k). Rankings are identical on both (for bm25l
            and bm25+ scores may differ in the last float32 bit); numba is faster once its kernel is compiled,
            which happens once per machine (cached on disk).
    """

    name = "bm25"

    def __init__(self, k1: float = 0.9, b: float = 0.4, method: str = "lucene", stemmer: str | None = "porter",
                 stopwords: str | Sequence[str] | None = "lucene", n_threads: int = 0, backend: str = "auto",
                 show_progress: bool = True) -> None:
        numbers = (k1, b)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers) or k1 < 0 or not 0 <= b <= 1:
            raise InputError(f"BM25 needs numbers k1 >= 0 and 0 <= b <= 1, got k1={k1!r}, b={b!r}")
        if method not in METHODS:
            raise ConfigError(f"unknown BM25 method {method!r}; choose one of {', '.join(METHODS)}")
        if backend not in BACKENDS:
            raise ConfigError(f"unknown BM25 backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if backend == "numba" and not numba_available():
            raise ConfigError("backend='numba' needs numba (pip install 'bm25s[core]'); use backend='numpy' or 'auto'")
        self.k1, self.b, self.method = float(k1), float(b), method
        self.analyzer = Analyzer(stemmer=_stemmer(stemmer), stopwords=_stopword_set(stopwords))
        self.n_threads = n_threads
        self.backend = backend
        self.show_progress = show_progress
        self._bm25 = None
        self._docs: list[Document] = []
        self._id_rank: np.ndarray | None = None
        self._ids_descending = False  # documents stored in descending id order? (set with _id_rank)

    # ---- indexing -------------------------------------------------------------------------------------------
    def index(self, documents: Iterable[Document]) -> BM25Retriever:
        bm25s = _import_bm25s()

        # stored in descending id order: the search kernel then orders ties (by id) for free (`bm25_exact_top_k`)
        docs = sorted(check_corpus(documents), key=lambda d: d.id, reverse=True)
        vocab: dict[str, int] = {}
        token_ids = self.analyzer.many_ids((d.full_text for d in docs), vocab, grow=True)
        model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        model.index((token_ids, vocab), show_progress=self.show_progress)
        self._bm25, self._docs, self._id_rank = model, docs, None
        log.info("BM25 index: %d documents, %d terms", len(docs), len(model.vocab_dict))
        return self

    @property
    def num_docs(self) -> int:
        return len(self._docs)

    # ---- search ---------------------------------------------------------------------------------------------
    def search_many(self, queries: Sequence[Query | str], k: int = 100) -> Run:
        if self._bm25 is None:
            raise InputError("the BM25 index is empty: call index(documents) or BM25Retriever.load(path) first")
        k = positive_int(k, "k")
        qs = check_queries(queries)
        k_eff = min(k, len(self._docs))
        # Terms unknown to the index contribute nothing (as in Lucene); a query with none matches nothing.
        q_ids = self.analyzer.many_ids((q.text for q in qs), self._bm25.vocab_dict, grow=False)
        run: Run = {}
        nonempty = [i for i, t in enumerate(q_ids) if t]
        if nonempty:
            rows = self._top_k([q_ids[i] for i in nonempty], k_eff)
            make = Ranking._from_checked_rows  # indices of this index's own documents (lists or array rows)
            for (idx, scores), i in zip(rows, nonempty):
                run[qs[i].id] = make(qs[i], self._docs, idx, scores)
        for q in qs:
            if q.id not in run:
                log.info("query %r has no term in the index vocabulary: empty ranking", q.id)
                run[q.id] = Ranking(q, ())
        return {q.id: run[q.id] for q in qs}

    def _top_k(self, token_ids: list[list[int]], k: int) -> list[tuple[Sequence[int], Sequence[float]]]:
        """Per query: the first `k` matching documents in trec_eval's order (score descending, ties by document id
        descending), as (indices, scores). Documents scoring 0 match no term and are left out, as in Lucene.

        On numba, one kernel pass per query keeps the k best (score, id) keys (`bm25_exact_top_k`). On numpy, one
        extra document is fetched to see whether a tie crosses the cut; only then is that query searched deeper
        (doubling the depth until a score below the cut's shows up, so every document tied at the cut is in hand).
        Either way, which tied documents make the cut never depends on the top-k backend.
        """
        if _use_numba(self.backend):  # one pass per query that orders ties itself
            from rerankit.retrievers.bm25_exact_top_k import exact_top_k

            model = self._bm25
            data = model.scores
            rank = self._rank_of_ids()
            return exact_top_k(token_ids, k, data["data"], data["indptr"], data["indices"], int(data["num_docs"]),
                               model.nonoccurrence_array, None if self._ids_descending else rank, self.n_threads)
        n = len(self._docs)
        fetch = k + 1 if k < n else k
        ids, scores = self._retrieve(token_ids, fetch)
        positive = scores > 0
        tied = (scores[:, 1:] == scores[:, :-1]) & positive[:, 1:]
        counts = positive[:, :k].sum(axis=1).tolist()
        out_ids, out_scores = ids[:, :k].tolist(), scores[:, :k].tolist()
        rows = [(i[:c], s[:c]) for i, s, c in zip(out_ids, out_scores, counts)]
        for r in np.flatnonzero(tied.any(axis=1)).tolist():
            if fetch > k and tied[r, k - 1]:
                cand_ids, cand_scores = search_past_the_tie(partial(self._retrieve_one, token_ids[r]),
                                                            float(scores[r, k - 1]), fetch, n)
            else:
                cand_ids, cand_scores = ids[r, :k], scores[r, :k]
            keep = cand_scores > 0
            cand_ids, cand_scores = cand_ids[keep], cand_scores[keep]
            order = np.lexsort((-self._rank_of_ids()[cand_ids], -cand_scores))[:k]
            rows[r] = (cand_ids[order].tolist(), cand_scores[order].tolist())
        return rows

    def _retrieve_one(self, token_ids: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self._retrieve([token_ids], k)
        return ids[0], scores[0]

    def _retrieve(self, token_ids: list[list[int]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """bm25s's numpy top-k (ids, scores) arrays."""
        ids, scores = self._bm25.retrieve(token_ids, k=k, show_progress=self.show_progress and len(token_ids) > 50,
                                          n_threads=self.n_threads)
        return np.asarray(ids), np.asarray(scores)

    def _rank_of_ids(self) -> np.ndarray:
        """Position of each document's id in sorted id order (computed on first use, then kept, with whether the
        documents are stored in descending id order)."""
        if self._id_rank is None:
            order = np.argsort(np.array([d.id for d in self._docs]), kind="stable")
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            self._id_rank = rank
            self._ids_descending = bool((rank == np.arange(len(rank) - 1, -1, -1)).all())
        return self._id_rank

    # ---- persistence ----------------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"name": self.name, "k1": self.k1, "b": self.b, "method": self.method,
                "analyzer": self.analyzer.config()}

    def save(self, path: str | Path) -> None:
        if self._bm25 is None:
            raise InputError("nothing to save: the BM25 index is empty")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(path / _BM25S_DIR), show_progress=False)
        save_documents(path, self._docs)
        files = sorted(f"{_BM25S_DIR}/{f.name}" for f in (path / _BM25S_DIR).iterdir() if f.is_file())
        write_manifest(path, _FORMAT, self.config(), [*files, DOCS], num_docs=len(self._docs))

    @classmethod
    def load(cls, path: str | Path, verify: bool = True, **options: object) -> BM25Retriever:
        """Load a saved index; every file is checked against its checksum first (`verify=False` skips that)."""
        bm25s = _import_bm25s()

        path = Path(path)
        meta = read_manifest(path, _FORMAT, verify=verify)
        try:
            cfg = meta["config"]
            an = cfg["analyzer"]
            self = cls(k1=cfg["k1"], b=cfg["b"], method=cfg["method"], stemmer=an["stemmer"],
                       stopwords=an["stopwords"] or "none", **options)  # type: ignore[arg-type]
        except (KeyError, TypeError) as exc:
            raise IndexMismatchError(f"{path / 'rerankit.json'}: unreadable BM25 settings ({exc})") from None
        try:
            self._bm25 = bm25s.BM25.load(str(path / _BM25S_DIR), show_progress=False)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatchError(f"{path}: cannot read the BM25 index ({exc})") from None
        self._docs, self._id_rank = load_documents(path), None
        n_scored = int(self._bm25.scores["num_docs"])
        if len(self._docs) != meta["num_docs"] or n_scored != len(self._docs):
            raise IndexMismatchError(f"{path}: index holds {n_scored} documents but the document store "
                                     f"{len(self._docs)} (expected {meta['num_docs']}): the index is corrupt")
        return self


def _import_bm25s():
    import bm25s

    # bm25s pins its logger to DEBUG at import; let it follow the application's logging configuration instead.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


def numba_available() -> bool:
    """Whether numba (bm25s's ``core`` extra) is installed, so the numba backend can run."""
    return importlib.util.find_spec("numba") is not None


def _use_numba(backend: str) -> bool:
    return backend == "numba" or (backend == "auto" and numba_available())


def _stemmer(stemmer: str | None) -> str | None:
    """A PyStemmer algorithm name, or None for no stemming (also spelled "none" or "" on the command line)."""
    if stemmer is None or stemmer is False or (isinstance(stemmer, str) and stemmer.strip().lower() in ("", "none")):
        return None
    import Stemmer

    if not isinstance(stemmer, str) or stemmer not in Stemmer.algorithms():
        raise ConfigError(f"unknown stemmer {stemmer!r}: use 'none' for no stemming or one of PyStemmer's algorithms "
                          f"({', '.join(Stemmer.algorithms())})")
    return stemmer


def _stopword_set(stopwords: str | Sequence[str] | None) -> frozenset[str] | None:
    if stopwords is None or stopwords == "none":
        return None
    if stopwords == "lucene":
        return LUCENE_STOPWORDS
    if isinstance(stopwords, str) or not isinstance(stopwords, Iterable) or \
            not all(isinstance(w, str) for w in stopwords):
        raise InputError(f"stopwords must be 'lucene', 'none' or a list of words, got {stopwords!r}")
    return frozenset(stopwords)


def _progress(items: list, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="doc", disable=not enabled or len(items) < 1000)
