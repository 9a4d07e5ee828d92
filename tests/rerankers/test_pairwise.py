"""PRP sorts with a perfect judge, option errors, and the method end to end on a real LLM (mechanics only)."""

from __future__ import annotations

import random

import pytest

from rerankit.errors import ConfigError
from rerankit.rerankers.pairwise import PairwiseReranker
from rerankit.rerankers.pairwise_sorts import PAIR_SORTS


def _drive(sort, value):
    """Run a sort with a perfect judge: the larger value wins clearly; returns (order, comparisons)."""
    n = 0
    try:
        pairs = next(sort)
        while True:
            n += len(pairs)
            pairs = sort.send(["first" if value[a] > value[b] else "second" for a, b in pairs])
    except StopIteration as done:
        return done.value, n


@pytest.mark.parametrize("method", sorted(PAIR_SORTS))
@pytest.mark.parametrize("n,k", [(1, 1), (2, 1), (7, 3), (20, 10), (13, 13)])
def test_a_perfect_judge_gives_the_true_top_k(method, n, k):
    rng = random.Random(n * 31 + k)
    for _ in range(20):
        value = rng.sample(range(100), n)
        order, comparisons = _drive(PAIR_SORTS[method](n, k), value)
        kk = min(k, n)
        assert sorted(order) == list(range(n))
        assert order[:kk] == sorted(range(n), key=lambda i: -value[i])[:kk]
        assert order[kk:] == [i for i in range(n) if i not in set(order[:kk])]  # the rest: first-stage order
        if method == "allpair":
            assert comparisons == n * (n - 1) // 2
        if method == "sliding":
            assert comparisons == sum(n - 1 - i for i in range(kk))


def test_options_are_checked_before_the_model_loads():
    with pytest.raises(ConfigError, match="method"):
        PairwiseReranker(model="x", method="quicksort")
    with pytest.raises(ConfigError, match="scoring"):
        PairwiseReranker(model="x", scoring="votes")
    with pytest.raises(ConfigError, match="k must"):
        PairwiseReranker(model="x", k=0)
    with pytest.raises(ConfigError, match="answer_prefix"):
        PairwiseReranker(model="x", template="yes-no")


def test_registered_with_its_defaults():
    from rerankit.registry import resolve

    entry = resolve("reranker", "prp")
    assert entry.target.endswith(":PairwiseReranker") and resolve("reranker", "pairwise") == entry


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.parametrize("scoring", ["generation", "likelihood"])
def test_prp_end_to_end_on_smollm(smollm_engine, dl19, scoring):
    """Mechanics on the packaged SmolLM2-135M (not trained for ranking: this shows nothing about quality)."""
    _, run = dl19
    rankings = list(run.values())[:2]
    rr = PairwiseReranker(engine=smollm_engine, depth=3, k=1, scoring=scoring, max_passage_tokens=24,
                          keep_history=True, progress=False)
    out = rr.rerank_many(rankings)
    for r, orig in zip(out, rankings):
        assert sorted(r.ids()[:3]) == sorted(orig.ids()[:3]) and r.ids()[3:] == orig.ids()[3:]
        meta = r.meta["prp"]
        assert meta["comparisons"] == len(meta["history"]) == 2  # heap of 3: root vs each child, then the top 1
        assert all(h["outcome"] in ("first", "second", "conflict") for h in meta["history"])
    looped = PairwiseReranker(engine=smollm_engine, depth=3, k=1, scoring=scoring, max_passage_tokens=24,
                              batch_queries=False, progress=False).rerank_many(rankings)
    assert [r.ids() for r in looped] == [r.ids() for r in out]
