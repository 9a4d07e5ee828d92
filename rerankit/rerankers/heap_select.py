"""Top-k selection by heap sort, shared by the setwise (Rank-R1) and pairwise (PRP) sorts.

The comparisons are the caller's: ``heapify(size, i)`` is a generator that sifts position `i` down a heap of
`size` items held in `arr` (yielding whatever the caller's judge needs), so the same outer loop drives a binary heap
of pairwise comparisons and a ``num_child``-ary heap of set comparisons, as ielab/llm-rankers does for both.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

__all__ = ["heap_top_k", "top_k_then_rest"]


def top_k_then_rest(ranked: list[int], n: int, k: int) -> list[int]:
    """The first `k` of `ranked`, then every other position 0..n-1 in its first-stage order."""
    head = ranked[:k]
    seen = set(head)
    return head + [i for i in range(n) if i not in seen]


def heap_top_k(arr: list[int], k: int, last_parent: int,
               heapify: Callable[[int, int], Generator[Any, Any, Any]]) -> Generator[Any, Any, list[int]]:
    """Build a max-heap over `arr` (sifting from `last_parent` down to the root), then pop until `k` are placed.

    Returns the final order: the `k` best, best first, then the others in their first-stage order.
    """
    n = len(arr)
    for i in range(last_parent, -1, -1):
        yield from heapify(n, i)
    ranked = 0
    for i in range(n - 1, 0, -1):
        arr[i], arr[0] = arr[0], arr[i]
        ranked += 1
        if ranked == k:
            break
        yield from heapify(i, 0)
    return top_k_then_rest(list(reversed(arr)), n, k)
