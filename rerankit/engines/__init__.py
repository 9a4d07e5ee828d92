"""Inference engines: one interface (:class:`Engine`) over transformers, vLLM, OpenAI-compatible servers and llama.cpp.

Build one by name with :func:`get_engine` (or ``rerankit.build("engine", name, model=...)``); methods accept an
engine name or an :class:`Engine` instance.
"""

from __future__ import annotations

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


def get_engine(engine: str | Engine, model: str | None = None, **options: Any) -> Engine:
    """An engine instance: `engine` itself if it is one, else the registered engine `engine` loading `model`."""
    if isinstance(engine, Engine):
        return engine
    from rerankit.errors import ConfigError
    from rerankit.registry import build

    if not isinstance(engine, str):
        raise ConfigError(f"engine must be a name (transformers, vllm, openai, llamacpp) or an Engine, got "
                          f"{type(engine).__name__}")
    if not model:
        raise ConfigError(f"the {engine!r} engine needs a model (a Hugging Face id or a local path)")
    return build("engine", engine, model=model, **options)
