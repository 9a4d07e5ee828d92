"""The run checks done in bulk (a sum per query) still catch every bad score and refuse nothing good."""

from __future__ import annotations

import math

import pytest

from rerankit.errors import InputError
from rerankit.evaluation import evaluate
from rerankit.types import Document, Hit, Query, Ranking

QRELS = {"q1": {"a": 1, "c": 2}}


def ranking(scores: list[float]) -> Ranking:
    return Ranking(Query("q1", "x"), tuple(Hit(Document(d, ""), s) for d, s in zip("abcd", scores)))


def test_huge_finite_scores_whose_sum_overflows_are_fine():
    assert evaluate({"q1": {"a": 1e308, "b": 9e307, "c": 1.0}}, QRELS, ["p@1"]) == {"p@1": 1.0}


def test_inf_meeting_minus_inf_inside_a_ranking_is_fine():
    # the sum is NaN, yet no score is: a Ranking's order is its hit order, so infinities are allowed there
    assert evaluate({"q1": ranking([math.inf, 1.0, 0.5, -math.inf])}, QRELS, ["p@1"]) == {"p@1": 1.0}


@pytest.mark.parametrize("run,message", [
    ({"q1": ranking([3.0, math.nan, 1.0])}, r"query 'q1', document 'b': the score is NaN"),
    ({"q1": {"a": 1.0, "b": math.inf}}, r"query 'q1', document 'b': the score is inf"),
    ({"q1": {"a": 1.0, "b": -math.inf}}, r"document 'b': the score is -inf"),
    ({"q1": {"a": 1.0, "b": math.nan}}, r"document 'b': the score is NaN"),
    ({"q1": {"a": 1.0, "b": None}}, r"document 'b': the score None is not a number"),
    ({"q1": ranking([3.0, 2.0]).with_hits([Hit(Document("a", ""), 2.0), Hit(Document("a", ""), 1.0)])},
     r"the same document more than once"),
])
def test_bad_scores_are_named(run, message):
    with pytest.raises(InputError, match=message):
        evaluate(run, QRELS, ["ndcg@10"])


def test_unsorted_and_tied_dicts_follow_trec_eval():
    tied = {"q1": {"a": 1.0, "c": 1.0, "b": 2.0}}  # trec_eval: b, then the tie by id descending: c, a
    assert evaluate(tied, QRELS, ["p@2", "mrr"]) == {"p@2": 0.5, "mrr": 0.5}
    assert evaluate({"q1": {"c": 3.0, "b": 2.0, "a": 1.0}}, QRELS, ["mrr"]) == {"mrr": 1.0}
