"""`evaluate` / `evaluate_per_query`: score a run against qrels with ranx, giving trec_eval's numbers.

Conventions (those of trec_eval and pytrec_eval): a `Ranking` is evaluated in its own hit order (the order the
stage returned, ties included); a plain ``{docid: score}`` dict, which has no order of its own, is ranked by score
with ties broken by document id descending, as trec_eval does. Only queries that are both in the run and in the
qrels are scored, and means are over those queries (qrels queries missing from the run are not counted as zeros, as
trec_eval without ``-c``). A query present in the run with no hits scores 0, as in pytrec_eval.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rerankit.errors import DataError, InputError
from rerankit.evaluation.backend import ranx_scores
from rerankit.evaluation.metrics import DEFAULT_METRICS, Metric, judged_at_k, parse_metric, parse_metrics
from rerankit.runs import trec_order
from rerankit.types import Ranking

__all__ = ["evaluate", "evaluate_per_query", "ranked_ids", "judged_queries"]

log = logging.getLogger(__name__)

RunLike = Mapping[str, Ranking] | Mapping[str, Mapping[str, float]]
QrelsLike = Mapping[str, Mapping[str, int]]


def ranked_ids(run: RunLike) -> dict[str, list[str]]:
    """Each query's document ids in evaluation order: a Ranking's hit order; for a score dict, trec_eval's order
    (score descending, ties by docid descending).

    Checks the run on the way: it must be non-empty, hold no document twice and every score a number (never NaN;
    inf only inside a Ranking, whose order is its hit order). A query's scores are checked through their sum, one
    by one only when the sum is not finite.
    """
    return _ranked(run)[0]


def _ranked(run: RunLike) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """:func:`ranked_ids`, plus each Ranking's document id -> rank dict (the duplicate check builds it, and the
    evaluation reuses it to find the judged documents)."""
    if not isinstance(run, Mapping):
        raise InputError(f"a run must be a dict of query id -> Ranking or {{docid: score}}, got {type(run).__name__}")
    if not run:
        raise InputError("the run is empty: it has no queries to evaluate")
    out: dict[str, list[str]] = {}
    ranks: dict[str, dict[str, int]] = {}
    for qid, entry in run.items():
        qid = str(qid)
        if isinstance(entry, Ranking):
            ids = entry.ids()
            rank = dict(zip(ids, range(len(ids))))
            if len(rank) != len(ids):
                raise InputError(f"query {qid!r}: the ranking holds the same document more than once")
            total = sum(entry.score_list())  # NaN when a score is NaN (or inf meets -inf, then checked one by one)
            if total != total:
                _refuse_score(qid, zip(ids, entry.score_list()), math.isnan)
            out[qid], ranks[qid] = ids, rank
        elif isinstance(entry, Mapping):
            clean = _plain_scores(qid, entry)
            if not math.isfinite(sum(clean.values())):  # a NaN or inf score, or an overflowing sum
                _refuse_score(qid, clean.items(), lambda v: not math.isfinite(v))
            out[qid] = _trec_ids(clean)
        else:
            raise InputError(f"query {qid!r}: a run maps query ids to a Ranking or to {{docid: score}}, "
                             f"got {type(entry).__name__}")
    return out, ranks


def _plain_scores(qid: str, entry: Mapping[str, Any]) -> dict[str, float]:
    """A score dict with str ids and float scores; anything that is not a number is an InputError."""
    if set(map(type, entry.values())) <= {float} and set(map(type, entry.keys())) <= {str}:
        return entry  # type: ignore[return-value]  # the common case: nothing to convert
    clean: dict[str, float] = {}
    for docid, score in entry.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            try:
                value = float(score)
            except (TypeError, ValueError):
                raise InputError(f"query {qid!r}, document {docid!r}: the score {score!r} is not a number") from None
        else:
            value = float(score)
        clean[str(docid)] = value
    return clean


def _trec_ids(scores: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval's order; a dict already in strictly decreasing score order is taken as it is."""
    values = list(scores.values())
    if all(map(operator.gt, values, values[1:])):
        return list(scores)
    return [d for d, _ in trec_order(scores)]


def _refuse_score(qid: str, pairs: Iterable[tuple[str, float]], bad: Any) -> None:
    """Raise the InputError naming the first document of query `qid` whose score `bad` flags (if any is)."""
    for docid, value in pairs:
        if bad(value):
            shown = "NaN" if math.isnan(value) else value
            raise InputError(f"query {qid!r}, document {docid!r}: the score is {shown}, which cannot order "
                             "documents (a model or file produced it: check the stage or the run file)")


def judged_queries(run_qids: Iterable[str], qrels: QrelsLike) -> list[str]:
    """Run queries that have judgements, in run order; none at all is a DataError, some missing is a warning."""
    if not isinstance(qrels, Mapping) or not qrels:
        raise InputError("the qrels are empty: there is nothing to evaluate against")
    run_qids = list(run_qids)
    judged = [q for q in run_qids if q in qrels]
    missing = [q for q in run_qids if q not in qrels]
    if not judged:
        raise DataError(f"none of the run's {len(run_qids)} query ids are in the qrels (run ids such as "
                        f"{', '.join(repr(q) for q in missing[:5])}; qrels ids such as "
                        f"{', '.join(repr(q) for q in list(qrels)[:5])}): are these the right qrels?")
    if missing:
        log.warning("%d of the run's %d queries have no judgements and are left out of the evaluation "
                    "(e.g. %s)", len(missing), len(run_qids), ", ".join(repr(q) for q in missing[:5]))
    return judged


def _grades(qid: str, judged: Mapping[str, int]) -> Mapping[str, int]:
    if set(map(type, judged.values())) <= {int} and set(map(type, judged.keys())) <= {str}:
        return judged  # the common case (what read_qrels gives): nothing to check or convert
    out: dict[str, int] = {}
    for docid, grade in judged.items():
        finite = isinstance(grade, (int, float)) and not isinstance(grade, bool) and math.isfinite(grade)
        if not finite or grade != int(grade):
            raise InputError(f"qrels of query {qid!r}, document {docid!r}: the grade {grade!r} is not an integer")
        out[str(docid)] = int(grade)
    return out


def _check_level(relevance_level: int) -> int:
    if isinstance(relevance_level, bool) or not isinstance(relevance_level, int) or relevance_level < 1:
        raise InputError(f"relevance_level must be an integer >= 1 (the lowest grade counted relevant), "
                         f"got {relevance_level!r}")
    return relevance_level


def evaluate_per_query(run: RunLike, qrels: QrelsLike, metrics: str | Sequence[str] = DEFAULT_METRICS,
                       relevance_level: int = 1) -> dict[str, dict[str, float]]:
    """Per-query values: metric -> query id -> value, over the run's judged queries.

    `relevance_level` is the lowest grade binary metrics (MAP, MRR, recall, P) count as relevant (trec_eval ``-l``;
    TREC DL passage uses 2); nDCG always uses the graded judgements.
    """
    level = _check_level(relevance_level)
    parsed: list[Metric] = [parse_metric(m) for m in parse_metrics(metrics)]
    ranked, ranks = _ranked(run)
    qids = judged_queries(ranked, qrels)
    lists = [ranked[q] for q in qids]
    judgements = [_grades(q, qrels[q]) for q in qids]
    values = ranx_scores(lists, judgements, parsed, level, [ranks.get(q) for q in qids])
    out: dict[str, dict[str, float]] = {}
    for metric in parsed:
        if metric.family == "judged":
            out[metric.name] = judged_at_k({q: ranked[q] for q in qids}, qrels, metric.k)
        else:
            out[metric.name] = dict(zip(qids, values[metric.name]))
    return out


def evaluate(run: RunLike, qrels: QrelsLike, metrics: str | Sequence[str] = DEFAULT_METRICS,
             relevance_level: int = 1) -> dict[str, float]:
    """Mean of each metric over the run's judged queries: metric (canonical name) -> mean."""
    per_query = evaluate_per_query(run, qrels, metrics, relevance_level)
    return {m: math.fsum(v.values()) / len(v) for m, v in per_query.items()}
