"""Listwise (RankGPT prompt), FIRST and Rank-R1 setwise reranking of the shipped TREC DL 2019 BM25 candidates.

One invocation runs one method on DL19 queries ``[--offset, --offset + --queries)`` and adds a row to `--out`
(JSON: per-query nDCG@10, seconds, engine calls, parser repair counts), so a slow shared CPU can do the work in
short chunks; ``--report`` then aggregates the rows of each method and setting over all chunks into a Markdown
table with BM25's nDCG@10 and a random permutation's (mean of 100 shuffles) on the same queries and candidates.

Methods: ``listwise`` (generative, RankGPT multi-turn prompt, all queries' windows batched per wave), ``first``
(FIRST: one forward pass per window, same windows), ``loop`` (listwise batched waves vs a per-query loop on the
same queries: both timings and whether the orders agree), ``rank-r1`` (setwise heap sort, Rank-R1 prompt),
``loop-r1`` (the same timing comparison for Rank-R1, whose long reasoning outputs make decoding dominate),
``speed`` (generative listwise then FIRST on the same queries and windows in one process: both timings).

    OMP_NUM_THREADS=1 python eval/listwise_setwise_benchmark.py --data-dir ../shared/data \\
        --model qwen2.5-coder-0.5b-instruct --method listwise --offset 0 --queries 2 --depth 20 --window 10 --stride 5
    python eval/listwise_setwise_benchmark.py --data-dir ../shared/data --report
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate, evaluate_per_query
from rerankit.types import Ranking

SETTING = ("method", "model", "depth", "window", "stride", "r1_num_child", "r1_k", "r1_max_new_tokens")


def per_query_ndcg(run: dict[str, Ranking], ds) -> dict[str, float]:
    res = evaluate_per_query(run, ds.qrels, ["ndcg@10"], relevance_level=ds.relevance_level)
    return {q: float(v) for q, v in res["ndcg@10"].items()}


def random_floor(rankings: list[Ranking], depth: int, ds, trials: int = 100, seed: int = 0) -> float:
    """Mean nDCG@10 of random orders of each query's top-`depth` candidates."""
    rng = random.Random(seed)
    total = 0.0
    for _ in range(trials):
        run = {}
        for r in rankings:
            order = list(range(min(depth, len(r.hits))))
            rng.shuffle(order)
            run[r.query.id] = r.top(depth).reordered(order)
        total += evaluate(run, ds.qrels, ["ndcg@10"], relevance_level=ds.relevance_level)["ndcg@10"]
    return total / trials


def run_method(args, ds, rankings: list[Ranking]) -> dict:
    from rerankit.engines import get_engine
    from rerankit.rerankers.first import FirstReranker
    from rerankit.rerankers.listwise import ListwiseReranker
    from rerankit.rerankers.setwise import SetwiseReranker

    engine = get_engine(args.engine, args.model, batch_size=args.batch_size)
    common = dict(engine=engine, depth=args.depth, window_size=args.window, stride=args.stride, progress=True)
    if args.method == "speed":  # FIRST vs generative listwise, same model, windows and queries, one process
        row = {}
        for name, rr in (("listwise_s", ListwiseReranker(template="rankgpt", **common)),
                         ("first_s", FirstReranker(**common))):
            t0 = time.perf_counter()
            rr.rerank_many(rankings)
            row[name] = round(time.perf_counter() - t0, 1)
        return row
    if args.method in ("loop", "loop-r1"):
        row: dict = {}
        orders = {}
        for batched in (True, False):
            rr = ListwiseReranker(template="rankgpt", batch_queries=batched, **common) if args.method == "loop" \
                else SetwiseReranker(engine=engine, depth=args.depth, num_child=args.r1_num_child, k=args.r1_k,
                                     max_new_tokens=args.r1_max_new_tokens, batch_queries=batched, progress=True)
            t0 = time.perf_counter()
            orders[batched] = [r.ids() for r in rr.rerank_many(rankings)]
            row["batched_s" if batched else "loop_s"] = round(time.perf_counter() - t0, 1)
        row["same_orders"] = orders[True] == orders[False]
        return row
    if args.method == "listwise":
        rr = ListwiseReranker(template="rankgpt", keep_history=True, **common)
    elif args.method == "first":
        rr = FirstReranker(keep_history=True, **common)
    elif args.method == "rank-r1":
        rr = SetwiseReranker(engine=engine, depth=args.depth, num_child=args.r1_num_child, k=args.r1_k,
                             max_new_tokens=args.r1_max_new_tokens, keep_history=True, progress=True)
    else:
        raise SystemExit(f"unknown method {args.method!r}")
    t0 = time.perf_counter()
    res = rr.rerank_many(rankings)
    dt = time.perf_counter() - t0
    hist = [h for r in res for h in r.meta[rr.name]["history"]]
    if args.method == "rank-r1":  # how often the set's first passage (the heap root) stayed the winner
        kept = sum(h["winner"] == h["root"] for h in hist)
    else:  # windows left in their input order (e.g. the model echoing "[1] > [2] > ... > [10]")
        kept = sum(h["permutation"] == sorted(h["permutation"]) for h in hist)
    return {"ndcg@10": per_query_ndcg({r.query.id: r for r in res}, ds), "seconds": round(dt, 1),
            "repairs": rr.repair_counts(res), "unchanged": kept,
            "outputs_sample": [h.get("output", "") for h in hist[:3]]}


def report(rows: list[dict], ds, run: dict[str, Ranking]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in SETTING), []).append(r)
    print("| method | queries | depth | window/stride | nDCG@10 | BM25 | random | s/query | outputs | clean | "
          "repairs | unchanged |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, rs in groups.items():
        setting = dict(zip(SETTING, key))
        qids = sorted(q for r in rs for q in r["qids"])
        sub = [run[q] for q in qids]
        bm25 = evaluate({q: run[q] for q in qids}, ds.qrels, ["ndcg@10"], relevance_level=ds.relevance_level)
        floor = random_floor(sub, setting["depth"], ds)
        ws = f"{setting['window']}/{setting['stride']}" if setting["window"] else \
            f"c={setting['r1_num_child']}, k={setting['r1_k']}, {setting['r1_max_new_tokens']} tok"
        if setting["method"] == "speed":
            gen, first = sum(r["listwise_s"] for r in rs), sum(r["first_s"] for r in rs)
            print(f"| speed: FIRST vs generative listwise (RankGPT prompt) | {len(qids)} | {setting['depth']} | {ws} | "
                  f"listwise {gen:.0f} s, FIRST {first:.0f} s (listwise / FIRST {gen / first:.2f}) | | | | | | |")
            continue
        if setting["method"] in ("loop", "loop-r1"):
            what = "listwise" if setting["method"] == "loop" else "rank-r1"
            b, lp = sum(r["batched_s"] for r in rs), sum(r["loop_s"] for r in rs)
            same = all(r["same_orders"] for r in rs)
            print(f"| {what}: batched waves vs per-query loop | {len(qids)} | {setting['depth']} | {ws} | batched "
                  f"{b:.0f} s, per-query loop {lp:.0f} s (loop / batched {lp / b:.2f}) | | | | | | "
                  f"same orders: {same} |")
            continue
        nd = {q: v for r in rs for q, v in r["ndcg@10"].items()}
        mean = sum(nd.values()) / len(nd)
        rep: dict[str, int] = {}
        for r in rs:
            for k, v in r["repairs"].items():
                rep[k] = rep.get(k, 0) + v
        fixes = ", ".join(f"{k} {v}" for k, v in rep.items() if v and k not in ("outputs", "clean")) or "none"
        secs = sum(r["seconds"] for r in rs) / len(qids)
        seen = [r for r in rs if "unchanged" in r]  # rows from runs that recorded it
        unchanged = f"{sum(r['unchanged'] for r in seen)}/{sum(r['repairs']['outputs'] for r in seen)}" \
            if seen else "n/a"
        print(f"| {setting['method']} | {len(qids)} | {setting['depth']} | {ws} | {mean:.4f} | {bm25['ndcg@10']:.4f} "
              f"| {floor:.4f} | {secs:.0f} | {rep.get('outputs', 0)} | {rep.get('clean', 0)} | {fixes} | "
              f"{unchanged} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="local data mirror (default: $RERANKIT_DATA_DIR)")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="HF id, local path or packaged name")
    ap.add_argument("--engine", default="transformers")
    ap.add_argument("--batch-size", type=int, default=16, help="prompts per engine forward pass")
    ap.add_argument("--method", default="listwise",
                    choices=["listwise", "first", "loop", "rank-r1", "loop-r1", "speed"])
    ap.add_argument("--offset", type=int, default=0, help="first DL19 query (topic-file order)")
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--r1-num-child", type=int, default=3)
    ap.add_argument("--r1-k", type=int, default=10)
    ap.add_argument("--r1-max-new-tokens", type=int, default=128)
    ap.add_argument("--out", default="eval/results/listwise_setwise.json")
    ap.add_argument("--report", action="store_true", help="print the table of all rows in --out and exit")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    run = ds.candidates("bm25")
    out_path = Path(args.out)
    data = json.loads(out_path.read_text()) if out_path.exists() else {"rows": []}
    if args.report:
        report(data["rows"], ds, run)
        return
    qids = list(run)[args.offset: args.offset + args.queries]
    if args.method not in ("rank-r1", "loop-r1"):
        args.r1_num_child = args.r1_k = args.r1_max_new_tokens = None
    else:
        args.window = args.stride = None
    row = {k: getattr(args, k) for k in SETTING} | {"offset": args.offset, "qids": qids,
                                                    "device": "2-core shared CPU, torch fp32"}
    row |= run_method(args, ds, [run[q] for q in qids])
    data["rows"] = [r for r in data["rows"] if any(r.get(k) != row.get(k) for k in (*SETTING, "qids"))] + [row]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=1) + "\n")
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
