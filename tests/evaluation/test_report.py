"""Result tables and trec_eval-style output."""

from __future__ import annotations

from rerankit.evaluation import format_table, format_trec_eval

RESULTS = {"bm25": {"ndcg@10": 0.50583, "recall@100": 0.4531}, "splade++": {"ndcg@10": 0.73077}}


def test_text_table() -> None:
    lines = format_table(RESULTS).splitlines()
    assert lines[0].split() == ["system", "nDCG@10", "R@100"]
    assert lines[2].split() == ["bm25", "0.5058", "0.4531"]
    assert lines[3].split() == ["splade++", "0.7308", "-"]
    assert len({len(line) for line in lines[:3]}) == 1  # aligned columns


def test_markdown_table() -> None:
    lines = format_table(RESULTS, markdown=True).splitlines()
    assert lines[0] == "| system   | nDCG@10 |  R@100 |"
    assert lines[1] == "|----------|--------:|-------:|"
    assert lines[3] == "| splade++ |  0.7308 |      - |"


def test_empty_table() -> None:
    assert format_table({}) == ""


def test_trec_eval_lines() -> None:
    text = format_trec_eval({"ndcg@10": {"q1": 0.5, "q2": 0.25}, "mrr@10": {"q1": 1.0}}, run_name="bm25")
    rows = [line.split("\t") for line in text.splitlines()]
    assert [r[0].strip() for r in rows] == ["runid", "ndcg_cut_10", "ndcg_cut_10", "ndcg_cut_10", "mrr@10", "mrr@10"]
    assert rows[3][1:] == ["all", "0.3750"]
    assert rows[0][1:] == ["all", "bm25"]
