"""rerankit.evaluation must give trec_eval's numbers: checked against pytrec_eval on real runs and qrels."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from rerankit.errors import DataError, InputError
from rerankit.evaluation import evaluate, evaluate_per_query
from rerankit.evaluation.metrics import parse_metric
from rerankit.runs import read_qrels, read_trec_run, run_to_dict, trec_order
from rerankit.types import Document, Hit, Query, Ranking

pytrec_eval = pytest.importorskip("pytrec_eval")

DL19 = Path("msmarco-passage/trec-dl-2019")
TQ = Path("beir/topics-qrels")
CASES = {
    "dl19-bm25": (DL19 / "run.bm25.dl19.top100.rank_llm_data.trec", DL19 / "qrels.dl19-passage.txt"),
    "dl19-splade": (DL19 / "run.splade_pp_ed.dl19.top100.rank_llm_data.trec", DL19 / "qrels.dl19-passage.txt"),
    "trec-covid": (TQ / "run.bm25.covid.top100.rank_llm_data.trec", TQ / "qrels.beir-v1.0.0-trec-covid.test.txt"),
    "trec-news": (TQ / "run.bm25.news.top100.rank_llm_data.trec", TQ / "qrels.beir-v1.0.0-trec-news.test.txt"),
}
# one or more cutoffs of every metric family
METRICS = ["ndcg@10", "ndcg@5", "ndcg", "map", "map@10", "mrr", "mrr@10", "recall@10", "recall@100", "p@10", "p@20",
           "judged@10", "judged@20"]


@pytest.fixture(scope="module")
def cases(shared_data: Path) -> dict:
    return {name: (read_trec_run(shared_data / run), read_qrels(shared_data / qrels))
            for name, (run, qrels) in CASES.items()}


def top_k(scores: dict[str, dict[str, float]], k: int) -> dict[str, dict[str, float]]:
    return {q: dict(trec_order(d)[:k]) for q, d in scores.items()}


def reference(scores: dict, qrels: dict, metric: str, level: int) -> dict[str, float]:
    """pytrec_eval's per-query values for one metric (mrr@k and judged@k built from trec_eval measures)."""
    m = parse_metric(metric)
    if m.family == "mrr" and m.k:  # reciprocal rank of the run cut to its top k
        scores, measure = top_k(scores, m.k), "recip_rank"
    elif m.family == "judged":  # P@k when every judged document counts as relevant
        qrels = {q: dict.fromkeys(d, 1) for q, d in qrels.items()}
        measure, level = f"P_{m.k}", 1
    else:
        measure = m.trec_eval_name
    family, _, k = measure.rpartition("_") if measure[-1].isdigit() else (measure, "", "")
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {f"{family}.{k}" if k else measure}, relevance_level=level)
    return {q: v[measure] for q, v in evaluator.evaluate(scores).items()}


def assert_equal_to_pytrec(run, qrels: dict, metrics: list[str], level: int) -> dict[str, float]:
    ours = evaluate_per_query(run, qrels, metrics, relevance_level=level)
    means = evaluate(run, qrels, metrics, relevance_level=level)
    scores = run_to_dict(run) if not isinstance(next(iter(run.values())), dict) else run
    for metric in metrics:
        ref = reference(scores, qrels, metric, level)
        assert set(ours[metric]) == set(ref), metric
        for qid, value in ref.items():
            assert ours[metric][qid] == pytest.approx(value, abs=1e-12), (metric, qid)
        assert means[metric] == pytest.approx(math.fsum(ref.values()) / len(ref), abs=1e-12), metric
    return means


@pytest.mark.slow
@pytest.mark.parametrize("name,level", [("dl19-bm25", 1), ("dl19-bm25", 2), ("dl19-bm25", 3), ("dl19-splade", 1),
                                        ("dl19-splade", 2), ("trec-covid", 1), ("trec-covid", 2), ("trec-news", 1)])
def test_equals_pytrec_eval_on_real_runs(cases, name: str, level: int) -> None:
    run, qrels = cases[name]
    assert_equal_to_pytrec(run, qrels, METRICS, level)


@pytest.mark.slow
def test_published_ndcg_at_10(cases) -> None:
    published = {"dl19-bm25": 0.5058, "dl19-splade": 0.7308, "trec-covid": 0.5947, "trec-news": 0.3952}
    for name, value in published.items():
        run, qrels = cases[name]
        assert round(evaluate(run, qrels, ["nDCG@10"])["ndcg@10"], 4) == value, name


@pytest.mark.slow
def test_ties_follow_trec_eval(cases) -> None:
    run, qrels = cases["trec-covid"]
    tied = {q: {d: round(s) for d, s in docs.items()} for q, docs in run_to_dict(run).items()}
    n_ties = sum(len(d) - len(set(d.values())) for d in tied.values())
    assert n_ties > 1000  # the rounded run is full of ties
    means = assert_equal_to_pytrec(tied, qrels, METRICS, 1)
    # the tie order matters: ranking tied documents by ascending id gives other numbers
    flipped = {q: {d: s for d, s in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))} for q, docs in tied.items()}
    as_ranked = {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in flipped.items()}
    assert evaluate(as_ranked, qrels, ["ndcg@10"])["ndcg@10"] != means["ndcg@10"]


@pytest.mark.slow
def test_plain_dict_and_run_agree(cases) -> None:
    run, qrels = cases["dl19-splade"]
    assert evaluate(run, qrels, METRICS, 2) == evaluate(run_to_dict(run), qrels, METRICS, 2)


def test_means_over_run_queries_only(cases) -> None:
    """Qrels queries missing from the run do not count (trec_eval without -c, pytrec_eval's default)."""
    run, qrels = cases["dl19-bm25"]
    part = dict(list(run.items())[:20])
    assert_equal_to_pytrec(part, qrels, ["ndcg@10", "map", "recall@100"], 2)
    assert len(evaluate_per_query(part, qrels, ["ndcg@10"])["ndcg@10"]) == 20


def test_unjudged_run_queries_are_left_out_with_a_warning(cases, caplog) -> None:
    run, qrels = cases["dl19-bm25"]
    extra = {**run_to_dict(run), "no-such-query": {"d1": 1.0}, "other-unjudged": {"d2": 2.0}}
    with caplog.at_level(logging.WARNING, logger="rerankit.evaluation"):
        means = evaluate(extra, qrels, ["ndcg@10"])
    assert means == evaluate(run, qrels, ["ndcg@10"])
    assert "2 of the run's 45 queries have no judgements" in caplog.text


def test_query_with_no_hits_scores_zero_as_pytrec_eval(cases) -> None:
    run, qrels = cases["dl19-bm25"]
    scores = run_to_dict(run)
    qid = next(iter(scores))
    scores[qid] = {}
    means = assert_equal_to_pytrec(scores, qrels, ["ndcg@10", "map", "mrr", "p@10", "judged@10"], 1)
    assert means["ndcg@10"] < evaluate(run, qrels, ["ndcg@10"])["ndcg@10"]
    assert evaluate_per_query(scores, qrels, ["ndcg@10"])["ndcg@10"][qid] == 0.0


def test_zero_relevant_queries_score_zero(cases) -> None:
    run, qrels = cases["dl19-bm25"]
    values = evaluate_per_query(run, qrels, ["map", "recall@100", "mrr"], relevance_level=3)
    no_grade_3 = [q for q in run if max(qrels[q].values()) < 3]
    assert no_grade_3
    assert all(values[m][q] == 0.0 for m in values for q in no_grade_3)


def test_run_with_no_judged_query_is_a_data_error(cases) -> None:
    _, qrels = cases["dl19-bm25"]
    with pytest.raises(DataError, match="'q-unknown'"):
        evaluate({"q-unknown": {"d": 1.0}, "q-other": {"d": 2.0}}, qrels, ["ndcg@10"])


@pytest.mark.parametrize("run,message", [
    ({}, "the run is empty"),
    ({"q": {"d": "high"}}, "'high' is not a number"),
    ({"q": {"d": None}}, "is not a number"),
    ({"q": {"d": float("nan")}}, "NaN"),
    ({"q": ["d1", "d2"]}, "a run maps query ids"),
    ([("q", {"d": 1.0})], "a run must be a dict"),
])
def test_bad_runs_raise_input_errors(run, message: str) -> None:
    with pytest.raises(InputError, match=message):
        evaluate(run, {"q": {"d": 1}}, ["ndcg@10"])


def test_bad_qrels_and_level() -> None:
    with pytest.raises(InputError, match="qrels are empty"):
        evaluate({"q": {"d": 1.0}}, {}, ["ndcg@10"])
    with pytest.raises(InputError, match="the grade 'high' is not an integer"):
        evaluate({"q": {"d": 1.0}}, {"q": {"d": "high"}}, ["ndcg@10"])
    with pytest.raises(InputError, match="relevance_level"):
        evaluate({"q": {"d": 1.0}}, {"q": {"d": 1}}, ["ndcg@10"], relevance_level=0)


def test_ranking_with_duplicate_document_is_rejected() -> None:
    doc = Document("d1", "text")
    ranking = Ranking(Query("q", "text"), (Hit(doc, 2.0), Hit(doc, 1.0)))
    with pytest.raises(InputError, match="same document more than once"):
        evaluate({"q": ranking}, {"q": {"d1": 1}}, ["ndcg@10"])


def test_the_hit_order_decides_not_the_scores() -> None:
    """A Ranking is evaluated in the order the stage returned (DESIGN: the order is the truth); a score dict, which
    has no order, is ranked by score as trec_eval does."""
    q = Query("q", "text")
    ranking = Ranking(q, (Hit(Document("a", ""), 1.0), Hit(Document("b", ""), 2.0)))
    assert evaluate({"q": ranking}, {"q": {"b": 1}}, ["mrr"]) == {"mrr": 0.5}
    assert evaluate({"q": {"a": 1.0, "b": 2.0}}, {"q": {"b": 1}}, ["mrr"]) == {"mrr": 1.0}


def test_negative_grades_as_trec_eval() -> None:
    qrels = {"q": {"a": -1, "b": 1, "c": 2}}
    run = {"q": {"a": 3.0, "b": 2.0, "x": 1.0}}
    assert_equal_to_pytrec(run, qrels, ["ndcg@10", "ndcg", "map", "p@2", "mrr", "judged@3"], 1)


@pytest.mark.parametrize("name,cut", [("dl19-bm25", 100), ("dl19-bm25", 3), ("trec-covid", 20)])
def test_values_equal_ranx_itself_for_rankings_and_dicts(cases, name: str, cut: int) -> None:
    """The fast array building (judged documents found through each ranking's rank dict, or through the qrels when
    a query has more judgements than documents, as DL19 and TREC-COVID do at short depths) gives ranx's own values
    bit for bit, from Rankings and from score dicts alike."""
    from ranx import Qrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    run, qrels = cases[name]
    cut_run = {q: r.top(cut) for q, r in list(run.items())[:15]}
    strict = {q: {d: float(len(r) - i) for i, d in enumerate(r.ids())} for q, r in cut_run.items()}  # no ties
    judged = {q: qrels[q] for q in strict}
    metrics = ["ndcg@10", "ndcg", "map", "mrr", "recall@100", "p@10"]
    names = {"ndcg": "ndcg", "ndcg@10": "ndcg@10", "map": "map", "mrr": "mrr", "recall@100": "recall@100",
             "p@10": "precision@10"}
    theirs = ranx_evaluate(Qrels(judged), RanxRun(strict), [names[m] for m in metrics], make_comparable=True)
    for form in (cut_run, strict):
        ours = evaluate(form, judged, metrics)
        assert {m: ours[m] for m in metrics} == pytest.approx({m: float(theirs[names[m]]) for m in metrics},
                                                               abs=1e-15, rel=0)
