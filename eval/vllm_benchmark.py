"""vLLM vs transformers on the same DL19 BM25 top-`depth` reranking work, plus batched waves vs a per-query loop.

One process holds both engines (the packaged Qwen 0.5B, float32 on both; vLLM with its CPU defaults: eager, prefix
caching, 1 GiB KV cache), warms each up with one call, then for every method runs transformers and vLLM one after
the other on the same queries and candidates, so load from other jobs hits both sides of each ratio alike. The
1-minute load average is recorded before every timing. Methods: ``yes-no`` (pointwise, log P(yes) - log P(no)),
``first`` (FIRST single-token listwise), ``rankgpt`` (generative listwise, RankGPT prompt) and ``rank-r1``
(setwise heap sort, Rank-R1 prompt, with the reduced budgets below). Agreement between the engines is reported
per method: Kendall tau of the final top-`depth` orders (mean over queries) and whether all orders are identical.

``--loop`` then times, on vLLM only, ``rankgpt`` and ``rank-r1`` with all queries' windows/comparisons in one
``generate`` call per wave (``batch_queries=True``) against one query at a time, on `--loop-queries` queries.
Every vLLM timing starts from an empty prefix cache (``LLM.reset_prefix_cache``): without the reset, a timing that
follows another over the same windows finds all their prompts cached and looks faster than it is.

    python eval/vllm_benchmark.py --data-dir ../shared/data --queries 4 --depth 20 --loop --loop-queries 8 \\
        --out eval/results/vllm_benchmark.json

Rows go to `--out` (JSON); the printed Markdown tables are what eval/README.md quotes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

from scipy.stats import kendalltau

METHODS = ("yes-no", "first", "rankgpt", "rank-r1")


def build(method: str, engine, args, batch_queries: bool = True):
    from rerankit.rerankers.first import FirstReranker
    from rerankit.rerankers.listwise import ListwiseReranker
    from rerankit.rerankers.pointwise import YesNoReranker
    from rerankit.rerankers.setwise import SetwiseReranker

    window = dict(depth=args.depth, window_size=args.window, stride=args.stride, progress=False,
                  batch_queries=batch_queries)
    if method == "yes-no":
        return YesNoReranker(engine=engine, template="yes-no", depth=args.depth, batch_size=256, progress=False)
    if method == "first":
        return FirstReranker(engine=engine, **window)
    if method == "rankgpt":
        return ListwiseReranker(engine=engine, template="rankgpt", **window)
    if method == "rank-r1":
        return SetwiseReranker(engine=engine, depth=args.depth, num_child=args.r1_num_child, k=args.r1_k,
                               max_new_tokens=args.r1_max_new_tokens, batch_queries=batch_queries, progress=False)
    raise SystemExit(f"unknown method {method!r}")


def timed(rr, rankings) -> tuple[float, float, list]:
    """Seconds for one rerank_many, the load average before it, the output. Starts from an empty vLLM prefix cache,
    so a run never reuses the prompts an earlier timing of the same windows left in the cache."""
    llm = getattr(rr.engine, "llm", None)
    if llm is not None and hasattr(llm, "reset_prefix_cache"):
        llm.reset_prefix_cache()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = rr.rerank_many(rankings)
    return time.perf_counter() - t0, load, out


def mean_tau(a: list, b: list) -> float:
    taus = []
    for x, y in zip(a, b):
        pos = {d: i for i, d in enumerate(y)}
        taus.append(kendalltau(range(len(x)), [pos[d] for d in x]).statistic)
    return sum(taus) / len(taus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="local data mirror (default: $RERANKIT_DATA_DIR)")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="packaged name, HF id or path")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--queries", type=int, default=4, help="first N DL19 queries (topic-file order)")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--r1-num-child", type=int, default=4)
    ap.add_argument("--r1-k", type=int, default=5)
    ap.add_argument("--r1-max-new-tokens", type=int, default=64)
    ap.add_argument("--hf-batch-size", type=int, default=16, help="transformers engine batch size")
    ap.add_argument("--kv-cache-gib", type=float, default=1.0)
    ap.add_argument("--skip-compare", action="store_true", help="only the vLLM batched-vs-loop part")
    ap.add_argument("--loop", action="store_true", help="also time batched waves vs a per-query loop on vLLM")
    ap.add_argument("--loop-queries", type=int, default=8)
    ap.add_argument("--loop-methods", default="rankgpt,rank-r1")
    ap.add_argument("--out", default="eval/results/vllm_benchmark.json")
    ap.add_argument("--report", action="store_true", help="print the tables of an earlier --out and exit")
    args = ap.parse_args()
    if args.report:
        result = json.loads(Path(args.out).read_text())
        report(result, argparse.Namespace(**result["args"]))
        return
    logging.basicConfig(level=logging.WARNING)

    from rerankit.data import load_dataset
    from rerankit.engines import get_engine

    run = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir).candidates("bm25")
    all_rankings = [r.top(args.depth) for r in run.values()]
    rankings = all_rankings[: args.queries]
    methods = [m for m in args.methods.split(",") if m]
    env = {k: v for k, v in os.environ.items() if k.startswith(("VLLM_CPU", "OMP_"))}
    result: dict = {"args": vars(args), "env": env, "cpus": os.cpu_count(), "machine": platform.machine(),
                    "compare": [], "loop": []}

    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every row, so a long run that is stopped keeps what it measured
        out_path.write_text(json.dumps(result, indent=1) + "\n")

    t0 = time.perf_counter()
    vllm = get_engine("vllm", args.model, max_model_len=4096, kv_cache_gib=args.kv_cache_gib)
    result["vllm_load_s"] = round(time.perf_counter() - t0, 1)
    engines = {"vllm": vllm}
    if not args.skip_compare:
        t0 = time.perf_counter()
        engines["transformers"] = get_engine("transformers", args.model, dtype="float32",
                                             batch_size=args.hf_batch_size)
        result["transformers_load_s"] = round(time.perf_counter() - t0, 1)
        for engine in engines.values():  # warm-up: first-call allocations, prefix cache of the template
            build("yes-no", engine, args).rerank_many([all_rankings[-1].top(2)])
        for method in methods:
            row: dict = {"method": method, "queries": len(rankings), "depth": args.depth}
            orders = {}
            for name in ("transformers", "vllm"):
                secs, load, out = timed(build(method, engines[name], args), rankings)
                row[f"{name}_s"], row[f"{name}_load"] = round(secs, 1), load
                orders[name] = [r.ids() for r in out]
                print(f"{method} {name}: {secs:.1f} s (load {load:.2f})", flush=True)
            row["ratio"] = round(row["transformers_s"] / row["vllm_s"], 2)
            row["tau"] = round(mean_tau(orders["vllm"], orders["transformers"]), 3)
            row["same_orders"] = orders["vllm"] == orders["transformers"]
            result["compare"].append(row)
            save()
        engines.pop("transformers").close()
    if args.loop:
        sub = all_rankings[: args.loop_queries]
        for method in [m for m in args.loop_methods.split(",") if m]:
            row = {"method": method, "queries": len(sub), "depth": args.depth}
            orders = {}
            for batched in (True, False):
                key = "batched" if batched else "loop"
                secs, load, out = timed(build(method, vllm, args, batch_queries=batched), sub)
                row[f"{key}_s"], row[f"{key}_load"] = round(secs, 1), load
                orders[key] = [r.ids() for r in out]
                print(f"{method} vllm {key}: {secs:.1f} s (load {load:.2f})", flush=True)
            row["speedup"] = round(row["loop_s"] / row["batched_s"], 2)
            row["same_orders"] = orders["batched"] == orders["loop"]
            result["loop"].append(row)
            save()
    vllm.close()
    save()
    report(result, args)


def report(result: dict, args) -> None:
    r1 = f"Rank-R1: num_child {args.r1_num_child}, k {args.r1_k}, at most {args.r1_max_new_tokens} new tokens"
    print(f"\nDL19 BM25 top-{args.depth}, windows {args.window}/{args.stride}; {r1}; env {result['env'] or '-'}\n")
    if result["compare"]:
        print("| method | queries | transformers (s) | vllm (s) | transformers / vllm | load avg (hf, vllm) | "
              "Kendall tau | same orders |")
        print("|---|---|---|---|---|---|---|---|")
        for r in result["compare"]:
            print(f"| `{r['method']}` | {r['queries']} | {r['transformers_s']} | {r['vllm_s']} | {r['ratio']:.2f}x | "
                  f"{r['transformers_load']:.1f}, {r['vllm_load']:.1f} | {r['tau']:.3f} | {r['same_orders']} |")
        by = {r["method"]: r for r in result["compare"]}
        if "first" in by and "rankgpt" in by:
            print(f"\nFIRST vs generative listwise on vLLM (same windows): rankgpt {by['rankgpt']['vllm_s']} s, "
                  f"FIRST {by['first']['vllm_s']} s ({by['rankgpt']['vllm_s'] / by['first']['vllm_s']:.2f}x)")
    if result["loop"]:
        print("\n| vLLM, method | queries | batched waves (s) | per-query loop (s) | loop / batched | load avg | "
              "same orders |")
        print("|---|---|---|---|---|---|---|")
        for r in result["loop"]:
            print(f"| `{r['method']}` | {r['queries']} | {r['batched_s']} | {r['loop_s']} | {r['speedup']:.2f}x | "
                  f"{r['batched_load']:.1f}, {r['loop_load']:.1f} | {r['same_orders']} |")


if __name__ == "__main__":
    main()
