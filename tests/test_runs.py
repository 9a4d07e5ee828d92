"""TREC run and qrels I/O: round trips, trec_eval ordering, and clear errors on malformed lines."""

from __future__ import annotations

import pytest

from rerankit.errors import FormatError
from rerankit.runs import (
    read_qrels,
    read_trec_run,
    run_from_dict,
    run_to_dict,
    run_to_ranx,
    tie_broken_scores,
    trec_order,
    write_trec_run,
)


def test_trec_order_breaks_ties_by_docid_descending():
    assert [d for d, _ in trec_order({"a": 1.0, "c": 1.0, "b": 2.0})] == ["b", "c", "a"]


def test_run_round_trip(tmp_path):
    run = run_from_dict({"q1": {"d1": 1.5, "d2": 3.0}, "q2": {"d3": 0.1}})
    write_trec_run(run, tmp_path / "r.trec", tag="x")
    back = read_trec_run(tmp_path / "r.trec")
    assert run_to_dict(back) == {"q1": {"d2": 3.0, "d1": 1.5}, "q2": {"d3": 0.1}}
    assert back["q1"].ids() == ["d2", "d1"]
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert lines[0] == "q1 Q0 d2 1 3.000000 x"


def test_tie_broken_scores_follow_trec_order():
    tb = tie_broken_scores({"q": {"a": 1.0, "b": 1.0, "c": 0.5}})
    assert sorted(tb["q"], key=lambda d: -tb["q"][d]) == ["b", "a", "c"]
    assert run_to_ranx(run_from_dict({"q": {"a": 1.0, "b": 1.0}})).to_dict()["q"] == {"b": 2.0, "a": 1.0}


@pytest.mark.parametrize("content, message", [
    ("q1 Q0 d1 1 2.0\n", "needs 6 fields"),
    ("q1 Q0 d1 one 2.0 tag\n", "rank must be an integer"),
    ("q1 Q0 d1 1 high tag\n", "score a number"),
    ("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", "appears twice"),
    ("\n", "empty"),
])
def test_malformed_run_lines_are_named(tmp_path, content, message):
    p = tmp_path / "bad.trec"
    p.write_text(content)
    with pytest.raises(FormatError, match=message):
        read_trec_run(p)


@pytest.mark.parametrize("content, message", [
    ("q1 d1\n", "needs 'qid 0 docid rel'"),
    ("q1 0 d1 2 extra\n", "got 5 fields"),
    ("q1 0 d1 high\n", "relevance must be an integer"),
    ("q1 0 d1 0.5\n", "relevance must be an integer"),
    ("", "empty"),
])
def test_malformed_qrels_lines_are_named(tmp_path, content, message):
    p = tmp_path / "bad.qrels"
    p.write_text(content)
    with pytest.raises(FormatError, match=message) as err:
        read_qrels(p)
    if content:
        assert "bad.qrels:1" in str(err.value)


def test_qrels_trec_and_beir_tsv(tmp_path):
    (tmp_path / "a.txt").write_text("q1 0 d1 2\nq1 0 d2 0\n")
    (tmp_path / "b.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert read_qrels(tmp_path / "a.txt") == {"q1": {"d1": 2, "d2": 0}}
    assert read_qrels(tmp_path / "b.tsv") == {"q1": {"d1": 1}}


def test_real_dl19_run_reads_with_text(shared_data):
    run = read_trec_run(shared_data / "msmarco-passage/trec-dl-2019/run.bm25.dl19.top100.rank_llm_data.trec")
    assert len(run) == 43
    assert sum(len(r) for r in run.values()) == 4300


def test_unreadable_files_are_format_errors_naming_the_file(tmp_path):
    import gzip

    from rerankit.runs import read_qrels, read_trec_run

    bad = tmp_path / "run.trec"
    bad.write_bytes(b"q1 Q0 d1 1 2.0 x\nq1 Q0 d\xff 2 1.0 x\n")
    with pytest.raises(FormatError, match=r"run.trec:2: not UTF-8 text \(byte 0xff"):
        read_trec_run(bad)
    gz = tmp_path / "qrels.txt.gz"
    data = gzip.compress(("\n".join(f"q{i} 0 d{i} 1" for i in range(2000)) + "\n").encode())
    gz.write_bytes(data[: len(data) - 20])
    with pytest.raises(FormatError, match="qrels.txt.gz: the gzip file is truncated or corrupt"):
        read_qrels(gz)
    with pytest.raises(FormatError, match="is a directory"):
        read_qrels(tmp_path)


@pytest.mark.parametrize("score", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_scores_in_a_run_file_are_refused(tmp_path, score):
    from rerankit.runs import read_trec_run

    path = tmp_path / "run.trec"
    path.write_text(f"q1 Q0 d1 1 2.0 x\nq1 Q0 d2 2 {score} x\n")
    with pytest.raises(FormatError, match=r"run.trec:2: the score .* is not a finite number"):
        read_trec_run(path)


def test_conflicting_duplicate_qrels_name_the_pairs(tmp_path):
    from rerankit.runs import read_qrels

    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d2 0\nq1 0 d1 1\nq1 0 d2 2\n")
    with pytest.raises(FormatError, match=r"query 'q1' document 'd2': grade 0 on line 2, 2 on line 4"):
        read_qrels(path)
    path.write_text("q1 0 d1 1\nq1 0 d1 1\n")  # the same judgement twice says one thing: accepted
    assert read_qrels(path) == {"q1": {"d1": 1}}


def test_a_run_that_would_make_a_broken_trec_file_is_refused(tmp_path):
    from rerankit.errors import InputError
    from rerankit.runs import write_trec_run
    from rerankit.types import Document, Hit, Query, Ranking

    run = {"q1": Ranking(Query("q1", "t"), (Hit(Document("doc 1", ""), 1.0),))}
    with pytest.raises(InputError, match="document id 'doc 1' is empty or holds whitespace"):
        write_trec_run(run, tmp_path / "run.trec")
    assert not (tmp_path / "run.trec").exists()
    ok = {"q1": Ranking(Query("q1", "t"), (Hit(Document("d1", ""), 1.0),))}
    with pytest.raises(InputError, match="tag 'my run'"):
        write_trec_run(ok, tmp_path / "run.trec", tag="my run")
    with pytest.raises(InputError, match="is a directory"):
        write_trec_run(ok, tmp_path)
