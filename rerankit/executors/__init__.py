"""Executors: where the batches of expensive stages run: in this process (default) or on Ray workers.

``Pipeline(..., executor="ray")``, ``rerankit eval ... --executor ray``, and ``DenseRetriever(executor=...)`` /
``SpladeRetriever(executor=...)`` for encoding a corpus. See docs/scaling.md.
"""

from __future__ import annotations

from typing import Any

from rerankit.errors import ConfigError
from rerankit.executors.base import Executor, LocalExecutor
from rerankit.executors.recipe import Recipe, RemoteStage, recipe_of, remember_recipe

__all__ = ["Executor", "LocalExecutor", "Recipe", "RemoteStage", "recipe_of", "remember_recipe", "get_executor",
           "EXECUTORS"]

EXECUTORS = ("local", "ray")


def get_executor(executor: str | Executor | None = None, **options: Any) -> Executor:
    """An executor by name (``"local"``, ``"ray"``) or the instance itself; None is in-process."""
    if executor is None or isinstance(executor, Executor):
        if options and executor is None:
            raise ConfigError(f"executor options {sorted(options)} need executor='ray'")
        return executor or LocalExecutor()
    if executor == "local":
        return LocalExecutor()
    if executor == "ray":
        from rerankit.executors.ray import RayExecutor

        return RayExecutor(**options)
    raise ConfigError(f"unknown executor {executor!r}; choose 'local' or 'ray'")
