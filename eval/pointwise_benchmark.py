"""Yes/no LLM reranking of the shipped TREC DL 2019 BM25 top-100, and batching across queries vs one at a time.

Reranks the top `--depth` BM25 candidates of the first `--queries` DL19 queries with the yes/no pointwise
reranker (score = log P(yes) - log P(no)) and prints a Markdown table: nDCG@10 of BM25 and of the reranked run
on the same queries, time and passages/s. Then, on the first `--speed-queries` of them, it times the same
reranker fed all queries in one call (prompts of all queries batched together) against one query per call, and
checks both give the same scores.

    python eval/pointwise_benchmark.py --data-dir ../shared/data --model qwen2.5-coder-0.5b-instruct \
        --engine transformers --depth 20 --queries 43 --speed-queries 6
"""

from __future__ import annotations

import argparse
import logging
import time

from rerankit.data import load_dataset
from rerankit.engines import get_engine
from rerankit.evaluation import evaluate
from rerankit.rerankers.pointwise import YesNoReranker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="local data mirror (default: $RERANKIT_DATA_DIR)")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="HF id, local path or packaged name")
    ap.add_argument("--engine", default="transformers")
    ap.add_argument("--template", default="auto")
    ap.add_argument("--depth", type=int, default=20, help="rerank the top-N BM25 candidates")
    ap.add_argument("--queries", type=int, default=43, help="first N DL19 queries (43 = all)")
    ap.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass")
    ap.add_argument("--speed-queries", type=int, default=6, help="queries for the batching comparison (0: skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    run = ds.candidates("bm25")
    qids = list(run)[: args.queries]
    rankings = [run[q] for q in qids]
    bm25 = {q: run[q] for q in qids}

    engine = get_engine(args.engine, args.model, batch_size=args.batch_size)
    rr = YesNoReranker(engine=engine, template=args.template, depth=args.depth, batch_size=256, progress=True)

    t0 = time.perf_counter()
    out = rr.rerank_many(rankings)
    dt = time.perf_counter() - t0
    reranked = {r.query.id: r for r in out}
    n_pairs = sum(min(len(r), args.depth) for r in rankings)
    base = evaluate(bm25, ds.qrels, ["ndcg@10"], relevance_level=ds.relevance_level)["ndcg@10"]
    new = evaluate(reranked, ds.qrels, ["ndcg@10"], relevance_level=ds.relevance_level)["ndcg@10"]
    truncated = sum(r.meta.get("truncated", 0) for r in out)

    print(f"\nDL19 BM25 top-{args.depth} reranked by yes-no ({args.model}, engine {args.engine}, "
          f"template {rr.template.name}), {len(qids)} queries, {n_pairs} passages, {truncated} truncated\n")
    print("| run | nDCG@10 | time (s) | passages/s |")
    print("|---|---|---|---|")
    print(f"| BM25 (same queries, shipped run) | {base:.4f} | - | - |")
    print(f"| BM25 + yes-no top-{args.depth} | {new:.4f} | {dt:.1f} | {n_pairs / dt:.2f} |")

    if args.speed_queries:
        sub = rankings[: args.speed_queries]
        n_sub = sum(min(len(r), args.depth) for r in sub)
        t0 = time.perf_counter()
        batched = rr.rerank_many(sub)
        t_batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        single = [rr.rerank(r) for r in sub]
        t_single = time.perf_counter() - t0
        diff = max(abs(a.score - b.score) for x, y in zip(batched, single)
                   for a, b in zip(sorted(x.hits[:args.depth], key=lambda h: h.id),
                                   sorted(y.hits[:args.depth], key=lambda h: h.id)))
        print(f"\nBatching ({len(sub)} queries x top-{args.depth} = {n_sub} passages, engine batch size "
              f"{args.batch_size}); max |score difference| = {diff:.2e}\n")
        print("| mode | time (s) | passages/s | speed-up |")
        print("|---|---|---|---|")
        print(f"| one query per call | {t_single:.1f} | {n_sub / t_single:.2f} | 1.00x |")
        print(f"| all queries in one call | {t_batched:.1f} | {n_sub / t_batched:.2f} | {t_single / t_batched:.2f}x |")


if __name__ == "__main__":
    main()
