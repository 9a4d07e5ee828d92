"""Multivector (MaxSim) reranking of the DL19 BM25 top-100: quality, and speed with stored document vectors.

The packaged all-MiniLM-L6-v2 is a bi-encoder, not a ColBERT checkpoint (no ColBERT weights are available
offline): its raw token vectors are used for MaxSim, so the quality number shows the mechanics on real data, not
what a trained ColBERT reaches. For scale, the same model's single-vector cosine (sentence-transformers mean
pooling) reranks the same candidates.

Speed, all in this one process on the same 43 x 100 candidates (so machine load hits every line alike):
- no store: ``cache=False``, every document encoded on every call;
- cold store: an empty store, documents encoded and written;
- stored, new reranker: a fresh reranker (nothing in memory) reading every document from the disk store;
- stored, in memory: the same reranker again (documents from its in-memory copy).
Every line must give the identical ranking; the script stops otherwise.

    nice -n 19 python eval/multivector_benchmark.py --model all-MiniLM-L6-v2 --data-dir $RERANKIT_DATA_DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate
from rerankit.registry import build
from rerankit.types import Ranking


def timed(reranker, rankings: list[Ranking]) -> tuple[list[Ranking], float]:
    t0 = time.perf_counter()
    out = reranker.rerank_many(rankings)
    return out, time.perf_counter() - t0


def single_vector(model: str, rankings: list[Ranking]) -> dict[str, Ranking]:
    from sentence_transformers import SentenceTransformer

    from rerankit.engines.models import resolve_model

    st = SentenceTransformer(resolve_model(model), device="cpu")
    out = {}
    for r in rankings:
        q = st.encode([r.query.text], normalize_embeddings=True)
        d = st.encode([h.doc.full_text for h in r.hits], normalize_embeddings=True, batch_size=64)
        out[r.query.id] = r.sorted_by([float(x) for x in (d @ q[0])])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="packaged model name, local path or HF id")
    ap.add_argument("--data-dir", default=None, help="local data mirror (default: $RERANKIT_DATA_DIR)")
    ap.add_argument("--queries", type=int, default=43)
    ap.add_argument("--out", default="eval/results/multivector.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    cands = ds.candidates("bm25")
    qids = [q for q in cands if q in ds.qrels][:args.queries]
    rankings = [cands[q] for q in qids]
    level = ds.relevance_level

    def ndcg(run: dict[str, Ranking]) -> float:
        return evaluate(run, ds.qrels, ["ndcg@10"], relevance_level=level)["ndcg@10"]

    load_before = os.getloadavg()
    store = tempfile.mkdtemp(prefix="rerankit-mv-bench-")
    lines = {}
    plain = build("reranker", "multivector", model=args.model, cache=False)
    ref, lines["no store (every document encoded)"] = timed(plain, rankings)
    cold = build("reranker", "multivector", model=args.model, cache_dir=store)
    out, lines["cold store (encode + write)"] = timed(cold, rankings)
    runs = [out]
    warm = build("reranker", "multivector", model=args.model, cache_dir=store)
    out, lines["stored, new reranker (disk)"] = timed(warm, rankings)
    runs.append(out)
    out, lines["stored, in memory"] = timed(warm, rankings)
    runs.append(out)
    for other in runs:
        if [(r.ids(), [h.score for h in r.hits]) for r in other] != [(r.ids(), [h.score for h in r.hits]) for r in ref]:
            raise SystemExit("stored document vectors gave another ranking than fresh encoding")
    t0 = time.perf_counter()
    plain.encoder.encode([r.query.text for r in rankings], is_query=True)
    query_only = time.perf_counter() - t0
    load_after = os.getloadavg()

    reranked = {r.query.id: r for r in ref}
    row = {
        "model": args.model, "queries": len(rankings), "candidates": sum(len(r) for r in rankings),
        "bm25_ndcg@10": ndcg({r.query.id: r for r in rankings}),
        "multivector_ndcg@10": ndcg(reranked),
        "single_vector_cosine_ndcg@10": ndcg(single_vector(args.model, rankings)),
        "seconds": lines, "query_encoding_seconds": query_only,
        "speedup_disk": lines["no store (every document encoded)"] / lines["stored, new reranker (disk)"],
        "speedup_memory": lines["no store (every document encoded)"] / lines["stored, in memory"],
        "loadavg_before": load_before, "loadavg_after": load_after,
        "colbert_settings": plain.encoder.settings.as_dict(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=1) + "\n")
    print(f"DL19 BM25 top-100, {row['queries']} queries, {row['candidates']} candidates, model {args.model} "
          f"(token vectors of a bi-encoder, NOT ColBERT weights)\n")
    print("| ranking | nDCG@10 |\n|---|---|")
    print(f"| BM25 (as shipped) | {row['bm25_ndcg@10']:.4f} |")
    print(f"| multivector MaxSim, {args.model} token vectors | {row['multivector_ndcg@10']:.4f} |")
    print(f"| single-vector cosine, same model (mean pooling) | {row['single_vector_cosine_ndcg@10']:.4f} |\n")
    base = lines["no store (every document encoded)"]
    print("| multivector run | seconds (43 queries) | vs no store |\n|---|---|---|")
    for name, sec in lines.items():
        print(f"| {name} | {sec:.2f} | {base / sec:.1f}x |")
    print(f"| (query encoding alone) | {query_only:.2f} | |")
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
