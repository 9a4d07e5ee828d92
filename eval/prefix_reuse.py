"""Key/value cache reuse in the transformers engine, measured in one process against the plain path.

1. ``yes-no`` pointwise reranking of DL19 BM25 candidates (shipped with text) with the engine's shared-prefix reuse
   (``prefix_cache=True``: the prompt part before the passage is computed once per query) against
   ``prefix_cache=False``, on the same engine instance, rounds alternating.
2. ICR on SciFact BM25 candidates with the passages' cache reused for the calibration pass (``reuse_cache=True``)
   against two full passes.
Reports median seconds per round, the speed ratio, the largest score difference and whether the orders agree;
writes a Markdown table (stdout and ``--out``).

    python eval/prefix_reuse.py --queries 2 --depth 20 --icr-passages 10 --rounds 3 --out eval/results/prefix_reuse.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def _timed(fn, rounds: int, before=None) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(rounds):
        if before:
            before()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def _compare(a: dict, b: dict) -> tuple[float, bool]:
    diff = max(abs(x.score - y.score) for q in a for x, y in zip(sorted(a[q], key=lambda h: h.id),
                                                                  sorted(b[q], key=lambda h: h.id)))
    return diff, all(a[q].ids() == b[q].ids() for q in a)


def yes_no(args, engine) -> list[str]:
    from rerankit.data import load_dataset
    from rerankit.rerankers.pointwise import YesNoReranker

    ds = load_dataset("msmarco-passage/trec-dl-2019")
    cands = ds.candidates("bm25")
    run = [cands[q].top(args.depth) for q in list(cands)[:args.queries]]
    reranker = YesNoReranker(engine=engine, template=args.template, progress=False)
    tokens = sum(engine.count_tokens(engine.render(p)) for p in reranker._pairs(run)[0])
    rows = {}
    for _ in range(args.rounds):  # alternate so that load changes hit both sides
        for on in (True, False):
            engine.prefix_cache = on
            engine._last_prefix = None
            t, out = _timed(lambda: {r.query.id: r for r in reranker.rerank_many(run)}, 1)
            rows.setdefault(on, ([], None))
            rows[on] = (rows[on][0] + t, out)
    on, off = statistics.median(rows[True][0]), statistics.median(rows[False][0])
    diff, same = _compare(rows[True][1], rows[False][1])
    return [f"| yes-no ({args.template}), DL19 {args.queries} q x {args.depth} passages, {tokens:,} prompt tokens | "
            f"{off:.1f} | {on:.1f} | {off / on:.2f}x | {diff:.1e} | {'yes' if same else 'NO'} |"]


def icr(args, engine) -> list[str]:
    from rerankit.data import load_dataset
    from rerankit.rerankers.icr import ICRReranker
    from rerankit.retrievers.bm25 import BM25Retriever

    ds = load_dataset("beir/scifact")
    queries = [q for q in ds.queries.values() if q.id in ds.qrels][:args.queries]
    run = list(BM25Retriever().index(ds.corpus.values()).search_many(queries, k=args.icr_passages).values())
    reuse = ICRReranker(engine=engine, progress=False)
    full = ICRReranker(engine=engine, reuse_cache=False, progress=False)
    tokens = sum(engine.count_tokens(reuse.build_prompt(r.query.text, [reuse._passage(h) for h in r.hits]).text)
                 for r in run)
    times: dict[bool, list[float]] = {True: [], False: []}
    outs = {}
    for _ in range(args.rounds):
        for on, rr in ((True, reuse), (False, full)):
            t, outs[on] = _timed(lambda rr=rr: {r.query.id: r for r in rr.rerank_many(run)}, 1)
            times[on] += t
    on, off = statistics.median(times[True]), statistics.median(times[False])
    diff, same = _compare(outs[True], outs[False])
    return [f"| ICR, SciFact {args.queries} q x {args.icr_passages} passages, {tokens:,} query-prompt tokens | "
            f"{off:.1f} | {on:.1f} | {off / on:.2f}x | {diff:.1e} | {'yes' if same else 'NO'} |"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--template", default="qwen3-reranker", help="yes-no prompt template (query before passage)")
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--icr-passages", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from rerankit.engines import get_engine

    engine = get_engine("transformers", args.model, batch_size=args.batch_size)
    lines = yes_no(args, engine) + icr(args, engine)
    load = os.getloadavg()
    table = "\n".join([
        f"{args.model} on CPU, one process, {args.rounds} alternating rounds (median), batch size {args.batch_size}; "
        f"load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}", "",
        "| workload | without reuse (s) | with reuse (s) | speed-up | max score difference | same order |",
        "|---|---|---|---|---|---|", *lines]) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
