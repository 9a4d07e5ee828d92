"""Inference engines: one interface (:class:`Engine`) over transformers, vLLM, OpenAI-compatible servers and llama.cpp.

Build one by name with :func:`get_engine` (or ``rerankit.build("engine", name, model=...)``); methods accept an
engine name or an :class:`Engine` instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rerankit.engines.base import (
    Attentions,
    Capability,
    Engine,
    Generation,
    GenerationParams,
    Message,
    Prompt,
)

__all__ = ["Attentions", "Capability", "Engine", "Generation", "GenerationParams", "Message", "Prompt",
           "get_engine"]


def get_engine(engine: str | Engine | None, model: str | None = None, *, needs: Sequence[Capability] = (),
               method: str = "this method", **options: Any) -> Engine:
    """An engine instance: `engine` itself if it is one, else the registered engine `engine` loading `model`.

    `engine` None or ``"auto"`` picks one (see :mod:`rerankit.engines.choice`: vLLM when it imports and offers
    `needs`, else transformers). An engine that cannot offer `needs` is refused before the model loads.
    """
    from rerankit.errors import ConfigError

    if isinstance(engine, Engine):
        engine.require(*needs, method=method)
        return engine
    from rerankit.engines.choice import pick_engine
    from rerankit.registry import build

    if engine is not None and not isinstance(engine, str):
        raise ConfigError(f"engine must be a name (auto, transformers, vllm, openai, llamacpp) or an Engine, got "
                          f"{type(engine).__name__}")
    name = pick_engine(engine, needs, method)
    if not model:
        raise ConfigError(f"the {name!r} engine needs a model (a Hugging Face id or a local path)")
    built = build("engine", name, model=model, **options)
    built.require(*needs, method=method)
    return built
