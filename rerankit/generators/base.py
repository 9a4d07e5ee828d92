"""The generator stage: reads a final ranking and writes an answer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rerankit.types import Document, Ranking

__all__ = ["Answer", "Generator"]


@dataclass(frozen=True)
class Answer:
    """An answer with numbered citations; `citations` are document ids, all taken from `passages_used`."""

    text: str
    citations: tuple[str, ...] = ()
    passages_used: tuple[Document, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class Generator(ABC):
    """Answers each ranking's query from its top passages."""

    name: str = "generator"

    @abstractmethod
    def generate_many(self, rankings: Sequence[Ranking]) -> list[Answer]:
        """One answer per ranking, same order."""

    def generate(self, ranking: Ranking) -> Answer:
        return self.generate_many([ranking])[0]
