"""rerankit: retrieval, reranking and retrieval-augmented generation as one composable pipeline."""

from __future__ import annotations

from typing import Any

from rerankit.errors import RerankitError
from rerankit.pipeline import Pipeline, PipelineResult
from rerankit.types import Document, Hit, Query, Ranking, Run

__version__ = "0.1.0"

__all__ = [
    "Document", "Hit", "Pipeline", "PipelineResult", "Query", "Ranking", "RerankitError", "Run",
    "build", "evaluate", "load_dataset", "__version__",
]


def __getattr__(name: str) -> Any:
    # Heavier entry points load on first use, so `import rerankit` stays fast.
    if name == "load_dataset":
        from rerankit.data import load_dataset
        return load_dataset
    if name == "evaluate":
        from rerankit.evaluation import evaluate
        return evaluate
    if name == "build":
        from rerankit.registry import build
        return build
    raise AttributeError(f"module 'rerankit' has no attribute {name!r}")
