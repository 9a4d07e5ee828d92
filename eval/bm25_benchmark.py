"""BM25 on BEIR SciFact: rerankit vs bm25s used directly vs pyserini/Lucene (when the `lucene` extra is installed).

Measures, in one process and one run: index time, queries per second (all 300 test queries, top-100), nDCG@10 and
recall@100, and prints a Markdown table with speed as ratios to rerankit.

    python eval/bm25_benchmark.py --data-dir ../shared/data [--threads 0] [--skip-lucene]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate
from rerankit.retrievers.bm25 import BM25Retriever
from rerankit.runs import run_from_dict


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_rerankit(docs, queries, k):
    bm25 = BM25Retriever(show_progress=False)
    _, t_index = _timed(lambda: bm25.index(docs))
    run, t_search = _timed(lambda: bm25.search_many(queries, k))
    return run, t_index, t_search


def bench_bm25s(docs, queries, k):
    """bm25s as its README shows it: its own tokenizer (English stopwords, Snowball stemmer), default k1/b."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")

    def index():
        tokens = bm25s.tokenize([d.full_text for d in docs], stopwords="en", stemmer=stemmer, show_progress=False)
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        return model

    model, t_index = _timed(index)

    def search():
        # timed up to doc-id -> score dicts per query, the least a caller needs from a search
        qt = bm25s.tokenize([q.text for q in queries], stopwords="en", stemmer=stemmer, show_progress=False)
        ids, scores = model.retrieve(qt, k=k, show_progress=False)
        return {q.id: {docs[i].id: s for i, s in zip(ids[j].tolist(), scores[j].tolist())}
                for j, q in enumerate(queries)}

    scores_dict, t_search = _timed(search)
    return run_from_dict(scores_dict), t_index, t_search


def bench_lucene(docs, queries, k):
    from rerankit.registry import build

    lucene = build("retriever", "lucene")
    with tempfile.TemporaryDirectory():
        _, t_index = _timed(lambda: lucene.index(docs))
        run, t_search = _timed(lambda: lucene.search_many(queries, k))
    return run, t_index, t_search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("--dataset", default="beir/scifact")
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--skip-lucene", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    ds = load_dataset(args.dataset, data_dir=args.data_dir)
    docs = list(ds.corpus.values())
    queries = list(ds.queries.values())
    systems = {"rerankit bm25 (bm25s + Lucene analysis)": bench_rerankit, "bm25s direct (its defaults)": bench_bm25s}
    if not args.skip_lucene:
        systems["pyserini / Lucene"] = bench_lucene
    rows = []
    base = None
    for name, fn in systems.items():
        try:
            run, t_index, t_search = fn(docs, queries, args.k)
        except Exception as exc:  # report a system that cannot run here instead of dropping it silently
            rows.append(f"| {name} | not run: {type(exc).__name__}: {str(exc)[:80]} | | | | | |")
            continue
        m = evaluate(run, ds.qrels, ["ndcg@10", "recall@100"])
        qps = len(queries) / t_search
        if base is None:
            base = (t_index, qps)
        rows.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | {t_index:.2f} | "
                    f"{base[0] / t_index:.2f}x | {qps:.0f} | {qps / base[1]:.2f}x |")
    print(f"{ds.id}: {len(docs)} documents, {len(queries)} queries, top-{args.k}\n")
    print("| system | nDCG@10 | R@100 | index s | index speed vs rerankit | queries/s | q/s vs rerankit |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
