"""Multivector (MaxSim) reranking of the DL19 BM25 top-100: quality, and speed with stored document vectors.

The packaged all-MiniLM-L6-v2 is a bi-encoder, not a ColBERT checkpoint (no ColBERT weights are available
offline): its raw token vectors are used for MaxSim, so the quality number shows the mechanics on real data, not
what a trained ColBERT reaches.

Speed, all in this one process on the same candidates (so machine load hits every line alike):
- cold store: an empty store; every document encoded, then written (the write time is measured on its own by
  writing the same vectors to a second empty store, and subtracted for the "no store" estimate);
- stored, new reranker: a fresh reranker (nothing in memory) reading every document from the disk store;
- stored, in memory: the same reranker again (documents from its in-memory copy);
- query encoding alone, for the floor.
Every run must give the identical ranking; the script stops otherwise. ``--check-no-store N`` also times
``cache=False`` on the first N queries against the stored run of the same N queries.

    nice -n 19 python eval/multivector_benchmark.py --model all-MiniLM-L6-v2 --data-dir $RERANKIT_DATA_DIR

``--pruning`` measures instead the paper's early candidate pruning (``prune_alpha``, ``early_exit_beta``; see
docs/rerankers.md) against exact MaxSim on the same rankings: one reranker instance whose document vectors are all in
memory (the paper's setting: an in-memory multivector index), each configuration set on it in turn and run over
every query, the fastest of ``--repeats`` passes (wall and process CPU seconds, query encoding included; candidates
scored, nDCG@10, queries whose top 10 equals the exact one); then, with ``cache=False`` on the first
``--check-no-store`` queries, exact against each pruned configuration, where the candidates never reached are never
encoded.

    nice -n 19 python eval/multivector_benchmark.py --pruning --data-dir $RERANKIT_DATA_DIR \
        --out eval/results/multivector_pruning.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate
from rerankit.registry import build
from rerankit.rerankers.token_cache import TokenVectorCache, document_key
from rerankit.types import Ranking


def timed(reranker, rankings: list[Ranking]) -> tuple[list[Ranking], float]:
    t0 = time.perf_counter()
    out = reranker.rerank_many(rankings)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="packaged model name, local path or HF id")
    ap.add_argument("--data-dir", default=None, help="local data mirror (default: $RERANKIT_DATA_DIR)")
    ap.add_argument("--queries", type=int, default=43)
    ap.add_argument("--check-no-store", type=int, default=5, help="also time cache=False on the first N queries")
    ap.add_argument("--out", default="eval/results/multivector.json")
    ap.add_argument("--pruning", action="store_true", help="measure the early candidate-pruning options instead")
    ap.add_argument("--store", default=None, help="document-vector store to use (default: a new temporary one)")
    ap.add_argument("--repeats", type=int, default=3, help="--pruning: passes per setting (the fastest counts)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.pruning:
        pruning(args)
        return

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    cands = ds.candidates("bm25")
    qids = [q for q in cands if q in ds.qrels][:args.queries]
    rankings = [cands[q] for q in qids]
    level = ds.relevance_level

    def ndcg(run: dict[str, Ranking]) -> float:
        return evaluate(run, ds.qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"]

    load_before = os.getloadavg()
    store = tempfile.mkdtemp(prefix="rerankit-mv-bench-")
    lines = {}
    cold = build("reranker", "multivector", model=args.model, cache_dir=store)
    ref, lines["cold store (encode + write)"] = timed(cold, rankings)
    docs = [(h.doc.id, h.doc.full_text) for r in rankings for h in r.hits]
    keys = [document_key(i, t) for i, t in docs]
    vectors = cold.store.get_many(keys)
    second = TokenVectorCache(tempfile.mkdtemp(prefix="rerankit-mv-bench-w-"), {"write": "timing"}, cold.encoder.dim)
    t0 = time.perf_counter()
    for k, v in zip(keys, vectors):
        second.put(k, v)
    write = time.perf_counter() - t0
    warm = build("reranker", "multivector", model=args.model, cache_dir=store)
    out, lines["stored, new reranker (disk)"] = timed(warm, rankings)
    runs = [out]
    out, lines["stored, in memory"] = timed(warm, rankings)
    runs.append(out)
    check = {}
    if args.check_no_store:
        few = rankings[:args.check_no_store]
        plain = build("reranker", "multivector", model=args.model, cache=False)
        fresh, check["no store"] = timed(plain, few)
        stored, check["stored, new reranker (disk)"] = timed(
            build("reranker", "multivector", model=args.model, cache_dir=store), few)
        if _differ(fresh, stored):
            raise SystemExit("cache=False gave another ranking than the stored vectors")
    for other in runs:
        if _differ(other, ref):
            raise SystemExit("stored document vectors gave another ranking than fresh encoding")
    t0 = time.perf_counter()
    warm.encoder.encode([r.query.text for r in rankings], is_query=True)
    query_only = time.perf_counter() - t0
    load_after = os.getloadavg()

    no_store = lines["cold store (encode + write)"] - write
    row = {
        "model": args.model, "queries": len(rankings), "candidates": len(docs),
        "bm25_ndcg@10": ndcg({r.query.id: r for r in rankings}),
        "multivector_ndcg@10": ndcg({r.query.id: r for r in ref}),
        "seconds": lines, "write_seconds": write, "no_store_estimate_seconds": no_store,
        "query_encoding_seconds": query_only, "check_no_store": {"queries": args.check_no_store, **check},
        "speedup_disk": no_store / lines["stored, new reranker (disk)"],
        "speedup_memory": no_store / lines["stored, in memory"],
        "loadavg_before": load_before, "loadavg_after": load_after,
        "colbert_settings": warm.encoder.settings.as_dict(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=1) + "\n")
    print(f"DL19 BM25 top-100, {row['queries']} queries, {row['candidates']} candidates, model {args.model} "
          f"(token vectors of a bi-encoder, NOT ColBERT weights)\n")
    print("| ranking | nDCG@10 |\n|---|---|")
    print(f"| BM25 (as shipped) | {row['bm25_ndcg@10']:.4f} |")
    print(f"| multivector MaxSim, {args.model} token vectors | {row['multivector_ndcg@10']:.4f} |\n")
    print(f"| multivector run ({row['queries']} queries) | seconds | vs no store |\n|---|---|---|")
    print(f"| no store (cold minus {write:.2f} s of writes) | {no_store:.2f} | 1.0x |")
    for name, sec in lines.items():
        print(f"| {name} | {sec:.2f} | {no_store / sec:.1f}x |")
    print(f"| (query encoding alone) | {query_only:.2f} | |")
    if check:
        print(f"\nmeasured on the first {args.check_no_store} queries: no store {check['no store']:.2f} s, stored "
              f"(new reranker, disk) {check['stored, new reranker (disk)']:.2f} s "
              f"({check['no store'] / check['stored, new reranker (disk)']:.1f}x)")
    print(f"\nload average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")


PRUNING = [  # (label, prune_alpha, early_exit_beta); k = 10 throughout, as in the reference's runs
    ("exact MaxSim (default)", None, None),
    ("alpha 0.015", 0.015, None), ("alpha 0.025", 0.025, None), ("alpha 0.05", 0.05, None),
    ("alpha 0.1", 0.1, None), ("alpha 0.2", 0.2, None),
    ("beta 2", None, 2), ("beta 3", None, 3), ("beta 4", None, 4),
    ("alpha 0.05 + beta 3", 0.05, 3), ("alpha 0.2 + beta 4", 0.2, 4),
]


def pruning(args: argparse.Namespace) -> None:
    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    cands = ds.candidates("bm25")
    rankings = [cands[q] for q in [q for q in cands if q in ds.qrels][:args.queries]]

    def ndcg(run: list[Ranking]) -> float:
        return evaluate({r.query.id: r for r in run}, ds.qrels, ["ndcg@10"],
                        relevance_level=ds.relevance_level)["ndcg@10"]

    load_before = os.getloadavg()
    store = args.store or tempfile.mkdtemp(prefix="rerankit-mv-prune-")
    mv = build("reranker", "multivector", model=args.model, cache_dir=store, memory_mb=4096)
    mv.rerank_many(rankings)  # fills the store and the in-memory copy (not timed)
    rows, exact = [], None
    for label, alpha, beta in PRUNING:
        mv.prune_alpha, mv.early_exit_beta = alpha, beta
        wall = cpu = float("inf")
        for _ in range(args.repeats):  # the fastest of a few passes: the least disturbed by other processes
            w0, c0 = time.perf_counter(), time.process_time()
            out = mv.rerank_many(rankings)
            wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
        exact = exact or out
        scored = sum(r.meta.get("multivector", {}).get("scored", len(r.hits)) for r in out)
        rows.append({"setting": label, "alpha": alpha, "beta": beta, "wall_seconds": wall, "cpu_seconds": cpu,
                     "scored": scored, "candidates": sum(len(r.hits) for r in out), "ndcg@10": ndcg(out),
                     "same_top10": sum(a.ids()[:10] == b.ids()[:10] for a, b in zip(out, exact))})
    few = rankings[:args.check_no_store]
    no_store = []
    for label, alpha, beta in PRUNING[:1] + [r for r in PRUNING if r[0] in ("alpha 0.05", "beta 3",
                                                                            "alpha 0.05 + beta 3")]:
        plain = build("reranker", "multivector", model=args.model, cache=False, prune_alpha=alpha,
                      early_exit_beta=beta)
        w0, c0 = time.perf_counter(), time.process_time()
        out = plain.rerank_many(few)
        no_store.append({"setting": label, "wall_seconds": time.perf_counter() - w0,
                         "cpu_seconds": time.process_time() - c0,
                         "scored": sum(r.meta.get("multivector", {}).get("scored", len(r.hits)) for r in out)})
    load_after = os.getloadavg()
    result = {"model": args.model, "queries": len(rankings), "k": 10, "rows": rows,
              "no_store": {"queries": len(few), "rows": no_store}, "bm25_ndcg@10": ndcg(rankings),
              "loadavg_before": load_before, "loadavg_after": load_after}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    base = rows[0]
    print(f"DL19 BM25 top-100, {len(rankings)} queries, model {args.model} (bi-encoder token vectors, NOT ColBERT "
          f"weights); k = 10; document vectors in memory; BM25 nDCG@10 {result['bm25_ndcg@10']:.4f}\n")
    print("| setting | candidates scored | nDCG@10 | queries with the exact top 10 | wall s | CPU s | speed vs exact "
          "(CPU) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['scored']} / {r['candidates']} | {r['ndcg@10']:.4f} | "
              f"{r['same_top10']} / {len(rankings)} | {r['wall_seconds']:.2f} | {r['cpu_seconds']:.2f} | "
              f"{base['cpu_seconds'] / r['cpu_seconds']:.2f}x |")
    print(f"\nno store (every scored document encoded), first {len(few)} queries:\n")
    print("| setting | documents encoded | wall s | CPU s | speed vs exact (CPU) |\n|---|---|---|---|---|")
    for r in no_store:
        print(f"| {r['setting']} | {r['scored']} | {r['wall_seconds']:.1f} | {r['cpu_seconds']:.1f} | "
              f"{no_store[0]['cpu_seconds'] / r['cpu_seconds']:.2f}x |")
    print(f"\nload average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")


def _differ(a: list[Ranking], b: list[Ranking]) -> bool:
    """True when the two runs differ (ids or scores)."""
    return [(r.ids(), [h.score for h in r.hits]) for r in a] != [(r.ids(), [h.score for h in r.hits]) for r in b]


if __name__ == "__main__":
    main()
