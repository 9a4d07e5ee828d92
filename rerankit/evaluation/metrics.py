"""Metric names: friendly spellings (``nDCG@10``, ``ndcg_cut_10``, ``P@10``, ``R@100``, ``recip_rank``) to one
canonical form, plus the one metric ranx lacks (judged@k).

Canonical names are lower case: ``ndcg@10``, ``ndcg``, ``map``, ``map@10``, ``mrr``, ``mrr@10``, ``recall@100``,
``p@10``, ``judged@10``. They are the keys of every result dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rerankit.errors import ConfigError

__all__ = ["DEFAULT_METRICS", "Metric", "parse_metric", "parse_metrics", "judged_at_k", "display_name"]

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100")
"""What `evaluate` reports when no metrics are named."""

# accepted family spelling -> (canonical family, whether a cutoff k is required)
_FAMILIES: dict[str, tuple[str, bool]] = {
    "ndcg": ("ndcg", False), "ndcg_cut": ("ndcg", True),
    "map": ("map", False), "ap": ("map", False), "map_cut": ("map", True),
    "mrr": ("mrr", False), "rr": ("mrr", False), "recip_rank": ("mrr", False),
    "recall": ("recall", True), "r": ("recall", True),
    "p": ("p", True), "precision": ("p", True), "prec": ("p", True),
    "judged": ("judged", True), "j": ("judged", True),
}
_BINARY = {"map", "mrr", "recall", "p"}
_RANX_NAME = {"ndcg": "ndcg", "map": "map", "mrr": "mrr", "recall": "recall", "p": "precision"}
_TREC_EVAL = {"ndcg": ("ndcg", "ndcg_cut"), "map": ("map", "map_cut"), "mrr": ("recip_rank", None),
              "recall": (None, "recall"), "p": (None, "P")}
_DISPLAY = {"ndcg": "nDCG", "map": "MAP", "mrr": "MRR", "recall": "R", "p": "P", "judged": "Judged"}
_PATTERN = re.compile(r"^([a-z_]+?)(?:[@_.](\d+))?$")

VALID_FORMS = ("ndcg@k / ndcg_cut_k / ndcg, map / map@k / map_cut_k, mrr / mrr@k / recip_rank, "
               "recall@k / R@k / recall_k, P@k / precision@k / P_k, judged@k")


@dataclass(frozen=True)
class Metric:
    """One parsed metric: its family, cutoff (0 = whole ranking) and canonical name."""

    family: str
    k: int = 0

    @property
    def name(self) -> str:
        return f"{self.family}@{self.k}" if self.k else self.family

    @property
    def binary(self) -> bool:
        """Binary metrics count a document relevant when its grade >= relevance_level; nDCG uses the grades."""
        return self.family in _BINARY

    @property
    def ranx_name(self) -> str | None:
        """The ranx metric name (None for judged@k, which rerankit computes itself)."""
        base = _RANX_NAME.get(self.family)
        if base is None:
            return None
        return f"{base}@{self.k}" if self.k else base

    @property
    def trec_eval_name(self) -> str | None:
        """The equivalent trec_eval/pytrec_eval measure (``ndcg_cut_10``, ``P_10``), or None when there is none."""
        whole, cut = _TREC_EVAL.get(self.family, (None, None))
        if self.k:
            return f"{cut}_{self.k}" if cut else None
        return whole


def parse_metric(name: str) -> Metric:
    """Parse one metric name (case-insensitive); unknown names raise ConfigError listing the valid forms."""
    if not isinstance(name, str):
        raise ConfigError(f"a metric name must be a string, got {type(name).__name__}")
    text = name.strip().lower().replace(" ", "")
    m = _PATTERN.match(text)
    family = _FAMILIES.get(m.group(1)) if m else None
    if m is None or family is None:
        raise ConfigError(f"unknown metric {name!r}; valid forms: {VALID_FORMS}")
    canonical, needs_k = family
    k = int(m.group(2)) if m.group(2) else 0
    if m.group(2) and k <= 0:
        raise ConfigError(f"metric {name!r}: the cutoff must be a positive integer")
    if needs_k and not k:
        raise ConfigError(f"metric {name!r} needs a cutoff, e.g. {canonical}@10; valid forms: {VALID_FORMS}")
    return Metric(canonical, k)


def parse_metrics(names: str | Iterable[str] | None) -> list[str]:
    """``"ndcg@10,map,recall@100"`` (or a list of names) -> canonical names, duplicates dropped, order kept."""
    if names is None:
        return list(DEFAULT_METRICS)
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        canonical = parse_metric(item).name
        if canonical not in out:
            out.append(canonical)
    if not out:
        raise ConfigError(f"no metric named in {names!r}; valid forms: {VALID_FORMS}")
    return out


def display_name(name: str) -> str:
    """Table heading for a metric (``ndcg@10`` -> ``nDCG@10``); names that do not parse are shown as given."""
    try:
        metric = parse_metric(name)
    except ConfigError:
        return name
    label = _DISPLAY[metric.family]
    return f"{label}@{metric.k}" if metric.k else label


def judged_at_k(ranked: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int
                ) -> dict[str, float]:
    """Judged@k per query: the fraction of the top k documents that have any judgement (of any grade) in the qrels.

    The denominator is always k (as trec_eval's P@k), so a ranking shorter than k cannot reach 1.0.
    `ranked` holds each query's document ids best first.
    """
    if k <= 0:
        raise ConfigError(f"judged@k needs k >= 1, got {k}")
    out: dict[str, float] = {}
    for qid, docids in ranked.items():
        judged = qrels.get(qid, {})
        out[qid] = sum(1 for d in docids[:k] if d in judged) / k
    return out
