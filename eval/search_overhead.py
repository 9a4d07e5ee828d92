"""rerankit's exact dense search against faiss used directly, in ONE process, rounds interleaved.

eval/scaling.py measures each side in its own subprocess (so that peak memory is its own); at 10k documents faiss's
own flat search varies by about 20% from process to process, which is as large as the difference to measure. This
script times both in one process on the same synthetic vectors (Gaussian, normalised, seeded): faiss
``IndexFlatIP.search`` (top-k arrays) against ``DenseRetriever.search_many`` (flat index, its encoder replaced by a
lookup of the same vectors, as in eval/scaling.py: tie handling, lazy rankings) and against the same plus reading
every ranking's ids (what evaluation or a reranker does).

    python eval/search_overhead.py --sizes 10000 100000 [--queries 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scaling import _precomputed_dense  # noqa: E402

from rerankit.types import Document, Query  # noqa: E402


def measure(size: int, n_queries: int, rounds: int, k: int = 100, dim: int = 384) -> dict[str, float]:
    import faiss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((size, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((n_queries, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    docs = [Document(f"d{i}", "t") for i in range(size)]
    queries = [Query(f"q{i}", f"q{i}") for i in range(n_queries)]
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    retriever = _precomputed_dense(x, q, "flat").index(docs)
    variants = {"faiss IndexFlatIP.search": lambda: flat.search(q, k),
                "rerankit search_many": lambda: retriever.search_many(queries, k),
                "rerankit search_many + every ranking's ids": lambda: [r.ids() for r in
                                                                       retriever.search_many(queries, k).values()]}
    for fn in variants.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    return {name: n_queries / statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print("| documents | variant | q/CPU-s | x faiss |\n|---|---|---|---|")
    for size in args.sizes:
        qps = measure(size, args.queries, args.rounds)
        base = qps["faiss IndexFlatIP.search"]
        for name, value in qps.items():
            print(f"| {size:,} | {name} | {value:,.0f} | {value / base:.2f}x |")
    print(f"\n{args.queries} queries, top-100, median of {args.rounds} interleaved rounds, CPU seconds of the process; "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
