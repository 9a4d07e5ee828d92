"""The order a stage returns is the order that is evaluated and written, ties included (DESIGN: the order is the truth).

Each case builds the ties a real reranker produces (GroupRank's integer scores, Rank1's saturated probabilities,
bf16 log-probabilities, scores that agree to 6 decimals), then checks that `evaluate`, `run_to_ranx`, `run_to_dict`
and a TREC file written and read back all see the returned order, and that pytrec_eval given that order agrees.
Each case is built so trec_eval's own tie-break (document id descending) gives a different number: the checks fail
if ties are ever broken by id again.
"""

from __future__ import annotations

import pytest

from rerankit.evaluation import evaluate
from rerankit.runs import read_trec_run, run_to_dict, run_to_ranx, write_trec_run
from rerankit.types import Document, Hit, Query, Ranking

METRICS = ["ndcg@3", "mrr", "map", "p@1"]


def _ranking(ids: list[str], scores: list[float], qid: str = "q1") -> Ranking:
    """Hits scored `scores`, put in the order a stage returns them (stable sort: ties keep the input order)."""
    base = Ranking(Query(qid, "what causes tides"), tuple(Hit(Document(d, f"text of {d}"), 0.0) for d in ids))
    return base.sorted_by(scores)


def _pytrec(order: list[str], qrels: dict[str, int]) -> dict[str, float]:
    import pytrec_eval

    run = {"q1": {d: float(len(order) - i) for i, d in enumerate(order)}}  # no ties: trec_eval keeps this order
    measures = {"ndcg_cut_3", "recip_rank", "map", "P_1"}
    got = pytrec_eval.RelevanceEvaluator({"q1": qrels}, measures).evaluate(run)["q1"]
    return {"ndcg@3": got["ndcg_cut_3"], "mrr": got["recip_rank"], "map": got["map"], "p@1": got["P_1"]}


def _check_returned_order_is_evaluated(ranking: Ranking, tmp_path) -> None:
    scores = [h.score for h in ranking.hits]
    assert len(set(scores)) < len(scores), "the case must contain tied scores"
    returned = ranking.ids()
    by_id = sorted(returned, key=lambda d: (-ranking.scores()[d], [-ord(c) for c in d]))  # trec_eval's tie-break
    assert by_id != returned, "the case must be one where breaking ties by id changes the order"
    qrels = {returned[0]: 1, returned[-1]: 0}  # only the document the stage put first is relevant
    run = {"q1": ranking}

    got = evaluate(run, {"q1": qrels}, METRICS)
    assert got == pytest.approx(_pytrec(returned, qrels))
    assert got["p@1"] == 1.0 and got["mrr"] == 1.0
    assert evaluate({"q1": ranking.scores()}, {"q1": qrels}, METRICS) == pytest.approx(_pytrec(by_id, qrels))

    ranx_run = run_to_ranx(run).to_dict()["q1"]
    assert sorted(ranx_run, key=lambda d: -ranx_run[d]) == returned
    as_dict = run_to_dict(run)["q1"]
    assert sorted(as_dict, key=lambda d: -as_dict[d]) == returned and len(set(as_dict.values())) == len(returned)

    path = tmp_path / "run.trec"
    write_trec_run(run, path)
    assert read_trec_run(path)["q1"].ids() == returned
    assert evaluate(read_trec_run(path), {"q1": qrels}, METRICS) == pytest.approx(got)


def test_grouprank_integer_scores(tmp_path):
    """GroupRank scores passages 0-10 (integers), merged across groups: many ties."""
    _check_returned_order_is_evaluated(_ranking(["d1", "d2", "d3", "d4", "d5"], [7, 9, 7, 9, 3]), tmp_path)


def test_rank1_saturated_probabilities(tmp_path):
    """Rank1's P(true) in float32 saturates at exactly 1.0 for confident answers."""
    import torch

    probs = torch.softmax(torch.tensor([[0.0, 21.0], [0.0, 30.0], [0.0, 2.0], [0.0, 25.0]]), dim=-1)[:, 1]
    scores = [float(p) for p in probs]
    assert scores.count(1.0) == 3
    _check_returned_order_is_evaluated(_ranking(["a1", "a2", "a3", "a4"], scores), tmp_path)


def test_bf16_log_probabilities(tmp_path):
    """vLLM returns bf16 log-probabilities: distinct values collapse onto one bf16 number."""
    import torch

    raw = torch.tensor([-0.41, -0.4102, -1.5, -0.4104])
    scores = [float(v) for v in raw.to(torch.bfloat16).float()]
    assert len(set(scores)) == 2
    _check_returned_order_is_evaluated(_ranking(["p1", "p2", "p3", "p4"], scores), tmp_path)


def test_scores_equal_to_six_decimals_round_trip(tmp_path):
    """Scores that differ only beyond 6 decimals used to be written as ties; the file must keep them apart."""
    ranking = _ranking(["x1", "x2", "x3"], [0.9999991, 0.9999994, 0.1])
    run = {"q1": ranking}
    write_trec_run(run, tmp_path / "run.trec")
    lines = (tmp_path / "run.trec").read_text().split("\n")
    assert len({line.split()[4] for line in lines if line}) == 3
    assert read_trec_run(tmp_path / "run.trec")["q1"].ids() == ["x2", "x1", "x3"]


def test_untied_runs_are_written_with_six_decimals_as_before(tmp_path):
    ranking = _ranking(["a", "b"], [2.5, 1.25])
    write_trec_run({"q1": ranking}, tmp_path / "run.trec")
    assert (tmp_path / "run.trec").read_text() == "q1 Q0 a 1 2.500000 rerankit\nq1 Q0 b 2 1.250000 rerankit\n"


def test_strictly_decreasing_keeps_the_original_score_in_meta():
    ranking = _ranking(["a", "b", "c"], [1.0, 1.0, 0.5])
    strict = ranking.strictly_decreasing()
    assert strict.ids() == ranking.ids()
    assert [h.score for h in strict][0] == 1.0 and strict[1].score < 1.0 and strict[1].meta["original_score"] == 1.0
    assert "original_score" not in strict[0].meta and ranking[1].score == 1.0  # the input is not changed
    assert ranking.strictly_decreasing() is not ranking and strict.strictly_decreasing() is strict


def test_infinite_scores_become_ranks_and_nan_is_refused():
    ranking = Ranking(Query("q", "t"), (Hit(Document("a", ""), float("inf")), Hit(Document("b", ""), 1.0)))
    assert [h.score for h in ranking.strictly_decreasing()] == [2.0, 1.0]
    nan = Ranking(Query("q", "t"), (Hit(Document("a", ""), float("nan")),))
    from rerankit.errors import InputError

    with pytest.raises(InputError, match="NaN"):
        nan.to_trec_lines()


@pytest.mark.slow
@pytest.mark.llm
def test_real_grouprank_output_is_evaluated_in_its_order(smollm, tmp_path):
    """A real GroupRank run (SmolLM2, integer scores) on one query; whatever ties it returns, its order is scored."""
    from rerankit.rerankers.grouprank import GroupRankReranker

    texts = ["The moon's gravity pulls the oceans and raises tides.", "Paris is the capital of France.",
             "Tides rise and fall twice a day because of the moon.", "Bread rises because yeast makes gas.",
             "Spring tides happen when sun and moon line up."]
    ranking = Ranking(Query("q1", "what causes tides"),
                      tuple(Hit(Document(f"d{i}", t), float(5 - i)) for i, t in enumerate(texts)))
    out = GroupRankReranker(str(smollm), group_size=5, interval=5, repeats=1, max_tokens=24,
                            progress=False).rerank(ranking)
    returned = out.ids()
    qrels = {"q1": {returned[0]: 1}}
    assert evaluate({"q1": out}, qrels, ["p@1", "mrr"]) == {"p@1": 1.0, "mrr": 1.0}
    write_trec_run({"q1": out}, tmp_path / "run.trec")
    assert read_trec_run(tmp_path / "run.trec")["q1"].ids() == returned
