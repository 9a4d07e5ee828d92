"""Core value types: a ranking flows through every stage of rerankit.

`Query` and `Document` are the inputs, `Hit` pairs a document with a score, and `Ranking` is one query's ordered
hits (best first). A run is a plain ``dict[str, Ranking]`` keyed by query id; see :mod:`rerankit.runs` for
conversion to and from TREC files and ``ranx.Run``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from rerankit.errors import InputError

__all__ = ["Query", "Document", "Hit", "Ranking", "Run", "as_query", "strict_scores"]

_DOC_ID, _SCORE = attrgetter("doc.id"), attrgetter("score")  # C-level getters: evaluation reads every hit


@dataclass(frozen=True)
class Query:
    """A search request: an id (used to join with qrels) and its text."""

    id: str
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _check_id(self.id, "query"))
        if not isinstance(self.text, str):
            raise InputError(f"query {self.id!r}: the text must be a string, got {type(self.text).__name__}")
        if not self.text.strip():
            raise InputError(f"query {self.id!r} is empty: a query needs non-blank text")


@dataclass(frozen=True, slots=True)
class Document:
    """A passage or document. `meta` carries anything else a stage wants to keep (source, url, ...)."""

    id: str
    text: str
    title: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _check_id(self.id, "document"))
        if not isinstance(self.text, str) or not isinstance(self.title, str):
            raise InputError(f"document {self.id!r}: text and title must be strings, got "
                             f"{type(self.text).__name__} and {type(self.title).__name__}")

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR/pyserini index them ("title text")."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass(frozen=True, slots=True)
class Hit:
    """A document with the score the last stage gave it. `meta` keeps per-hit evidence (reasoning, raw score)."""

    doc: Document
    score: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.doc, Document):
            raise InputError(f"a Hit needs a Document, got {type(self.doc).__name__}")
        if type(self.score) is not float:
            if isinstance(self.score, bool) or not isinstance(self.score, numbers.Real):
                raise InputError(f"document {self.doc.id!r}: a hit's score must be a number, got {self.score!r}")
            object.__setattr__(self, "score", float(self.score))

    @property
    def id(self) -> str:
        return self.doc.id

    @classmethod
    def _trusted(cls, doc: Document, score: float) -> Hit:
        """A hit from a `Document` and a Python float the caller has already checked (skips `__post_init__`)."""
        hit = object.__new__(cls)
        _set = object.__setattr__
        _set(hit, "doc", doc)
        _set(hit, "score", score)
        _set(hit, "meta", {})
        return hit


@dataclass(frozen=True)
class Ranking:
    """One query's hits, best first. Stages return new rankings and never mutate their input.

    A ranking made by :meth:`from_indices` (as retrievers do) holds document indices and scores and builds its
    `Hit` objects the first time ``hits`` is read; ``len``, :meth:`ids`, :meth:`scores`, :meth:`top`,
    :meth:`documents` and :meth:`to_trec_lines` work without building them. Either way it equals, prints and
    pickles as the same ranking built from hits.
    """

    query: Query
    hits: tuple[Hit, ...] = field(default_factory=tuple)  # no class attribute: a lazy ranking builds it on read
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.query, Query):
            raise InputError(f"a Ranking needs a Query, got {type(self.query).__name__}")
        if not isinstance(self.hits, tuple):
            if isinstance(self.hits, (str, bytes, Mapping)) or not isinstance(self.hits, Iterable):
                raise InputError(f"query {self.query.id!r}: hits must be a sequence of Hit, "
                                 f"got {type(self.hits).__name__}")
            object.__setattr__(self, "hits", tuple(self.hits))
        bad = next((h for h in self.hits if not isinstance(h, Hit)), None)
        if bad is not None:
            raise InputError(f"query {self.query.id!r}: hits must be Hit objects, got {type(bad).__name__}")

    @classmethod
    def from_indices(cls, query: Query, docs: Sequence[Document], indices: Sequence[int], scores: Sequence[float],
                     meta: Mapping[str, Any] | None = None) -> Ranking:
        """A ranking of ``docs[indices[r]]`` scored ``scores[r]`` in the given order, with hits built only when read.

        `docs` is kept by reference (a retriever's document store), so it must not change afterwards; indices and
        scores are copied into lists of ``int`` and ``float``.
        """
        if not isinstance(query, Query):
            raise InputError(f"a Ranking needs a Query, got {type(query).__name__}")
        idx = indices.tolist() if hasattr(indices, "tolist") else [int(i) for i in indices]
        if getattr(getattr(scores, "dtype", None), "kind", None) == "f":  # a float array: tolist gives floats
            values = scores.tolist()
        else:
            values = scores.tolist() if hasattr(scores, "tolist") else list(scores)
            if any(type(v) is not float for v in values):
                values = [float(v) for v in values]
        if len(idx) != len(values):
            raise InputError(f"query {query.id!r}: {len(idx)} document indices but {len(values)} scores")
        if idx and (min(idx) < 0 or max(idx) >= len(docs)):
            raise InputError(f"query {query.id!r}: a document index is outside the {len(docs)} documents")
        return cls._from_checked_rows(query, docs, idx, values, meta)

    @classmethod
    def _from_checked_rows(cls, query: Query, docs: Sequence[Document], idx: list[int], values: list[float],
                            meta: Mapping[str, Any] | None = None) -> Ranking:
        """:meth:`from_indices` for index code that has already checked, on whole arrays, what it checks: `query`
        is a Query, `idx` ints within `docs`, `values` floats, as many. Both are lists, or 1-D numpy rows (integer,
        float) that become lists when the ranking is first read (a search that returns many rankings then pays for
        Python objects only in those that are read)."""
        self = object.__new__(cls)
        self.__dict__.update(query=query, meta={} if meta is None else meta, _lazy=(docs, idx, values))
        return self

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: `hits` of a ranking made by from_indices, before its first read.
        if name == "hits":
            lazy = self._unbuilt()
            if lazy is not None:
                docs, idx, values = lazy
                hits = tuple(Hit._trusted(docs[i], v) for i, v in zip(idx, values))
                self.__dict__["hits"] = hits
                return hits
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _unbuilt(self) -> tuple[Sequence[Document], list[int], list[float]] | None:
        """(docs, indices, scores) while the hits of a lazy ranking are not built yet, else None."""
        if "hits" in self.__dict__:
            return None
        lazy = self.__dict__.get("_lazy")
        if lazy is not None and type(lazy[1]) is not list:  # numpy rows: converted once, on the first read
            docs, idx, values = lazy
            lazy = self.__dict__["_lazy"] = (docs, idx.tolist(), values.tolist())
        return lazy

    def __getstate__(self) -> dict[str, Any]:
        # Pickle (and copy) the hits themselves, never the document store a lazy ranking points into.
        return {"query": self.query, "hits": self.hits, "meta": self.meta}

    def __len__(self) -> int:
        lazy = self._unbuilt()
        if lazy is not None:
            return len(lazy[1])
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
        lazy = self._unbuilt()
        if lazy is not None:
            docs, idx, values = lazy
            return Ranking.from_indices(self.query, docs, idx[:k], values[:k], self.meta)
        return Ranking(self.query, self.hits[:k], self.meta)

    def ids(self) -> list[str]:
        """Document ids in rank order."""
        lazy = self._unbuilt()
        if lazy is not None:
            docs, idx, _ = lazy
            return [docs[i].id for i in idx]
        return list(map(_DOC_ID, self.hits))

    def documents(self) -> list[Document]:
        lazy = self._unbuilt()
        if lazy is not None:
            docs, idx, _ = lazy
            return [docs[i] for i in idx]
        return [h.doc for h in self.hits]

    def score_list(self) -> list[float]:
        """The scores in rank order."""
        lazy = self._unbuilt()
        if lazy is not None:
            return list(lazy[2])
        return list(map(_SCORE, self.hits))

    def scores(self) -> dict[str, float]:
        """Document id -> score; the form ranx and pytrec_eval take."""
        return dict(zip(self.ids(), self.score_list()))

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

    def strictly_decreasing(self) -> Ranking:
        """The same hits in the same order with scores made strictly decreasing, so no tool can reorder ties.

        A score that is not below the one above it is lowered to the nearest float beneath (the least change that
        keeps the order); such hits keep their original score in ``meta["original_score"]``. Rankings whose scores
        already decrease are returned as they are.
        """
        scores = self.score_list()
        strict = strict_scores(scores, self.query.id)
        if strict == scores:
            return self
        hits = (h if v == h.score else Hit(h.doc, v, {**h.meta, "original_score": h.score})
                for h, v in zip(self.hits, strict))
        return Ranking(self.query, tuple(hits), self.meta)

    def to_trec_lines(self, tag: str = "rerankit") -> list[str]:
        """TREC run lines `qid Q0 docid rank score tag`, ranks from 1, in this ranking's order.

        Scores are made strictly decreasing (see :meth:`strictly_decreasing`) and written with 6 decimals when that
        keeps them distinct, else with every digit needed to read back the same order (trec_eval sorts by score).
        """
        ids = self.ids()
        for name, value in (("query id", self.query.id), ("tag", tag), *(("document id", d) for d in ids)):
            if not value or len(value.split()) != 1 or value != value.strip():
                raise InputError(f"{name} {value!r} is empty or holds whitespace, which would break the TREC line "
                                 f"'qid Q0 docid rank score tag'")
        scores = strict_scores(self.score_list(), self.query.id)
        text = [f"{v:.6f}" for v in scores]
        if any(float(a) <= float(b) for a, b in zip(text, text[1:])):
            text = [repr(v) for v in scores]
        return [f"{self.query.id} Q0 {d} {r} {v} {tag}" for r, (d, v) in enumerate(zip(ids, text), 1)]


def strict_scores(scores: list[float], qid: str = "") -> list[float]:
    """`scores` lowered where needed so each is strictly below the one before (nearest float beneath).

    Infinite scores give way to rank-based scores (n, n-1, ..., 1) for the whole list; NaN is an InputError.
    """
    if any(math.isnan(v) for v in scores):
        raise InputError(f"query {qid!r}: a score is NaN, so the ranking cannot be written or evaluated by score")
    if not all(math.isfinite(v) for v in scores):
        return [float(len(scores) - i) for i in range(len(scores))]
    out: list[float] = []
    prev = math.inf
    for v in scores:
        if v >= prev:
            v = math.nextafter(prev, -math.inf)
        out.append(v)
        prev = v
    return out


Run = dict[str, Ranking]
"""A run: query id -> ranking."""


def _check_id(value: Any, what: str) -> str:
    """Ids are strings (qrels and runs key on them); an int is taken as its decimal string, anything else refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"a {what} id must be a string, got {value!r} ({type(value).__name__})")


def as_query(query: Query | str, qid: str = "q0") -> Query:
    """Accept a `Query` or a plain string (given id `qid`)."""
    if isinstance(query, Query):
        return query
    if not isinstance(query, str):
        raise InputError(f"a query must be a string or a Query, got {type(query).__name__}")
    return Query(qid, query)
