"""Progress that moves while slow model work runs: turn on an engine's per-batch bar for one call.

Stages process queries in chunks (the stage cache appends per chunk), so a bar over queries moves only once per chunk;
with an LLM a chunk can take minutes. While a stage or generator runs for a user at a terminal, its engine's own
per-batch (transformers) or per-request (vLLM) bar is shown too, and switched back off afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["engine_progress", "engines_of"]


def engines_of(stage: Any) -> list[Any]:
    """The engine(s) a stage runs on (its `engine` and, for embedding rerankers, its embedder's engine)."""
    from rerankit.engines.base import Engine

    found = []
    for owner in (stage, getattr(stage, "embedder", None)):
        engine = getattr(owner, "__dict__", {}).get("engine") or getattr(owner, "_engine", None)
        if isinstance(engine, Engine) and engine not in found:
            found.append(engine)
    return found


@contextmanager
def engine_progress(stage: Any, enabled: bool) -> Iterator[None]:
    """Within the block, the engines of `stage` show their per-batch progress when `enabled`."""
    engines = engines_of(stage) if enabled else []
    before = [e.__dict__.get("progress") for e in engines]
    for e in engines:
        e.progress = True
    try:
        yield
    finally:
        for e, old in zip(engines, before):
            if old is None:
                del e.progress  # back to the class default
            else:
                e.progress = old
