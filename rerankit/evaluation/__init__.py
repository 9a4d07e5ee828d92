"""Evaluation on ranx with trec_eval's numbers: metrics by friendly name, significance tests, result tables.

ranx (and numba) load only when something is scored, so importing this package stays light.
"""

from __future__ import annotations

from rerankit.evaluation.compare import STAT_TESTS, Comparison, PairTest, compare
from rerankit.evaluation.evaluate import evaluate, evaluate_per_query
from rerankit.evaluation.metrics import DEFAULT_METRICS, Metric, parse_metric, parse_metrics
from rerankit.evaluation.report import format_table, format_trec_eval

__all__ = [
    "DEFAULT_METRICS", "STAT_TESTS", "Comparison", "Metric", "PairTest", "compare", "evaluate", "evaluate_per_query",
    "format_table", "format_trec_eval", "parse_metric", "parse_metrics",
]
