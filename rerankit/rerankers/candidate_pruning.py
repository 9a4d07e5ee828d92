"""Early candidate pruning for multivector reranking, the two techniques of Martinico, Nardini, Rulli and Venturini,
*Multivector Reranking in the Era of Strong First-Stage Retrievers* (ECIR 2026, arXiv:2601.05200), with the rules of
the authors' code (github.com/TusKANNy/papers_reproducibility, ``ecir2026/ecir2026_multivec.zip`` @ e5e4ea3,
kANNolo ``src/indexes/rerank_index.rs``, ``RerankIndex::search_from_external_candidates``):

- **alpha** (candidate pruning), before any MaxSim: keep the candidates whose first-stage score is at least
  ``(1 - alpha) x`` the first-stage score of the k-th candidate;
- **beta** (early exit): MaxSim the first k candidates, then go on in first-stage order; a candidate scoring above the
  current k-th best MaxSim takes its place and resets a stall counter, any other adds one stall; stop after beta
  consecutive stalls.

Both take the candidates best first, as the first stage ranked them; k is the number of final results they protect
(the reference's ``k_final``, 10 in its runs).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

from rerankit.errors import InputError

__all__ = ["alpha_keep", "early_exit"]


def alpha_keep(first_stage: Sequence[float], k: int, alpha: float, query_id: str = "") -> int:
    """How many leading candidates candidate pruning keeps (they form a prefix of the first-stage order).

    With fewer than `k` candidates nothing is pruned (the reference indexes the k-th candidate, so it needs k).
    """
    n = len(first_stage)
    if n < k:
        return n
    for i in range(1, n):
        if first_stage[i] > first_stage[i - 1]:
            raise InputError(f"query {query_id!r}: candidate pruning (prune_alpha) needs the candidates in "
                             f"first-stage order, best first, but score {first_stage[i]} at rank {i + 1} is above "
                             f"{first_stage[i - 1]} at rank {i}; pass the first stage's ranking, or leave "
                             "prune_alpha unset")
    kth = float(first_stage[k - 1])
    if kth < 0:
        raise InputError(f"query {query_id!r}: candidate pruning (prune_alpha) scales the k-th first-stage score "
                         f"({kth}) by 1 - alpha, which is only a lower bar for scores >= 0 (BM25, learned sparse); "
                         "leave prune_alpha unset for this first stage")
    threshold = kth * (1.0 - alpha)
    return sum(1 for s in first_stage if s >= threshold)


def early_exit(n: int, k: int, beta: int, score: Callable[[int], float]) -> dict[int, float]:
    """MaxSim of candidates 0..n-1 (``score(i)``) in order, stopping after `beta` consecutive stalls past the first
    `k`; returns {index: score} of every candidate scored. With n <= k every candidate is scored."""
    scored = {i: score(i) for i in range(min(k, n))}
    if n <= k:
        return scored
    top = [(s, i) for i, s in scored.items()]
    heapq.heapify(top)
    stalls = 0
    for i in range(k, n):
        s = scored[i] = score(i)
        if s > top[0][0]:
            heapq.heapreplace(top, (s, i))
            stalls = 0
        else:
            stalls += 1
            if stalls >= beta:
                break
    return scored
