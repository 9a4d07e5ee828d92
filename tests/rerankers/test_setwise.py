"""Setwise sorting (heap / bubble sort over 'best of a set' answers), Rank-R1 answer parsing, and a real run."""

from __future__ import annotations

import copy
import random

import pytest

from rerankit.engines.base import Capability
from rerankit.errors import CapabilityError, ConfigError
from rerankit.rerankers.setwise import SORTS, SetwiseReranker, bubblesort, heapsort, parse_choice

R1_PATTERN = r"<think>.*?</think>\s*<answer>(.*?)</answer>"


def _drive(sort, score, answer=None):
    """Run a sort against a judge that picks the highest `score` (or `answer(set)`); returns (order, sets seen)."""
    sets = []
    try:
        s = next(sort)
        while True:
            sets.append(s)
            best = answer(s) if answer else max(range(len(s)), key=lambda j: score[s[j]])
            s = sort.send(best)
    except StopIteration as done:
        return done.value, sets


@pytest.mark.parametrize("sort", [heapsort, bubblesort])
def test_a_perfect_judge_gives_the_exact_top_k(sort):
    rng = random.Random(7)
    for _ in range(300):
        n, c, k = rng.randint(1, 40), rng.randint(1, 8), rng.randint(1, 12)
        score = [rng.random() for _ in range(n)]
        order, sets = _drive(sort(n, c, k), score)
        assert sorted(order) == list(range(n))
        assert order[: min(k, n)] == sorted(range(n), key=lambda i: -score[i])[:k]
        assert all(1 < len(s) <= c + 1 for s in sets)
        rest = order[min(k, n):]
        assert rest == sorted(rest)  # below the top k: first-stage order


def test_heapsort_sets_and_counts():
    # 20 candidates, 3 children: the first comparison is the last internal node with its children
    order, sets = _drive(heapsort(20, 3, 10), list(range(20))[::-1])  # already in order: few swaps
    assert sets[0] == [6, 19]
    assert order == list(range(20))
    assert len(sets) < 40
    # an unusable answer (-1) keeps the root, as Rank-R1 does for unexpected outputs
    order, _ = _drive(heapsort(6, 2, 3), None, answer=lambda s: -1)
    assert sorted(order) == list(range(6))


def test_bubblesort_one_pass_moves_the_best_up():
    order, sets = _drive(bubblesort(7, 2, 1), [0, 1, 2, 3, 4, 5, 9])
    assert sets == [[4, 5, 6], [2, 3, 6], [0, 1, 6]] and order == [6, 0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("text, size, choice, fixes", [
    ("<think>doc 2 answers it</think> <answer>[2]</answer>", 3, 1, {"clean": 1}),
    ("<think>x</think>\n<answer>[3]</answer>", 3, 2, {"clean": 1}),
    ("<think>x</think> <answer>2</answer>", 3, 1, {"loose": 1}),          # no brackets
    ("The most relevant is [3].", 3, 2, {"loose": 1}),                    # no tags at all
    ("<think>x</think> <answer>[7]</answer>", 3, 0, {"out_of_range": 1}),  # not in the set: keep the first
    ("<think>I am still thinking about [2]", 3, 0, {"unparseable": 1}),   # cut off while reasoning
    ("no idea", 3, 0, {"unparseable": 1}),
])
def test_parse_choice(text, size, choice, fixes):
    got, c = parse_choice(text, size, R1_PATTERN)
    assert got == choice
    for k in ("clean", "loose", "out_of_range", "unparseable"):
        assert getattr(c, k) == fixes.get(k, 0), k


def test_bad_options(smollm_engine):
    with pytest.raises(ConfigError, match="method"):
        SetwiseReranker(engine=smollm_engine, method="quicksort")
    with pytest.raises(ConfigError, match="num_child"):
        SetwiseReranker(engine=smollm_engine, num_child=0)
    with pytest.raises(ConfigError, match="passage"):
        SetwiseReranker(engine=smollm_engine, template="yes-no")
    no_gen = copy.copy(smollm_engine)
    no_gen.capabilities = frozenset({Capability.LOGPROBS})
    with pytest.raises(CapabilityError, match="generate"):
        SetwiseReranker(engine=no_gen)
    assert set(SORTS) == {"heapsort", "bubblesort"}


@pytest.mark.slow
def test_rank_r1_end_to_end(smollm_engine, dl19):
    _, run = dl19
    rankings = list(run.values())[:2]
    rr = SetwiseReranker(engine=smollm_engine, depth=5, num_child=2, k=2, max_new_tokens=16,
                         max_passage_tokens=32, keep_history=True, progress=False)
    out = rr.rerank_many(rankings)
    total = 0
    for r, orig in zip(out, rankings):
        assert sorted(r.ids()[:5]) == sorted(orig.ids()[:5]) and r.ids()[5:] == orig.ids()[5:]
        meta = r.meta["setwise"]
        assert meta["comparisons"] == len(meta["history"]) > 0
        for rec in meta["history"]:
            assert 2 <= len(rec["doc_ids"]) <= 3 and rec["winner"] in rec["doc_ids"] and rec["root"] in rec["doc_ids"]
            assert rec["choice"] is None or 0 <= rec["choice"] < len(rec["doc_ids"])  # None: unusable, root kept
            assert "which of the following documents is most relevant?" in rec["prompt"]
        # the two best carry the reasoning of the comparison they won last
        assert all(isinstance(h.meta.get("reasoning"), str) for h in r.hits[:1])
        total += meta["comparisons"]
    assert rr.repair_counts(out)["outputs"] == total
    looped = SetwiseReranker(engine=smollm_engine, depth=5, num_child=2, k=2, max_new_tokens=16,
                             max_passage_tokens=32, batch_queries=False, progress=False).rerank_many(rankings)
    assert [r.ids() for r in looped] == [r.ids() for r in out]


def test_concurrent_calls_on_one_instance_keep_their_own_counts(smollm_engine):
    """One setwise reranker serving two threads at once: comparisons and repairs stay with each call's rankings."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rerankit.rerankers.permutation import RepairCounts
    from rerankit.types import Document, Hit, Query, Ranking

    gate = threading.Barrier(2, timeout=30)
    seen = threading.local()

    class _ByNumber(SetwiseReranker):
        def _compare(self, requests):  # a perfect judge: the passage with the largest number wins
            if not getattr(seen, "waited", False):
                seen.waited = True
                gate.wait()  # both calls are in the middle of their work at the same time
            return [(max(range(len(r.texts)), key=lambda j: int(r.texts[j].split()[-1])), "",
                     {"_repairs": RepairCounts(outputs=1, clean=1)}) for r in requests]

    def ranking(qid, n):
        return Ranking(Query(qid, "q"), [Hit(Document(str(i), f"passage {i}"), 1.0) for i in range(n)])

    rr = _ByNumber(engine=smollm_engine, depth=None, num_child=2, k=2, progress=False)
    with ThreadPoolExecutor(2) as pool:
        f1, f2 = pool.submit(rr.rerank_many, [ranking("a", 3)]), pool.submit(rr.rerank_many, [ranking("b", 9)])
        out1, out2 = f1.result(), f2.result()
    assert out1[0].ids()[0] == "2" and out2[0].ids()[:2] == ["8", "7"]
    for out in (out1, out2):
        assert rr.repair_counts(out)["outputs"] == out[0].meta["setwise"]["comparisons"] > 0
    assert rr.repair_counts(out1)["outputs"] < rr.repair_counts(out2)["outputs"]
