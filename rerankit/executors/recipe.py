"""Recipes: how to build a stage again somewhere else (a Ray worker) instead of shipping the loaded object.

A stage built by name (:func:`rerankit.build`, the CLI, YAML/TOML specs) remembers its recipe: the registry kind,
name and options. A worker process builds its own copy from the recipe, so a 7B model is loaded once per worker
and never pickled through the object store. :class:`RemoteStage` is a reranker that exists only as a recipe in
the driver: it loads nothing there, and builds itself on first use if it is run in-process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rerankit.errors import ConfigError
from rerankit.rerankers.base import Reranker
from rerankit.types import Ranking

__all__ = ["Recipe", "recipe_of", "remember_recipe", "RemoteStage", "encoder_recipe"]

_ATTR = "_rerankit_recipe"


@dataclass(frozen=True)
class Recipe:
    """Build `kind`/`name` with `options` through the registry (or call `factory`, for non-registry objects)."""

    kind: str = ""
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    factory: Callable[[], Any] | None = None

    def build(self) -> Any:
        if self.factory is not None:
            return self.factory()
        from rerankit.registry import build

        return build(self.kind, self.name, **self.options)

    def describe(self) -> str:
        if self.factory is not None:
            return getattr(self.factory, "__qualname__", repr(self.factory))
        return f"{self.kind} {self.name!r}"


def remember_recipe(obj: Any, recipe: Recipe) -> Any:
    """Attach `recipe` to `obj` (silently skipped for objects that take no attributes); returns `obj`."""
    try:
        setattr(obj, _ATTR, recipe)
    except (AttributeError, TypeError):
        pass
    return obj


def recipe_of(obj: Any) -> Recipe:
    """The recipe that rebuilds `obj` in another process; a clear error when there is none."""
    if isinstance(obj, Recipe):
        return obj
    if isinstance(obj, RemoteStage):
        return obj.recipe
    recipe = getattr(obj, _ATTR, None)
    if isinstance(recipe, Recipe):
        return recipe
    raise ConfigError(f"{type(obj).__name__} was not built by name, so a worker cannot build its own copy: build it "
                      "with rerankit.build(kind, name, **options) (or a pipeline spec), or wrap it as "
                      "RemoteStage(name, **options), to run it on another executor")


class RemoteStage(Reranker):
    """A reranker known by its recipe only: ``RemoteStage("yes-no", model=..., engine="vllm")``.

    The driver loads nothing; each executor worker builds its own copy. Used in-process, it builds itself on
    first use. Its configuration (the cache key) is the built stage's own, asked from a worker.
    """

    def __init__(self, name: str, **options: Any) -> None:
        depth = options.get("depth")
        super().__init__(depth)
        self.recipe = Recipe("reranker", name, dict(options))
        self.name = name

    @functools.cached_property
    def local(self) -> Reranker:
        """The stage built in this process (on first in-process use)."""
        return self.recipe.build()

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        return self.local._rerank_batch(rankings)

    def rerank_many(self, rankings: Any, depth: int | None = None) -> list[Ranking]:
        return self.local.rerank_many(rankings, depth)

    def config(self) -> dict:
        return self.local.config()


def encoder_recipe(retriever: Any) -> Recipe:
    """How an executor worker builds `retriever`'s encoder: its configuration plus its encoding options, without an
    executor or progress bars (dense and SPLADE retrievers)."""
    opts = {k: v for k, v in retriever.config().items() if k != "name"}
    return Recipe(factory=functools.partial(type(retriever), **opts, batch_size=retriever.batch_size,
                                            device=retriever.device, n_threads=retriever.n_threads,
                                            show_progress=False))
