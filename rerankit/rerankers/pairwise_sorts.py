"""The orderings of pairwise ranking prompting (PRP), as generators of comparisons.

Each sort runs over positions 0..n-1 of a first-stage ranking. It yields a tuple of ``(a, b)`` pairs to compare
(one pair for the sorts, all pairs at once for ``allpair``) and receives one outcome per pair: ``"first"`` when `a`
clearly wins (the two prompt orders agree), ``"second"`` when `b` clearly wins, ``"conflict"`` otherwise. It
returns the final order: the `k` best, best first, then every other position in its first-stage order, which is
what ielab/llm-rankers' ``PairwiseLlmRanker.rerank`` returns (llmrankers/pairwise.py @ b36517bf).
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import combinations

from rerankit.rerankers.heap_select import heap_top_k, top_k_then_rest

__all__ = ["PairSort", "allpair", "heapsort", "bubblesort", "sliding", "PAIR_SORTS"]

PairSort = Generator[tuple[tuple[int, int], ...], list[str], list[int]]


def allpair(n: int, k: int) -> PairSort:
    """Every unordered pair once (``itertools.combinations`` order); a clear win scores 1, a conflict 0.5 each.

    Positions are sorted by score, ties in the order they first scored (the reference sorts its score dict
    stably), and positions that never scored follow in first-stage order.
    """
    pairs = tuple(combinations(range(n), 2))
    if not pairs:
        return list(range(n))
    outcomes = yield pairs
    scores: dict[int, float] = {}
    for (a, b), out in zip(pairs, outcomes):
        if out == "first":
            scores[a] = scores.get(a, 0.0) + 1
        elif out == "second":
            scores[b] = scores.get(b, 0.0) + 1
        else:
            scores[a] = scores.get(a, 0.0) + 0.5
            scores[b] = scores.get(b, 0.0) + 0.5
    return top_k_then_rest(sorted(scores, key=lambda i: scores[i], reverse=True), n, k)


def heapsort(n: int, k: int) -> PairSort:
    """Binary max-heap sort stopped after the `k` largest; ``x > y`` is one comparison that `x` wins clearly."""
    arr = list(range(n))

    def greater(x: int, y: int) -> Generator[tuple[tuple[int, int], ...], list[str], bool]:
        out = yield ((arr[x], arr[y]),)
        return out[0] == "first"

    def heapify(size: int, i: int) -> PairSort:
        while True:
            largest, left, right = i, 2 * i + 1, 2 * i + 2
            if left < size and (yield from greater(left, i)):
                largest = left
            if right < size and (yield from greater(right, largest)):
                largest = right
            if largest == i:
                return []
            arr[i], arr[largest] = arr[largest], arr[i]
            i = largest

    return (yield from heap_top_k(arr, k, n // 2, heapify))


def bubblesort(n: int, k: int) -> PairSort:
    """llm-rankers' bubble sort: `k` bottom-up passes that swap a pair when the lower passage clearly wins.

    As there, each pass skips the bottom pairs the previous pass left unchanged (its ``last_end``).
    """
    ranking = list(range(n))
    last_end = n - 1
    for i in range(min(k, n)):
        current, changed = last_end, False
        while current > i:
            out = yield ((ranking[current], ranking[current - 1]),)
            if out[0] == "first":
                ranking[current - 1], ranking[current] = ranking[current], ranking[current - 1]
                if not changed:
                    changed = True
                    if last_end != n - 1:
                        last_end += 1
            if not changed:
                last_end -= 1
            current -= 1
    return top_k_then_rest(ranking, n, k)


def sliding(n: int, k: int) -> PairSort:
    """PRP-Sliding-K of Qin et al.: `k` full bottom-up passes of adjacent comparisons, no pairs skipped (the
    "standard bubble sort" kept as a comment in llm-rankers)."""
    ranking = list(range(n))
    for i in range(min(k, n)):
        for current in range(n - 1, i, -1):
            out = yield ((ranking[current], ranking[current - 1]),)
            if out[0] == "first":
                ranking[current - 1], ranking[current] = ranking[current], ranking[current - 1]
    return top_k_then_rest(ranking, n, k)


PAIR_SORTS = {"allpair": allpair, "heapsort": heapsort, "bubblesort": bubblesort, "sliding": sliding}
