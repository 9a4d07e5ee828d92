"""Evaluation on ranx with trec_eval's numbers: metrics by friendly name, significance tests, result tables."""

from __future__ import annotations

from rerankit.evaluation.evaluate import evaluate, evaluate_per_query
from rerankit.evaluation.metrics import DEFAULT_METRICS, parse_metric, parse_metrics

__all__ = ["DEFAULT_METRICS", "evaluate", "evaluate_per_query", "parse_metric", "parse_metrics"]
