"""Datasets through ir_datasets (for users online): queries, qrels, a lazy docs-store corpus, scoreddocs as `bm25`.

ir_datasets is imported only here and only when called: importing it creates folders under ``$IR_DATASETS_HOME``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from rerankit.data.catalog import CatalogEntry
from rerankit.data.dataset import CandidateSource, Dataset, DatasetCard
from rerankit.errors import DataError
from rerankit.runs import Qrels, run_from_dict
from rerankit.types import Document, Query, Run

__all__ = ["IrdsCorpus", "load_online", "OnlineUnavailable"]

log = logging.getLogger(__name__)


class OnlineUnavailable(Exception):
    """ir_datasets could not provide the dataset (not installed, unknown id, download failed); says why."""


class IrdsCorpus(Mapping[str, Document]):
    """An ir_datasets docs store as a Mapping: lookups through ``docs_store()``, iteration through ``docs_iter()``."""

    def __init__(self, irds: Any, name: str) -> None:
        self._irds = irds
        self._name = name
        self._store: Any = None

    @staticmethod
    def to_document(doc: Any) -> Document:
        fields = doc._asdict()
        text = fields.pop("text", None)
        if text is None:  # e.g. documents with a "body" field
            text = fields.pop("body", "") or ""
        title = fields.pop("title", "") or ""
        doc_id = fields.pop("doc_id")
        return Document(str(doc_id), str(text), str(title), fields)

    def _docs_store(self) -> Any:
        if self._store is None:
            self._store = self._irds.docs_store()
        return self._store

    def __getitem__(self, doc_id: str) -> Document:
        try:
            return self.to_document(self._docs_store().get(doc_id))
        except KeyError:
            raise KeyError(doc_id) from None

    def get_many(self, doc_ids: list[str]) -> dict[str, Document]:
        return {d: self.to_document(doc) for d, doc in self._docs_store().get_many(doc_ids).items()}

    def __iter__(self) -> Iterator[str]:
        return (d.doc_id for d in self._irds.docs_iter())

    def documents(self) -> Iterator[Document]:
        return (self.to_document(d) for d in self._irds.docs_iter())

    def __len__(self) -> int:
        return int(self._irds.docs_count())

    def __repr__(self) -> str:
        return f"IrdsCorpus({self._name!r})"


def _import_ir_datasets() -> Any:
    try:
        import ir_datasets
    except ImportError:
        raise OnlineUnavailable("ir_datasets is not installed (pip install 'rerankit[online]')") from None
    return ir_datasets


def load_online(entry: CatalogEntry, card: DatasetCard) -> Dataset:
    """Load `entry` through ir_datasets (downloading on first use); raises OnlineUnavailable with the reason."""
    if entry.irds_id is None:
        raise OnlineUnavailable(f"{entry.id} is not distributed through ir_datasets")
    ir_datasets = _import_ir_datasets()
    try:
        irds = ir_datasets.load(entry.irds_id)
    except KeyError:
        raise OnlineUnavailable(f"this ir_datasets version does not know {entry.irds_id!r}") from None
    log.info("loading %s through ir_datasets (%s); the first use downloads it", entry.id, entry.irds_id)
    try:
        qrels: Qrels = {}
        excluded: dict[str, set[str]] = {}
        for q in irds.qrels_iter():
            if entry.family == "bright" and int(q.relevance) == -100:  # ir_datasets marks BRIGHT's excluded ids so
                excluded.setdefault(str(q.query_id), set()).add(str(q.doc_id))
                continue
            qrels.setdefault(str(q.query_id), {})[str(q.doc_id)] = int(q.relevance)
        queries = {str(q.query_id): Query(str(q.query_id), q.text) for q in irds.queries_iter()
                   if str(q.query_id) in qrels}
    except Exception as e:  # ir_datasets raises whatever its downloader or parser raised
        raise OnlineUnavailable(f"ir_datasets {entry.irds_id!r} failed: {type(e).__name__}: {e}") from e
    if not queries:
        raise OnlineUnavailable(f"ir_datasets {entry.irds_id!r} has no judged queries")
    qrels = {qid: qrels[qid] for qid in queries}
    corpus = IrdsCorpus(irds, entry.irds_id)
    candidates = {}
    if irds.has_scoreddocs():
        candidates["bm25"] = CandidateSource("bm25", f"ir_datasets:{entry.irds_id} scoreddocs", True, _scoreddocs(irds))
    return Dataset(entry.id, queries, qrels, relevance_level=entry.relevance_level, card=card,
                   corpus=lambda: corpus, candidates=candidates, source=f"ir_datasets:{entry.irds_id}",
                   excluded_ids={q: frozenset(d) for q, d in excluded.items()})


def _scoreddocs(irds: Any) -> Callable[[Dataset, bool], Run]:
    def load(ds: Dataset, with_text: bool) -> Run:
        scores: dict[str, dict[str, float]] = {}
        for sd in irds.scoreddocs_iter():
            if str(sd.query_id) in ds.queries:
                scores.setdefault(str(sd.query_id), {})[str(sd.doc_id)] = float(sd.score)
        if not scores:
            raise DataError(f"{ds.id}: the ir_datasets scoreddocs cover none of the judged queries")
        docs = None
        if with_text:
            corpus = ds.corpus
            wanted = sorted({d for per in scores.values() for d in per})
            docs = corpus.get_many(wanted) if isinstance(corpus, IrdsCorpus) else {d: corpus[d] for d in wanted}
        return run_from_dict(scores, documents=docs, queries=ds.queries)

    return load
