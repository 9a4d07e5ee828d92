"""Metric names: friendly spellings map to one canonical name; unknown ones fail with the valid forms."""

from __future__ import annotations

import pytest

from rerankit.errors import ConfigError
from rerankit.evaluation import DEFAULT_METRICS, parse_metric, parse_metrics
from rerankit.evaluation.metrics import display_name, judged_at_k


@pytest.mark.parametrize("name,canonical,trec", [
    ("nDCG@10", "ndcg@10", "ndcg_cut_10"), ("ndcg_cut_10", "ndcg@10", "ndcg_cut_10"),
    ("NDCG_CUT.20", "ndcg@20", "ndcg_cut_20"), ("ndcg", "ndcg", "ndcg"),
    ("MAP", "map", "map"), ("map@100", "map@100", "map_cut_100"), ("map_cut_10", "map@10", "map_cut_10"),
    ("MRR@10", "mrr@10", None), ("recip_rank", "mrr", "recip_rank"), ("mrr", "mrr", "recip_rank"),
    ("P@10", "p@10", "P_10"), ("precision@10", "p@10", "P_10"), ("P_5", "p@5", "P_5"),
    ("R@100", "recall@100", "recall_100"), ("recall_1000", "recall@1000", "recall_1000"),
    ("Judged@10", "judged@10", None), (" ndcg@10 ", "ndcg@10", "ndcg_cut_10"),
])
def test_friendly_names(name: str, canonical: str, trec: str | None) -> None:
    metric = parse_metric(name)
    assert metric.name == canonical
    assert metric.trec_eval_name == trec


def test_binary_families() -> None:
    assert not parse_metric("ndcg@10").binary and not parse_metric("judged@10").binary
    assert all(parse_metric(m).binary for m in ("map", "mrr@10", "recall@100", "p@10"))


def test_parse_metrics_list_and_string() -> None:
    assert parse_metrics("nDCG@10, map,R@100,ndcg_cut_10") == ["ndcg@10", "map", "recall@100"]
    assert parse_metrics(["P@10", "recip_rank"]) == ["p@10", "mrr"]
    assert parse_metrics(None) == list(DEFAULT_METRICS)


@pytest.mark.parametrize("name,message", [
    ("bleu", "unknown metric 'bleu'; valid forms: ndcg@k"),
    ("ndcg@ten", "unknown metric"),
    ("recall", "needs a cutoff, e.g. recall@10"),
    ("p@0", "positive integer"),
    ("judged", "needs a cutoff"),
    (",", "no metric named"),
])
def test_bad_names_raise_config_error(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_metrics(name)


def test_display_names() -> None:
    assert [display_name(m) for m in ("ndcg@10", "map", "mrr@10", "recall@100", "p@5", "judged@10", "custom")] == \
        ["nDCG@10", "MAP", "MRR@10", "R@100", "P@5", "Judged@10", "custom"]


def test_judged_at_k_counts_any_grade_over_k() -> None:
    qrels = {"q": {"a": 0, "b": 2, "c": 1}}
    assert judged_at_k({"q": ["a", "x", "b", "y"]}, qrels, 2) == {"q": 0.5}
    assert judged_at_k({"q": ["a", "x", "b", "y"]}, qrels, 4) == {"q": 0.5}
    assert judged_at_k({"q": ["a"]}, qrels, 10) == {"q": 0.1}  # a short ranking cannot reach 1.0
    with pytest.raises(ConfigError):
        judged_at_k({"q": ["a"]}, qrels, 0)
