"""ICR, E²Rank and GroupRank reranking BM25 candidates: nDCG@10 and time per query, next to BM25 and random order.

Datasets: ``dl19`` (the shipped TREC DL 2019 BM25 top-100 with text) or ``scifact`` (BM25 over the full BEIR
SciFact corpus with rerankit's BM25 retriever, top-100). The first ``--queries`` judged queries are used; each
method reranks the top ``--depth`` candidates (the rest keep their BM25 order below). "random" is the mean nDCG@10
over ``--random-seeds`` random permutations of the same top-``depth`` candidates. Appends one JSON line per run to
``--out`` and prints a Markdown table.

    python eval/nongenerative_benchmark.py --method e2rank --model all-MiniLM-L6-v2 --dataset dl19 --depth 100
    python eval/nongenerative_benchmark.py --method icr --model qwen2.5-coder-0.5b-instruct --dataset dl19 \
        --depth 20 --queries 10
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate
from rerankit.registry import build
from rerankit.types import Ranking

DATASETS = {"dl19": "msmarco-passage/trec-dl-2019", "scifact": "beir/scifact"}


def first_stage(name: str, data_dir: str | None, n_queries: int) -> tuple[dict[str, Ranking], object]:
    ds = load_dataset(DATASETS[name], data_dir=data_dir)
    if name == "dl19":
        run = ds.candidates("bm25")
    else:
        from rerankit.retrievers.bm25 import BM25Retriever

        queries = [q for q in ds.queries.values() if q.id in ds.qrels][:n_queries]
        run = BM25Retriever().index(ds.corpus.values()).search_many(queries, k=100)
    qids = [q for q in run if q in ds.qrels][:n_queries]
    return {q: run[q] for q in qids}, ds


def random_floor(run: dict[str, Ranking], depth: int, qrels, level: int, seeds: int) -> float:
    vals = []
    for seed in range(seeds):
        rng = random.Random(seed)
        shuffled = {}
        for q, r in run.items():
            order = list(range(min(depth, len(r))))
            rng.shuffle(order)
            shuffled[q] = r.reordered(order)
        vals.append(evaluate(shuffled, qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"])
    return sum(vals) / len(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", required=True, choices=["icr", "e2rank", "grouprank"])
    ap.add_argument("--model", required=True, help="HF id, local path or packaged model name")
    ap.add_argument("--dataset", default="dl19", choices=sorted(DATASETS))
    ap.add_argument("--data-dir", default=None, help="local data mirror (default: $RERANKIT_DATA_DIR)")
    ap.add_argument("--queries", type=int, default=43, help="first N judged queries")
    ap.add_argument("--depth", type=int, default=100, help="rerank the top-N BM25 candidates")
    ap.add_argument("--option", action="append", default=[], help="reranker option key=value (JSON value)")
    ap.add_argument("--random-seeds", type=int, default=20)
    ap.add_argument("--out", default="eval/results/nongenerative.jsonl")
    ap.add_argument("--save-outputs", default=None, help="grouprank: write the raw model answers (JSON list) here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    run, ds = first_stage(args.dataset, args.data_dir, args.queries)
    opts = {}
    for kv in args.option:
        k, _, v = kv.partition("=")
        try:
            opts[k] = json.loads(v)
        except ValueError:
            opts[k] = v
    reranker = build("reranker", args.method, model=args.model, depth=args.depth, **opts)
    t0 = time.perf_counter()
    out = reranker.rerank_many(list(run.values()))
    dt = time.perf_counter() - t0
    reranked = {r.query.id: r for r in out}
    level = ds.relevance_level
    row = {
        "method": args.method, "model": args.model, "dataset": args.dataset, "queries": len(run),
        "depth": args.depth, "options": opts,
        "bm25": evaluate(run, ds.qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"],
        "random": random_floor(run, args.depth, ds.qrels, level, args.random_seeds),
        "reranked": evaluate(reranked, ds.qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"],
        "seconds_per_query": dt / max(1, len(run)),
    }
    if args.method == "e2rank":  # the query-only cosine, from the same run's hit meta
        head = {r.query.id: r.top(args.depth) for r in out}
        plain = {q: r.sorted_by([h.meta["e2rank_query_score"] for h in r.hits]) for q, r in head.items()}
        row["e2rank_query_only"] = evaluate(plain, ds.qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"]
    if args.method == "grouprank":
        rep: dict[str, int] = {}
        for r in out:
            for k, v in r.meta.get("grouprank_repairs", {}).items():
                rep[k] = rep.get(k, 0) + v
        row["repairs"] = rep
        row["groups"] = sum(r.meta.get("grouprank_groups", 0) for r in out)
        if args.save_outputs:
            raw = [t for r in out for t in r.meta.get("grouprank_outputs", [])]
            Path(args.save_outputs).write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n")
        # the same run's rerank scores, ordered alone and with min-max-scaled BM25 (no extra model calls)
        head = {r.query.id: r.top(args.depth) for r in out}
        first = {r.query.id: {h.id: h.score for h in r.hits} for r in run.values()}
        w = reranker.retriever_weight

        def order(key):
            return {q: r.sorted_by([key(q, h) for h in r.hits]) for q, r in head.items()}

        def gscore(h):
            return h.meta["grouprank_score"] if h.meta.get("grouprank_score") is not None else -1.0

        span = {q: (min(first[q][h.id] for h in r.hits), max(first[q][h.id] for h in r.hits)) for q, r in head.items()}

        def minmax(q, h):  # over the reranked head, as the reranker's retriever_norm="minmax" scales it
            lo, hi = span[q]
            return (1 - w) * gscore(h) + w * ((first[q][h.id] - lo) / (hi - lo) if hi > lo else 0.0)

        row["grouprank_rerank_only"] = evaluate(order(lambda q, h: gscore(h)), ds.qrels, ["ndcg@10"],
                                                relevance_level=level)["ndcg@10"]
        row["grouprank_minmax"] = evaluate(order(minmax), ds.qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print("| method | model | dataset | queries | depth | BM25 | random | reranked | s/query |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {row['method']} | {row['model']} | {row['dataset']} | {row['queries']} | {row['depth']} | "
          f"{row['bm25']:.4f} | {row['random']:.4f} | {row['reranked']:.4f} | {row['seconds_per_query']:.2f} |")
    if "e2rank_query_only" in row:
        print(f"e2rank query-only cosine (same model, same candidates): {row['e2rank_query_only']:.4f}")
    if "repairs" in row:
        print(f"grouprank answer repairs over {row['groups']} groups: {row['repairs']}")
        print(f"grouprank same outputs, rerank score alone: {row['grouprank_rerank_only']:.4f}; with min-max BM25 "
              f"(retriever_norm='minmax'): {row['grouprank_minmax']:.4f}")


if __name__ == "__main__":
    main()
