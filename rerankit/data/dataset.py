"""Dataset types: a loaded `Dataset` (queries, qrels, lazy corpus, first-stage candidates), its card and listing info.

A dataset holds only judged queries (those with qrels), so every query it hands out can be evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankit.errors import DataError, InputError
from rerankit.fingerprint import documents_digest, files_fingerprint
from rerankit.runs import Qrels
from rerankit.types import Document, Query, Run

__all__ = ["Dataset", "DatasetCard", "DatasetInfo", "CandidateSource"]


@dataclass(frozen=True)
class DatasetCard:
    """What a dataset is and what to expect from it: source, licence, expected counts, published scores."""

    id: str
    description: str = ""
    source: str = ""
    licence: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    reference_scores: tuple[Mapping[str, Any], ...] = ()
    notes: str = ""
    card_file: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """One row of `list_datasets`: a known id and whether (and where) it is available locally."""

    id: str
    family: str
    available_locally: bool
    location: str | None
    has_corpus: bool
    candidate_names: tuple[str, ...]
    online_id: str | None
    description: str = ""
    candidate_text: Mapping[str, bool] = field(default_factory=dict)
    """Every shipped first-stage run by name: True when it carries passage text, False for ids and scores only."""

    @property
    def contents(self) -> str:
        """What the local copy holds, in words: corpus, topics+qrels only, shipped candidates with or without text."""
        if not self.available_locally:
            return "not in the local mirror"
        parts = ["corpus + topics + qrels" if self.has_corpus else "topics + qrels only (no corpus)"]
        runs = [f"{n} ({'with text' if t else 'ids only'})" for n, t in self.candidate_text.items()]
        if runs:
            parts.append("candidates: " + ", ".join(runs))
        return "; ".join(parts)

    @property
    def usable_for(self) -> str:
        """What can be run with the local copy: retrieval, reranking shipped candidates, scoring shipped runs."""
        if not self.available_locally:
            return ""
        if self.has_corpus:
            return "retrieve, rerank, evaluate"
        if any(self.candidate_text.values()):
            return "rerank and evaluate the shipped candidates"
        if self.candidate_text:
            return "evaluate the shipped runs (reranking needs the corpus)"
        return "evaluate runs you bring (retrieval and reranking need the corpus)"

    @property
    def where(self) -> str | None:
        """The local folder if available, else ``ir_datasets:<id>`` where it can be had online, else None."""
        if self.available_locally:
            return self.location
        return f"ir_datasets:{self.online_id}" if self.online_id else None


@dataclass(frozen=True)
class CandidateSource:
    """A shipped first-stage run. `load(dataset, with_text)` builds it; `has_text`: whether passages come with it."""

    name: str
    location: str
    has_text: bool
    load: Callable[[Dataset, bool], Run]
    why_no_text: str = ""


class Dataset:
    """A benchmark: judged queries (topic-file order), qrels, an optional lazy corpus, optional candidate runs."""

    def __init__(
        self,
        id: str,
        queries: dict[str, Query],
        qrels: Qrels,
        *,
        relevance_level: int = 1,
        card: DatasetCard | None = None,
        corpus: Callable[[], Mapping[str, Document]] | None = None,
        corpus_missing: str = "",
        candidates: Mapping[str, CandidateSource] | None = None,
        source: str = "",
        excluded_ids: Mapping[str, frozenset[str]] | None = None,
        corpus_files: tuple[Path, ...] = (),
    ) -> None:
        self.id = id
        self.queries = queries
        self.qrels = qrels
        self.relevance_level = relevance_level
        self.card = card or DatasetCard(id)
        self.source = source
        self.excluded_ids: Mapping[str, frozenset[str]] = excluded_ids or {}
        """Per query, documents the benchmark says to drop from rankings before scoring (BRIGHT); else empty."""
        self._corpus_factory = corpus
        self._corpus: Mapping[str, Document] | None = None
        self._corpus_missing = corpus_missing
        self._corpus_files = tuple(corpus_files)
        self._candidates = dict(candidates or {})

    @property
    def has_corpus(self) -> bool:
        return self._corpus_factory is not None

    @property
    def corpus(self) -> Mapping[str, Document]:
        """The documents, by id, iterable in file order; opened on first use."""
        if self._corpus_factory is None:
            raise DataError(f"dataset {self.id!r} has no corpus here: {self._corpus_missing}")
        if self._corpus is None:
            self._corpus = self._corpus_factory()
        return self._corpus

    def corpus_fingerprint(self) -> dict[str, Any]:
        """What identifies this corpus's content for the index store, cheaply.

        The files it is read from (name, size, modification time in ns) for a local corpus; the ir_datasets id
        for one read through ir_datasets (which checks its downloads); otherwise a digest of every document.
        """
        if self._corpus_files:
            return {"files": files_fingerprint(self._corpus_files)}
        if self.source.startswith("ir_datasets:"):
            return {"source": self.source}
        digest, count = documents_digest(self.corpus.values())
        return {"documents": digest, "count": count}

    @property
    def candidate_names(self) -> list[str]:
        """Names of shipped first-stage runs that come with passage text (ready to rerank)."""
        return [n for n, c in self._candidates.items() if c.has_text]

    @property
    def all_candidate_names(self) -> list[str]:
        """Every shipped run, including those with ids and scores only (see `candidates(with_text=False)`)."""
        return list(self._candidates)

    def candidates(self, name: str, with_text: bool = True) -> Run:
        """A shipped first-stage run for the judged queries (topic order), rankings in trec_eval order, with text.

        `with_text=False` also gives runs that carry only ids and scores (hits then have empty text).
        """
        if name not in self._candidates:
            have = ", ".join(repr(n) for n in self._candidates) or "none"
            raise InputError(f"dataset {self.id!r} has no candidate run {name!r}; it has: {have}")
        source = self._candidates[name]
        if with_text and not source.has_text:
            raise DataError(f"the {name!r} run of {self.id!r} ({source.location}) has document ids and scores but "
                            f"no text: {source.why_no_text} Use candidates({name!r}, with_text=False) for ids and "
                            f"scores only.")
        run = source.load(self, with_text)
        return {qid: run[qid] for qid in self.queries if qid in run}  # the queries' (topic-file) order

    def stats(self, corpus: bool = False) -> dict[str, int]:
        """Counts as loaded (queries, judged queries, qrels; documents too with `corpus`), to compare with the card."""
        out = {"queries": len(self.queries), "qrels": sum(len(d) for d in self.qrels.values())}
        if corpus and self.has_corpus:
            out["docs"] = len(self.corpus)
        return out

    def __repr__(self) -> str:
        return (f"Dataset({self.id!r}, {len(self.queries)} judged queries, "
                f"{sum(len(d) for d in self.qrels.values())} qrels, corpus={'yes' if self.has_corpus else 'no'}, "
                f"candidates={self.candidate_names}, source={self.source!r})")
