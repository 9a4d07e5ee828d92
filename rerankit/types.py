"""Core value types: a ranking flows through every stage of rerankit.

`Query` and `Document` are the inputs, `Hit` pairs a document with a score, and `Ranking` is one query's ordered
hits (best first). A run is a plain ``dict[str, Ranking]`` keyed by query id; see :mod:`rerankit.runs` for
conversion to and from TREC files and ``ranx.Run``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rerankit.errors import InputError

__all__ = ["Query", "Document", "Hit", "Ranking", "Run", "as_query"]


@dataclass(frozen=True)
class Query:
    """A search request: an id (used to join with qrels) and its text."""

    id: str
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputError(f"query {self.id!r} is empty: a query needs non-blank text")


@dataclass(frozen=True)
class Document:
    """A passage or document. `meta` carries anything else a stage wants to keep (source, url, ...)."""

    id: str
    text: str
    title: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR/pyserini index them ("title text")."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Hit:
    """A document with the score the last stage gave it. `meta` keeps per-hit evidence (reasoning, raw score)."""

    doc: Document
    score: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.doc.id


@dataclass(frozen=True)
class Ranking:
    """One query's hits, best first. Stages return new rankings and never mutate their input."""

    query: Query
    hits: tuple[Hit, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.hits, tuple):
            object.__setattr__(self, "hits", tuple(self.hits))

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    def top(self, k: int | None) -> Ranking:
        """The first `k` hits (all of them when `k` is None)."""
        if k is None:
            return self
        if k < 0:
            raise InputError(f"top(k) needs k >= 0, got {k}")
        return Ranking(self.query, self.hits[:k], self.meta)

    def ids(self) -> list[str]:
        """Document ids in rank order."""
        return [h.doc.id for h in self.hits]

    def documents(self) -> list[Document]:
        return [h.doc for h in self.hits]

    def scores(self) -> dict[str, float]:
        """Document id -> score; the form ranx and pytrec_eval take."""
        return {h.doc.id: float(h.score) for h in self.hits}

    def with_hits(self, hits: Iterable[Hit], **meta: Any) -> Ranking:
        """A new ranking for the same query with other hits (and meta merged in)."""
        return Ranking(self.query, tuple(hits), {**self.meta, **meta})

    def reordered(self, order: list[int], rest: bool = True, **meta: Any) -> Ranking:
        """Reorder hits by index list `order`; scores are rewritten as descending ranks so order is preserved.

        With `rest`, hits not named in `order` keep their relative order after the named ones.
        """
        seen = set(order)
        idx = list(order) + ([i for i in range(len(self.hits)) if i not in seen] if rest else [])
        n = len(idx)
        return self.with_hits((Hit(self.hits[i].doc, float(n - r), self.hits[i].meta) for r, i in enumerate(idx)),
                              **meta)

    def sorted_by(self, scores: list[float], metas: list[Mapping[str, Any]] | None = None, **meta: Any) -> Ranking:
        """New ranking with hit i scored `scores[i]`, sorted best first (stable: ties keep input order)."""
        if len(scores) != len(self.hits):
            raise InputError(f"got {len(scores)} scores for {len(self.hits)} hits of query {self.query.id!r}")
        metas = metas or [h.meta for h in self.hits]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return self.with_hits((Hit(self.hits[i].doc, float(scores[i]), metas[i]) for i in order), **meta)

    def to_trec_lines(self, tag: str = "rerankit") -> list[str]:
        """TREC run lines `qid Q0 docid rank score tag`, ranks from 1."""
        return [f"{self.query.id} Q0 {h.doc.id} {r} {h.score:.6f} {tag}" for r, h in enumerate(self.hits, 1)]


Run = dict[str, Ranking]
"""A run: query id -> ranking."""


def as_query(query: Query | str, qid: str = "q0") -> Query:
    """Accept a `Query` or a plain string (given id `qid`)."""
    if isinstance(query, Query):
        return query
    if not isinstance(query, str):
        raise InputError(f"a query must be a string or a Query, got {type(query).__name__}")
    return Query(qid, query)
