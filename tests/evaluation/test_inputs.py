"""Malformed run and qrels files fail with FormatError naming the file and line (rerankit.runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankit.errors import FormatError
from rerankit.evaluation import evaluate
from rerankit.runs import read_qrels, read_trec_run


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,message", [
    ("q1 Q0 d1 1 2.5 tag\nq1 Q0 d2 2 tag\n", r"run.trec:2: a TREC run line needs 6 fields"),
    ("q1 Q0 d1 1 high tag\n", r"run.trec:1: rank must be an integer and score a number"),
    ("q1 Q0 d1 1 2.5 tag\nq1 Q0 d1 2 1.5 tag\n", r"run.trec:2: document 'd1' appears twice"),
    ("\n\n", r"the run file is empty"),
])
def test_malformed_run_lines(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_trec_run(write(tmp_path, "run.trec", text))


@pytest.mark.parametrize("text,message", [
    ("q1 0 d1 1 extra\n", r"qrels.txt:1: a qrels line needs"),
    ("q1 0 d1 1\nq1 0 4321\n", r"qrels.txt:2: 3 fields where the file's lines have 4"),
    ("q1 0 d1 relevant\n", r"qrels.txt:1: relevance must be an integer, got 'relevant'"),
    ("q1 0 d1 1.5\n", r"relevance must be an integer, got '1.5'"),
    ("", r"the qrels file is empty"),
])
def test_malformed_qrels_lines(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_qrels(write(tmp_path, "qrels.txt", text))


def test_small_files_round_trip(tmp_path: Path) -> None:
    """A hand-checkable case: d2 (grade 2) at rank 2, d1 (grade 1) at rank 3."""
    run = read_trec_run(write(tmp_path, "run.trec", "q1 Q0 d9 1 3.0 t\nq1 Q0 d2 2 2.0 t\nq1 Q0 d1 3 1.0 t\n"))
    qrels = read_qrels(write(tmp_path, "qrels.txt", "q1 0 d1 1\nq1 0 d2 2\nq1 0 d9 0\n"))
    values = evaluate(run, qrels, ["mrr", "p@2", "recall@2", "map", "judged@3"])
    assert values == {"mrr": 0.5, "p@2": 0.5, "recall@2": 0.5, "map": pytest.approx((1 / 2 + 2 / 3) / 2),
                      "judged@3": 1.0}
    assert evaluate(run, qrels, ["mrr"], relevance_level=2) == {"mrr": 0.5}
    assert evaluate(run, qrels, ["map"], relevance_level=2) == {"map": 0.5}
