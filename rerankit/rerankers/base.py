"""The reranker stage: a ranking in, a better ranking out. `rerank_many` is the primary (batched) entry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from rerankit.checks import optional_depth
from rerankit.errors import InputError
from rerankit.types import Hit, Ranking

__all__ = ["Reranker"]


class Reranker(ABC):
    """Reorders the top `depth` hits of each ranking; hits below `depth` keep their order beneath them.

    Subclasses implement :meth:`_rerank_batch` on rankings already cut to `depth`; batching across queries
    happens there, because that is where engines gain their speed.
    """

    name: str = "reranker"

    def __init__(self, depth: int | None = None) -> None:
        self.depth = optional_depth(depth)

    @abstractmethod
    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        """Rerank every hit of every ranking (already cut to depth); same order of rankings out."""

    def rerank_many(self, rankings: Sequence[Ranking], depth: int | None = None) -> list[Ranking]:
        """Rerank many queries' rankings together. Empty rankings pass through unchanged."""
        depth = self.depth if depth is None else optional_depth(depth)
        if isinstance(rankings, (str, bytes, Ranking)) or not isinstance(rankings, Sequence):
            raise InputError(f"rerank_many takes a list of Ranking objects, got {type(rankings).__name__}")
        heads, tails, todo = [], [], []
        for i, r in enumerate(rankings):
            if not isinstance(r, Ranking):
                raise InputError(f"rerank_many takes Ranking objects, got {type(r).__name__}")
            head = r.top(depth)
            heads.append(head)
            tails.append(r.hits[len(head.hits):])
            if head.hits:
                todo.append(i)
        done = self._rerank_batch([heads[i] for i in todo]) if todo else []
        out = list(rankings)
        for i, new in zip(todo, done):
            out[i] = _append_tail(new, tails[i])
        return out

    def rerank(self, ranking: Ranking, depth: int | None = None) -> Ranking:
        """Rerank one query's ranking. An empty candidate list is an error here (nothing to rerank)."""
        if not ranking.hits:
            raise InputError(f"query {ranking.query.id!r} has no candidates to rerank")
        return self.rerank_many([ranking], depth)[0]

    def config(self) -> dict:
        """The options that determine this stage's output (used for cache keys)."""
        return {"name": self.name, "depth": self.depth}


def _append_tail(head: Ranking, tail: tuple) -> Ranking:
    """Put the not-reranked tail under the reranked head, scored below the head's lowest score."""
    if not tail:
        return head
    floor = min((h.score for h in head.hits), default=0.0)
    n = len(tail)
    new_tail = [Hit(h.doc, floor - 1.0 - i / max(n, 1), h.meta) for i, h in enumerate(tail)]
    return head.with_hits(list(head.hits) + new_tail)
