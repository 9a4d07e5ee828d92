"""PRP, monoT5/duoT5 and ERank on the shipped TREC DL 2019 BM25 candidates with the packaged models (mechanics and
speed: none of these models is trained for the method, so nDCG here says nothing about the published checkpoints).

One invocation runs one method on the first `--queries` DL19 queries and appends a row to `--out` (JSON lines:
nDCG@10 of the run and of BM25 on the same queries, seconds, comparisons, load average). ``prp`` also reruns with
``batch_queries=False`` in the same process and reports both timings (batched waves vs a per-query loop) and
whether the orders agree. ``monot5``/``duot5`` use the tiny random-weight T5 of tests/rerankers/t5_tiny.py (no T5
checkpoint is available offline). ``--report`` prints the Markdown table of all rows.

    nice -n 19 python eval/methods_benchmark.py --data-dir ../shared/data --method prp \\
        --model smollm2-135m-instruct --queries 3 --depth 10 --k 5
    nice -n 19 python eval/methods_benchmark.py --data-dir ../shared/data --method erank \\
        --model qwen2.5-coder-0.5b-instruct --queries 3 --depth 10 --max-new-tokens 24
    nice -n 19 python eval/methods_benchmark.py --data-dir ../shared/data --method monot5 --queries 3 --depth 20
    nice -n 19 python eval/methods_benchmark.py --data-dir ../shared/data --method duot5 --queries 3 --depth 10
    python eval/methods_benchmark.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate

OUT = Path(__file__).resolve().parent / "results" / "methods.jsonl"


def ndcg(run, ds) -> float:
    return float(evaluate(run, ds.qrels, ["ndcg@10"], relevance_level=ds.relevance_level)["ndcg@10"])


def tiny_t5(rankings) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from rerankers.t5_tiny import build_tiny_t5

    folder = Path(tempfile.mkdtemp()) / "tiny-t5"
    build_tiny_t5(folder, [r.query.text for r in rankings] + [h.doc.full_text for r in rankings for h in r.hits])
    return str(folder)


def build(args, rankings, batched: bool = True):
    from rerankit.engines import get_engine

    if args.method in ("monot5", "duot5"):
        from rerankit.rerankers.t5 import DuoT5Reranker, MonoT5Reranker

        cls = MonoT5Reranker if args.method == "monot5" else DuoT5Reranker
        return cls(model=tiny_t5(rankings), depth=args.depth, progress=False), "tiny random T5 (t5_tiny.py)"
    engine = get_engine("transformers", args.model, batch_size=args.batch_size)
    if args.method == "prp":
        from rerankit.rerankers.pairwise import PairwiseReranker

        return PairwiseReranker(engine=engine, depth=args.depth, k=args.k, method=args.sort, scoring=args.scoring,
                                batch_queries=batched, progress=False), args.model
    from rerankit.rerankers.erank import ERankReranker

    return ERankReranker(engine=engine, depth=args.depth, max_new_tokens=args.max_new_tokens,
                         max_passage_tokens=args.max_passage_tokens, batch_size=args.batch_size,
                         progress=False), args.model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--method", choices=["prp", "monot5", "duot5", "erank"])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--queries", type=int, default=3)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--sort", default="heapsort")
    ap.add_argument("--scoring", default="generation")
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--max-passage-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if args.report:
        print("| method | model | queries | depth | setting | nDCG@10 | BM25 nDCG@10 (same queries) | seconds | "
              "CPU seconds | per-query loop s (same process) | same order | load average |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            print(f"| {r['method']} | {r['model']} | {r['queries']} | {r['depth']} | {r['setting']} | "
                  f"{r['ndcg10']:.4f} | {r['bm25_ndcg10']:.4f} | {r['seconds']:.1f} | {r.get('cpu_seconds', '-')} | "
                  f"{r.get('loop_seconds', '-')} | "
                  f"{r.get('same_order', '-')} | {r['load']} |")
        return
    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    cands = ds.candidates("bm25")
    rankings = [cands[q] for q in sorted(cands)[:args.queries]]
    rankings = [r.top(args.depth) for r in rankings]
    rr, model = build(args, rankings)
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    out = rr.rerank_many(rankings)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    setting = {"prp": f"{args.sort}, k={args.k}, {args.scoring}, passages 128 tokens",
               "erank": f"max_new_tokens={args.max_new_tokens}, passages {args.max_passage_tokens} tokens",
               "monot5": "one pass per (query, passage)",
               "duot5": f"{args.depth * (args.depth - 1)} ordered pairs/query"}
    row = {"method": args.method, "model": model, "queries": len(rankings), "depth": args.depth,
           "setting": setting[args.method], "ndcg10": ndcg({r.query.id: r for r in out}, ds),
           "bm25_ndcg10": ndcg({r.query.id: r for r in rankings}, ds), "seconds": round(seconds, 1),
           "cpu_seconds": round(cpu, 1), "load": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"}
    if args.method == "prp":
        row["comparisons"] = sum(r.meta["prp"]["comparisons"] for r in out)
        row["conflicts"] = sum(r.meta["prp"]["conflicts"] for r in out)
        looped, _ = build(args, rankings, batched=False)
        t0, c0 = time.perf_counter(), time.process_time()
        again = looped.rerank_many(rankings)
        row["loop_seconds"] = round(time.perf_counter() - t0, 1)
        row["loop_cpu_seconds"] = round(time.process_time() - c0, 1)
        row["same_order"] = [r.ids() for r in again] == [r.ids() for r in out]
    if args.method == "erank":
        row["unparsed"] = sum(r.meta["erank"]["unparsed"] for r in out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
