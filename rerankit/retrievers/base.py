"""The retriever stage: queries in, rankings out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

from rerankit.errors import InputError
from rerankit.types import Document, Query, Ranking, Run, as_query

__all__ = ["Retriever", "IndexedRetriever", "check_corpus", "check_queries"]


class Retriever(ABC):
    """Finds the `k` best documents for each query. `search_many` is the primary entry (batched)."""

    name: str = "retriever"

    @abstractmethod
    def search_many(self, queries: Sequence[Query], k: int = 100) -> Run:
        """Rankings for many queries at once, keyed by query id, in the order of `queries`."""

    def search(self, query: Query | str, k: int = 10) -> Ranking:
        """One query (a string or a `Query`)."""
        q = as_query(query)
        return self.search_many([q], k)[q.id]

    def config(self) -> dict:
        """The options that determine this stage's output (used for cache keys)."""
        return {"name": self.name}


def check_corpus(documents: Iterable[Document]) -> list[Document]:
    """Materialise a corpus, refusing an empty one or duplicate ids (both silently corrupt an index)."""
    docs = list(documents)
    if not docs:
        raise InputError("the corpus is empty: there is nothing to index")
    seen: set[str] = set()
    for d in docs:
        if not isinstance(d, Document):
            raise InputError(f"corpus items must be Document objects, got {type(d).__name__}")
        if d.id in seen:
            raise InputError(f"duplicate document id {d.id!r} in the corpus: ids must be unique")
        seen.add(d.id)
    return docs


def check_queries(queries: Sequence[Query | str]) -> list[Query]:
    """Turn strings into queries (ids q0, q1, ...) and refuse duplicate query ids."""
    if isinstance(queries, (str, bytes, Query)) or not isinstance(queries, Iterable):
        raise InputError(f"expected a list of queries (strings or Query), got {type(queries).__name__} "
                         f"{str(queries)[:40]!r}; for one query pass [query] or call run(query)")
    out = [as_query(q, f"q{i}") for i, q in enumerate(queries)]
    ids = [q.id for q in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"duplicate query id {dup!r}: query ids must be unique within one call")
    return out


class IndexedRetriever(Retriever):
    """A retriever over its own index: build it from documents, save it to a folder, load it back.

    The CLI caches indexes by ``config()``: two retrievers with equal configs must build identical indexes.
    """

    @abstractmethod
    def index(self, documents: Iterable[Document]) -> IndexedRetriever:
        """Build the index over `documents` (refusing an empty corpus or duplicate ids); returns self."""

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Write the index and everything needed to search it (ids, texts, config) into folder `path`."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path, **options: object) -> IndexedRetriever:
        """Load an index saved by :meth:`save`; a corrupt or mismatched folder raises IndexMismatchError."""
