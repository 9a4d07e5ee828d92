"""First-stage retrievers on BEIR SciFact: BM25, Lucene, dense, hybrid (BM25 + dense) and SPLADE.

One run each, in one process: nDCG@10 and recall@100 over the 300 test queries (top-100), index time, saved index
size, and the dense encoder's throughput against calling sentence-transformers ``encode`` directly on the same
documents. Prints Markdown tables.

    python eval/retrievers_benchmark.py --data-dir ../shared/data \
        --dense $RERANKIT_MODELS/all-MiniLM-L6-v2 --splade $RERANKIT_MODELS/splade-tiny [--skip-lucene]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate
from rerankit.registry import build
from rerankit.retrievers.fusion import FusionRetriever


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def measure(name, retriever, docs, queries, qrels, k, rows, index=True):
    t0 = time.perf_counter()
    if index:
        retriever.index(docs)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = retriever.search_many(queries, k)
    t_search = time.perf_counter() - t0
    m = evaluate(run, qrels, ["ndcg@10", "recall@100"])
    size = ""
    if index:
        with tempfile.TemporaryDirectory() as tmp:
            retriever.save(Path(tmp) / "index")
            size = f"{folder_mb(Path(tmp) / 'index'):.1f}"
    rows.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | "
                f"{f'{t_index:.1f}' if index else '(reused)'} | {len(queries) / t_search:.1f} | {size} |")
    print(rows[-1], flush=True)
    return retriever


def throughput(dense, docs, n):
    """docs/s of our encoder (length-sorted batches, progress bar) vs SentenceTransformer.encode on the same texts."""
    texts = [d.full_text for d in docs[:n] if d.full_text] if n else [d.full_text for d in docs]
    model = dense.encoder
    model.encode(texts[:dense.batch_size], show_progress_bar=False)  # warm-up, outside both timings
    t0 = time.perf_counter()
    dense.encode_documents(texts)
    ours = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    model.encode(texts, batch_size=dense.batch_size, normalize_embeddings=True, show_progress_bar=False)
    direct = len(texts) / (time.perf_counter() - t0)
    return len(texts), ours, direct


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("--dataset", default="beir/scifact")
    ap.add_argument("--dense", action="append", default=[], help="dense encoder(s); repeat for several")
    ap.add_argument("--splade", default=None, help="SPLADE encoder (skipped when not given)")
    ap.add_argument("--throughput-docs", type=int, default=0, help="documents for the throughput run (0: all)")
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--skip-lucene", action="store_true")
    ap.add_argument("--max-docs", type=int, default=0, help="smoke test: judged documents + this many others")
    ap.add_argument("--throughput-only", action="store_true", help="only the dense encoding throughput table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    ds = load_dataset(args.dataset, data_dir=args.data_dir)
    docs, queries, qrels = list(ds.corpus.values()), list(ds.queries.values()), ds.qrels
    if args.max_docs:
        judged = {d for q in qrels.values() for d in q}
        docs = [d for d in docs if d.id in judged] + [d for d in docs if d.id not in judged][:args.max_docs]
    print(f"{ds.id}: {len(docs)} documents, {len(queries)} queries, top-{args.k}\n")
    if args.throughput_only:
        speeds = [(Path(m).name, *throughput(build("retriever", "dense", model=m, show_progress=False), docs,
                                             args.throughput_docs)) for m in args.dense]
        print_speeds(speeds)
        return
    print("| retriever | nDCG@10 | R@100 | index s | queries/s | saved index MB |")
    print("|---|---|---|---|---|---|", flush=True)
    rows: list[str] = []
    bm25 = measure("bm25 (rerankit, bm25s)", build("retriever", "bm25", show_progress=False), docs, queries, qrels,
                   args.k, rows)
    if not args.skip_lucene:
        try:
            measure("lucene (pyserini)", build("retriever", "lucene", show_progress=False), docs, queries, qrels,
                    args.k, rows)
        except Exception as exc:  # report a system that cannot run here instead of dropping it silently
            print(f"| lucene (pyserini) | not run: {type(exc).__name__}: {str(exc)[:100]} | | | | |", flush=True)
    speeds = []
    for model in args.dense:
        label = Path(model).name
        dense = measure(f"dense {label}", build("retriever", "dense", model=model, show_progress=False), docs,
                        queries, qrels, args.k, rows)
        for method in ("rrf", "wsum"):
            measure(f"hybrid bm25 + {label} ({method}{', min-max' if method == 'wsum' else ''})",
                    FusionRetriever([bm25, dense], method=method, show_progress=False), docs, queries, qrels,
                    args.k, rows, index=False)
        speeds.append((label, *throughput(dense, docs, args.throughput_docs)))
    if args.splade:
        splade = measure(f"splade {Path(args.splade).name}",
                         build("retriever", "splade", model=args.splade, show_progress=False), docs, queries, qrels,
                         args.k, rows)
        idx = splade.sparse_index
        print(f"\nSPLADE index: {idx.nnz} postings, {idx.nnz / idx.num_docs:.1f} terms a document, "
              f"{idx.nbytes / 1e6:.1f} MB in memory")
    print_speeds(speeds)


def print_speeds(speeds):
    if speeds:
        print("\n| encoder | documents | rerankit dense docs/s | sentence-transformers encode docs/s | ratio |")
        print("|---|---|---|---|---|")
        for label, n, ours, direct in speeds:
            print(f"| {label} | {n} | {ours:.1f} | {direct:.1f} | {ours / direct:.2f}x |")


if __name__ == "__main__":
    main()
