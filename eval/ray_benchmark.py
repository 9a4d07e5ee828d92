"""Ray executor throughput on this machine: dense encoding (documents/s) and cross-encoder reranking (pairs/s), in
process vs 1 and 2 Ray workers, all in one driver process, then a projection to MS MARCO scale from the measured
per-item costs.

    python eval/ray_benchmark.py --data-dir ../shared/data --model $RERANKIT_MODELS/all-MiniLM-L6-v2 \
        [--docs 2000] [--queries 16] [--depth 100] [--out eval/results/ray.json]

The cross-encoder is all-MiniLM-L6-v2 with a seeded, untrained sequence-classification head saved once to a
temporary folder (no trained cross-encoder is available offline): its speed is a real MiniLM-L6 cross-encoder's,
its rankings are meaningless, and the script checks that every configuration returns the same rankings.
Ray's start-up (cluster, actors, model loads) is timed separately from the steady-state work.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rerankit import Pipeline, build
from rerankit.data import load_dataset
from rerankit.executors.ray import RayExecutor
from rerankit.retrievers.dense import DenseRetriever


def save_cross_encoder(minilm: str, out: Path) -> str:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=1).save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(out)
    return str(out)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR", "../shared/data"))
    ap.add_argument("--model", required=True, help="all-MiniLM-L6-v2 folder")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=16)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--out", default="eval/results/ray.json")
    args = ap.parse_args()
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    load = os.getloadavg()[0]
    scifact = load_dataset("beir/scifact", data_dir=args.data_dir)
    docs = list(scifact.corpus.values())[: args.docs]
    dl19 = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    first = [r.top(args.depth) for r in list(dl19.candidates("bm25").values())[: args.queries]]
    pairs = sum(len(r.hits) for r in first)
    rows, ref_ids, ref_rank = [], None, None

    with tempfile.TemporaryDirectory() as tmp:
        ce_path = save_cross_encoder(args.model, Path(tmp) / "ce")
        for workers in (0, 1, 2):
            label = "in process" if workers == 0 else f"ray, {workers} worker{'s' * (workers > 1)}"
            # dense encoding
            if workers == 0:
                dense = DenseRetriever(args.model, show_progress=False)
                _, setup = timed(lambda d=dense: d.encode_documents(["warm up"]))
                index, t_enc = timed(lambda d=dense: d.index(docs))
                ex = None
            else:
                ex = RayExecutor(workers=workers)
                dense = DenseRetriever(args.model, show_progress=False, executor=ex, shard_size=256)
                # start-up: actors load the encoder (timed apart from the steady state)
                _, setup = timed(lambda d=dense, e=ex: e.worker_pids(d._worker_recipe))
                index, t_enc = timed(lambda d=dense: d.index(docs))
            ids = [h.doc.id for r in index.search_many(list(scifact.queries.values())[:20], 10).values()
                   for h in r.hits]
            ref_ids = ref_ids or ids
            # cross-encoder reranking
            ce = build("reranker", "cross-encoder", model=ce_path, progress=False)
            pipe = Pipeline(rerankers=[ce], executor=ex, chunk_size=max(1, args.queries // 4))
            if ex is not None:
                _, ce_setup = timed(lambda e=ex, c=ce: e.worker_pids(c))
            else:
                ce_setup = 0.0
            results, t_ce = timed(lambda p=pipe: p.rerank_run(first))
            rank = [r.ranking.ids() for r in results]
            ref_rank = ref_rank or rank
            rows.append({"setting": label, "docs_per_s": len(docs) / t_enc, "pairs_per_s": pairs / t_ce,
                         "encode_s": t_enc, "rerank_s": t_ce, "startup_s": setup + ce_setup,
                         "same_search_results": ids == ref_ids, "same_rankings": rank == ref_rank})
            if ex is not None:
                ex.close()
            print(rows[-1], flush=True)

    base = rows[0]
    print(f"\nload average at start {load:.1f}; {len(docs)} SciFact documents; {len(first)} DL19 queries x "
          f"{args.depth} BM25 candidates = {pairs} pairs\n")
    print("| setting | dense docs/s | ratio | cross-encoder pairs/s | ratio | Ray start-up s | same results |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['docs_per_s']:.0f} | {r['docs_per_s'] / base['docs_per_s']:.2f}x | "
              f"{r['pairs_per_s']:.0f} | {r['pairs_per_s'] / base['pairs_per_s']:.2f}x | {r['startup_s']:.1f} | "
              f"{'yes' if r['same_search_results'] and r['same_rankings'] else 'NO'} |")
    # MS MARCO scale, from the in-process per-item costs on one worker (a worker per GPU scales this linearly)
    per_doc, per_pair = 1 / base["docs_per_s"], 1 / base["pairs_per_s"]
    corpus, dev, depth = 8_841_823, 6_980, 100
    print(f"\nMS MARCO projection from these per-item costs (one worker = this 2-core CPU): encoding 8.8M passages "
          f"{corpus * per_doc / 3600:.1f} h, reranking 6,980 dev queries x {depth} "
          f"{dev * depth * per_pair / 3600:.1f} h; with N workers each on its own device, divide by N.")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"load_average": load, "docs": len(docs), "queries": len(first),
                                          "pairs": pairs, "rows": rows}, indent=1))
    ray.shutdown()


if __name__ == "__main__":
    main()
