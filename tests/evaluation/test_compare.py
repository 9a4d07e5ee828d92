"""Significance comparison of real runs: p-values match scipy on pytrec_eval's per-query values."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankit.errors import ConfigError, DataError, InputError
from rerankit.evaluation import compare
from rerankit.runs import read_qrels, read_trec_run, run_to_dict

DL19 = Path("msmarco-passage/trec-dl-2019")


@pytest.fixture(scope="module")
def dl19(shared_data: Path):
    runs = {"bm25": read_trec_run(shared_data / DL19 / "run.bm25.dl19.top100.rank_llm_data.trec"),
            "splade": read_trec_run(shared_data / DL19 / "run.splade_pp_ed.dl19.top100.rank_llm_data.trec")}
    return runs, read_qrels(shared_data / DL19 / "qrels.dl19-passage.txt")


@pytest.mark.slow  # the first ranx call in a fresh environment compiles numba code (~10 s)
def test_student_t_test_matches_scipy_on_trec_eval_values(dl19) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from scipy.stats import ttest_rel

    runs, qrels = dl19
    result = compare(runs, qrels, ["ndcg@10", "map"], relevance_level=2)
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map"}, relevance_level=2)
    ref = {n: ev.evaluate(run_to_dict(r)) for n, r in runs.items()}
    qids = sorted(ref["bm25"])
    for metric, measure in (("ndcg@10", "ndcg_cut_10"), ("map", "map")):
        expected = ttest_rel([ref["bm25"][q][measure] for q in qids], [ref["splade"][q][measure] for q in qids]).pvalue
        test = result.test("splade", "bm25", metric)
        assert test.p_value == pytest.approx(expected, rel=1e-9)
        assert test.significant and test.winner == "splade"
    assert result.beats("splade", "ndcg@10") == ["bm25"] and result.beats("bm25", "ndcg@10") == []
    assert round(result.scores["splade"]["ndcg@10"], 4) == 0.7308
    assert result.n_queries == 43


def test_tables_mark_significant_wins(dl19) -> None:
    runs, qrels = dl19
    result = compare(runs, qrels, ["ndcg@10", "recall@100"], relevance_level=2)
    lines = result.to_table().splitlines()
    assert lines[0].split() == ["#", "system", "nDCG@10", "R@100"]
    assert lines[2].split() == ["a", "bm25", "0.5058", "0.4910"]
    assert lines[3].split() == ["b", "splade", "0.7308ᵃ", "0.6390ᵃ"]
    assert "paired Student's t-test, p <= 0.05, 43 queries" in lines[4]
    md = result.to_markdown()
    assert "| b | splade | 0.7308<sup>a</sup> | 0.6390<sup>a</sup> |" in md


@pytest.mark.slow  # compiles ranx's Fisher randomization test on a cold cache (~12 s)
def test_identical_runs_are_not_significant_and_tukey_fisher_run(dl19) -> None:
    runs, qrels = dl19
    three = {**runs, "bm25-copy": runs["bm25"]}
    for stat_test in ("student", "fisher", "tukey"):
        result = compare(three, qrels, ["ndcg@10"], stat_test=stat_test)
        same = result.test("bm25", "bm25-copy", "ndcg@10")
        assert same.p_value == pytest.approx(1.0) and not same.significant and same.winner is None
        assert result.test("bm25", "splade", "ndcg@10").winner == "splade"


def test_shared_queries_only(dl19, caplog) -> None:
    runs, qrels = dl19
    part = dict(list(runs["bm25"].items())[:30])
    result = compare({"part": part, "splade": runs["splade"]}, qrels, ["ndcg@10"])
    assert result.n_queries == 30
    assert "comparing on the 30 queries" in caplog.text


def test_bad_comparisons(dl19) -> None:
    runs, qrels = dl19
    with pytest.raises(ConfigError, match="unknown stat_test 'wilcoxon'"):
        compare(runs, qrels, ["ndcg@10"], stat_test="wilcoxon")
    with pytest.raises(InputError, match="at least two"):
        compare({"bm25": runs["bm25"]}, qrels, ["ndcg@10"])
    with pytest.raises(InputError, match="max_p"):
        compare(runs, qrels, ["ndcg@10"], max_p=5)
    a = dict(list(runs["bm25"].items())[:10])
    b = dict(list(runs["splade"].items())[10:20])
    with pytest.raises(DataError, match="share no judged query"):
        compare({"a": a, "b": b}, qrels, ["ndcg@10"])
