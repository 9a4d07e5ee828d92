"""BM25 on bm25s, the embedded default retriever, with Lucene/Anserini-compatible parameters.

Defaults reproduce Anserini's BM25 (k1=0.9, b=0.4, Lucene's BM25 variant, Porter stemming, Lucene stopwords,
title and text indexed as one field): on BEIR SciFact it gives nDCG@10 0.678 vs pyserini's published 0.6789.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rerankit.checks import positive_int
from rerankit.errors import ConfigError, IndexMismatchError, InputError
from rerankit.retrievers.analysis import LUCENE_STOPWORDS, Analyzer
from rerankit.retrievers.base import IndexedRetriever, check_corpus, check_queries
from rerankit.retrievers.index_io import DOCS, load_documents, read_manifest, save_documents, write_manifest
from rerankit.types import Document, Hit, Query, Ranking, Run

__all__ = ["BM25Retriever"]

log = logging.getLogger(__name__)

_FORMAT = "rerankit-bm25/2"  # /2: checksummed files (rerankit.json lists them)
_BM25S_DIR = "bm25s"
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


class BM25Retriever(IndexedRetriever):
    """Sparse lexical retrieval.

    Args:
        k1, b: BM25 parameters (Anserini defaults).
        method: bm25s scoring variant: "lucene" (default, as Anserini), "robertson", "atire", "bm25l", "bm25+".
        stemmer: a PyStemmer algorithm ("porter" as Lucene; "english" for Snowball), or None / "none" for no stemming.
        stopwords: "lucene" (Lucene's 33 English words), "none", or an explicit list.
        n_threads: threads for batched search (0 = one thread).
    """

    name = "bm25"

    def __init__(self, k1: float = 0.9, b: float = 0.4, method: str = "lucene", stemmer: str | None = "porter",
                 stopwords: str | Sequence[str] | None = "lucene", n_threads: int = 0,
                 show_progress: bool = True) -> None:
        numbers = (k1, b)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers) or k1 < 0 or not 0 <= b <= 1:
            raise InputError(f"BM25 needs numbers k1 >= 0 and 0 <= b <= 1, got k1={k1!r}, b={b!r}")
        if method not in METHODS:
            raise ConfigError(f"unknown BM25 method {method!r}; choose one of {', '.join(METHODS)}")
        self.k1, self.b, self.method = float(k1), float(b), method
        self.analyzer = Analyzer(stemmer=_stemmer(stemmer), stopwords=_stopword_set(stopwords))
        self.n_threads = n_threads
        self.show_progress = show_progress
        self._bm25 = None
        self._docs: list[Document] = []

    # ---- indexing -------------------------------------------------------------------------------------------
    def index(self, documents: Iterable[Document]) -> BM25Retriever:
        bm25s = _import_bm25s()

        docs = check_corpus(documents)
        tokens = [self.analyzer(d.full_text) for d in _progress(docs, "analyse", self.show_progress)]
        model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        model.index(tokens, show_progress=self.show_progress)
        self._bm25, self._docs = model, docs
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
        vocab = self._bm25.vocab_dict
        # Terms unknown to the index contribute nothing (as in Lucene); a query with none matches nothing.
        q_tokens = [[t for t in self.analyzer(q.text) if t in vocab] for q in qs]
        run: Run = {}
        nonempty = [i for i, t in enumerate(q_tokens) if t]
        if nonempty:
            ids, scores = self._bm25.retrieve([q_tokens[i] for i in nonempty], k=k_eff,
                                              show_progress=self.show_progress and len(nonempty) > 50,
                                              n_threads=self.n_threads)
            for row, i in enumerate(nonempty):
                run[qs[i].id] = self._ranking(qs[i], ids[row], scores[row])
        for q in qs:
            if q.id not in run:
                log.info("query %r has no term in the index vocabulary: empty ranking", q.id)
                run[q.id] = Ranking(q, ())
        return {q.id: run[q.id] for q in qs}

    def _ranking(self, query: Query, ids: np.ndarray, scores: np.ndarray) -> Ranking:
        # Lucene returns only documents that match at least one term: drop zero-score padding.
        pairs = [(s, i) for i, s in zip(ids.tolist(), scores.tolist()) if s > 0]
        if len({s for s, _ in pairs}) != len(pairs):
            # Break score ties by document id descending, as trec_eval orders them, so runs are reproducible.
            pairs.sort(key=lambda p: self._docs[p[1]].id, reverse=True)
            pairs.sort(key=lambda p: -p[0])
        return Ranking(query, tuple(Hit(self._docs[i], s) for s, i in pairs))

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
        self._docs = load_documents(path)
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
