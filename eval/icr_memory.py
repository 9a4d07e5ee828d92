"""ICR peak memory on CPU: one query's BM25 top-N SciFact abstracts (cut to 300 words) in one prompt.

Each configuration runs in its own child process (peak resident memory is per process), reads ``ru_maxrss`` and
reports the resident size after loading the model, the peak during ICR, the prompt length and the time. The SDPA
row path (``attention="rows"``, the default) keeps one layer's query rows at a time; ``eager`` materialises every
layer's full attention matrix (for contrast, at a small N only). Writes a Markdown table (stdout and ``--out``).

    python eval/icr_memory.py --config rows:100 --context-length 48000 --out eval/results/icr_memory_100.md
    python eval/icr_memory.py --config rows:10 --config eager:10 --out eval/results/icr_memory_10.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(attention: str, n: int, model: str, query_index: int, context_length: int | None) -> dict:
    from rerankit.data import load_dataset
    from rerankit.engines import get_engine
    from rerankit.rerankers.icr import ICRReranker
    from rerankit.retrievers.bm25 import BM25Retriever

    ds = load_dataset("beir/scifact")
    query = [q for q in ds.queries.values() if q.id in ds.qrels][query_index]
    ranking = BM25Retriever().index(ds.corpus.values()).search(query, k=n)
    base = _rss_mb()
    engine = get_engine("transformers", model, context_length=context_length)
    loaded = _rss_mb()
    icr = ICRReranker(engine=engine, attention=attention, progress=False)
    prompt = icr.build_prompt(query.text, [icr._passage(h) for h in ranking.hits])
    tokens = engine.count_tokens(prompt.text)
    t0 = time.perf_counter()
    out = icr.rerank(ranking)
    secs = time.perf_counter() - t0
    return {"attention": attention, "passages": len(ranking.hits), "prompt_tokens": tokens,
            "context": engine.context_length, "windows": out.meta["icr_windows"], "passes": out.meta["icr_passes"],
            "reused_tokens": out.meta["icr_reused_tokens"], "rss_data_mb": round(base),
            "rss_model_mb": round(loaded), "peak_rss_mb": round(_rss_mb()), "seconds": round(secs, 1),
            "top5": out.ids()[:5], "query": query.id}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", default=[], help="attention:passages, e.g. rows:100 (repeatable)")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--query-index", type=int, default=0, help="which judged SciFact query (0 = first)")
    ap.add_argument("--context-length", type=int, help="prompt budget above the model's own (memory runs only)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        attention, n = args.child.split(":")
        print(json.dumps(child(attention, int(n), args.model, args.query_index, args.context_length)))
        return
    rows = []
    for cfg in args.config or ["rows:100"]:
        cmd = [sys.executable, __file__, "--child", cfg, "--model", args.model, "--query-index", str(args.query_index)]
        if args.context_length:
            cmd += ["--context-length", str(args.context_length)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if res.returncode != 0:
            rows.append({"attention": cfg, "error": f"exit {res.returncode}: {res.stderr.strip()[-300:]}"})
        else:
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    load = os.getloadavg()
    budget = f"prompt budget {args.context_length:,} tokens (above the model's own context: memory only, no quality)" \
        if args.context_length else "the model's own context"
    lines = [f"ICR on CPU, {args.model}, SciFact query {rows[0].get('query', '?')}, BM25 top-N abstracts cut to 300 "
             f"words, {budget}; load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}", "",
             "| attention | passages | prompt tokens | windows | passes | reused tokens | RSS after load (MB) | "
             "peak RSS (MB) | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['attention']} | failed: {r['error']} | | | | | | | |")
            continue
        lines.append(f"| {r['attention']} | {r['passages']} | {r['prompt_tokens']:,} | {r['windows']} | "
                     f"{r['passes']} | {r['reused_tokens']:,} | {r['rss_model_mb']:,} | {r['peak_rss_mb']:,} | "
                     f"{r['seconds']} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
