"""The paper's two early candidate-pruning rules (Martinico et al., ECIR 2026; kANNolo rerank_index.rs @ e5e4ea3)
on hand-worked inputs, and the multivector reranker with pruning off (identical) and on (the rule, on the packaged
all-MiniLM-L6-v2 token vectors)."""

from __future__ import annotations

import pytest

from rerankit.errors import InputError
from rerankit.registry import build
from rerankit.rerankers.candidate_pruning import alpha_keep, early_exit
from rerankit.types import Document, Hit, Query, Ranking


def test_alpha_keeps_the_candidates_above_one_minus_alpha_times_the_kth_first_stage_score():
    scores = [20.0, 15.0, 12.0, 10.0, 10.0, 9.6, 9.4, 5.0]
    assert alpha_keep(scores, k=4, alpha=0.05) == 6  # bar 0.95 x 10 = 9.5: 9.6 kept, 9.4 dropped
    assert alpha_keep(scores, k=4, alpha=0.0) == 5  # bar = the k-th score itself; a tie with it is kept
    assert alpha_keep(scores, k=4, alpha=1.0) == 8  # bar 0: everything
    assert alpha_keep(scores, k=2, alpha=0.25) == 3  # bar 0.75 x 15 = 11.25
    assert alpha_keep(scores[:3], k=4, alpha=0.05) == 3  # fewer than k candidates: nothing pruned
    with pytest.raises(InputError, match="first-stage order"):
        alpha_keep([3.0, 4.0, 1.0], k=1, alpha=0.1, query_id="q")
    with pytest.raises(InputError, match="only a lower bar for scores >= 0"):
        alpha_keep([-1.0, -2.0, -3.0], k=2, alpha=0.1)


def test_early_exit_stops_after_beta_consecutive_candidates_that_miss_the_top_k():
    maxsim = [5.0, 3.0, 1.0, 4.0, 0.5, 2.0, 0.2, 9.0]
    calls: list[int] = []

    def score(i: int) -> float:
        calls.append(i)
        return maxsim[i]

    # k=2: top {5, 3}; 1.0 stall 1; 4.0 enters (top {5, 4}), reset; 0.5 stall 1; 2.0 stall 2 -> stop (beta 2)
    got = early_exit(len(maxsim), k=2, beta=2, score=score)
    assert calls == [0, 1, 2, 3, 4, 5] and got == {i: maxsim[i] for i in range(6)}
    calls.clear()
    # beta 3 reaches 0.2 (stall 3) and stops before 9.0, which a full scan would have ranked first
    assert list(early_exit(len(maxsim), k=2, beta=3, score=score)) == [0, 1, 2, 3, 4, 5, 6]
    calls.clear()
    # a tie with the k-th best is not an improvement (the reference's strict comparison)
    assert list(early_exit(4, k=1, beta=1, score=lambda i: [2.0, 2.0, 7.0, 1.0][i])) == [0, 1]
    assert list(early_exit(3, k=5, beta=1, score=score)) == [0, 1, 2]  # n <= k: all scored


TEXTS = ["Vitamin D is made in the skin when it is exposed to sunlight.",
         "Paris is the capital of France, on the Seine.",
         "Calcium and vitamin D together support bone density in older adults!",
         "Bananas are rich in potassium.",
         "Vitamin D deficiency weakens bones and causes rickets in children.",
         "The Eiffel Tower was finished in 1889."]


def _ranking() -> Ranking:
    first_stage = [12.0, 11.0, 10.0, 9.9, 6.0, 5.0]
    return Ranking(Query("q1", "does vitamin d help bones"),
                   tuple(Hit(Document(f"d{i}", t), s) for i, (t, s) in enumerate(zip(TEXTS, first_stage))))


@pytest.mark.slow
def test_multivector_pruning_off_is_exact_and_on_follows_the_rules(minilm, tmp_path):
    store = str(tmp_path / "v")
    plain = build("reranker", "multivector", model=str(minilm), cache_dir=store)
    assert "pruning" not in plain.config()  # the defaults: exact MaxSim, and the same stage key as before
    exact = plain.rerank(_ranking())
    maxsim = {h.doc.id: h.score for h in exact.hits}
    # rules on but never binding: the exact ranking, ids and scores
    loose = build("reranker", "multivector", model=str(minilm), cache_dir=store, prune_alpha=1.0,
                  early_exit_beta=6, prune_k=2).rerank(_ranking())
    assert [(h.doc.id, h.score) for h in loose.hits] == [(h.doc.id, h.score) for h in exact.hits]
    assert loose.meta["multivector"] == {"candidates": 6, "scored": 6, "after_alpha": 6}
    # alpha 0.1, k 2: bar 0.9 x 11 = 9.9 -> d0..d3 scored by MaxSim, d4 and d5 beneath in first-stage order
    cut = build("reranker", "multivector", model=str(minilm), cache_dir=store, prune_alpha=0.1,
                prune_k=2).rerank(_ranking())
    head = sorted(["d0", "d1", "d2", "d3"], key=lambda d: -maxsim[d])
    assert cut.ids() == head + ["d4", "d5"]
    assert [h.score for h in cut.hits[:4]] == pytest.approx([maxsim[d] for d in head], rel=1e-6)
    assert [h.meta.get("pruned", False) for h in cut.hits] == [False] * 4 + [True, True]
    # early exit, beta 1, k 2: the scored prefix is exactly what the rule reaches on the exact MaxSims
    order = [f"d{i}" for i in range(6)]
    reached = early_exit(6, 2, 1, lambda i: maxsim[order[i]])
    ee = build("reranker", "multivector", model=str(minilm), cache_dir=store, early_exit_beta=1,
               prune_k=2).rerank(_ranking())
    scored = [order[i] for i in reached]
    assert ee.ids() == sorted(scored, key=lambda d: -maxsim[d]) + [d for d in order if d not in scored]
    assert ee.meta["multivector"]["scored"] == len(reached)


def test_bad_pruning_options_fail_before_the_model_loads():
    for kwargs, message in (({"prune_alpha": 1.5}, "prune_alpha must be"), ({"early_exit_beta": 0}, "early_exit_beta"),
                            ({"prune_k": 0}, "prune_k must be")):
        with pytest.raises(InputError, match=message):
            build("reranker", "multivector", model="/nonexistent/model", **kwargs)
