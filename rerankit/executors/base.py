"""The executor interface: where the batches of an expensive stage run (this process, or Ray workers).

An executor maps one method of a stage over batches and yields ``(batch index, result)`` as batches finish, so a
caller can write each finished batch to its cache at once (a crash loses only the batches in flight). The stage is
given as an object (run in this process) or as anything :func:`~rerankit.executors.recipe.recipe_of` accepts (so
a worker can build its own copy).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["Executor", "LocalExecutor"]


class Executor(ABC):
    """Runs ``getattr(stage, method)(*args)`` for each args tuple in `batches`."""

    name: str = "executor"

    @abstractmethod
    def imap(self, stage: Any, method: str, batches: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, result of batch i)`` in completion order."""

    def config_of(self, stage: Any) -> dict:
        """The stage's configuration (what its cache key is made of)."""
        return stage.config()

    def close(self) -> None:
        """Release workers (no-op in-process)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """Runs every batch in this process, in order."""

    name = "local"

    def imap(self, stage: Any, method: str, batches: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        fn = getattr(stage, method)
        for i, args in enumerate(batches):
            yield i, fn(*args)
