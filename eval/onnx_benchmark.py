"""Encoder backends on CPU: torch vs ONNX Runtime vs OpenVINO vs int8, in one process.

1. Cross-encoder speed: pairs/s of rerankit's cross-encoder on the first `--pairs` DL19 BM25 (query, passage)
   pairs, for backend torch / onnx / openvino / onnx+int8, and sentence-transformers' CrossEncoder (torch) with the
   same head weights as the peer. `--model` is by default the packaged all-MiniLM-L6-v2 with an UNTRAINED, seeded
   classification head (the scores measure nothing, and differ by thousandths, so any backend that moves a score by
   1e-3 reorders its top-10); online, `--model cross-encoder/ms-marco-MiniLM-L6-v2` gives agreement and nDCG@10
   that mean something. Rounds interleave the variants; the median of
   `--rounds` is reported, with the top-10 agreement (identical ordered top-10 lists, and the mean overlap of the
   top-10 sets), the largest score difference to rerankit torch and nDCG@10. Exports are built (and cached) before
   timing.
   Then an fp32 ceiling: only the encoder's matrix products (every Linear layer's weights on the pairs' real
   tokens, no padding, no attention, normalisation or activation), timed with torch's fp32 GEMM in blocks of
   `--batch-size` pairs. No fp32 runtime that computes those products can score the pairs faster, so its pairs/s
   bounds every fp32 row, and says whether 2x sentence-transformers is within reach on this CPU.
2. int8 quality: dense retrieval with all-MiniLM-L6-v2 on BEIR SciFact (all 300 test queries; the corpus is every
   judged abstract plus the first `--docs` others, or the whole corpus with --docs 0), nDCG@10 and R@100 for torch,
   onnx fp32 and onnx int8, documents encoded per second, and how many queries keep torch's exact top-10 (a
   trained MiniLM's ranking under int8, which the untrained cross-encoder head above cannot show).

    nice -n 19 python eval/onnx_benchmark.py --data-dir ../shared/data [--pairs 1000] [--rounds 3] [--docs 2000]

Writes eval/results/onnx_benchmark.json and prints Markdown tables (with the load average before and after).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rerankit.data import load_dataset
from rerankit.engines.models import resolve_model
from rerankit.evaluation import evaluate
from rerankit.rerankers.cross_encoder import CrossEncoderReranker
from rerankit.retrievers.dense import DenseRetriever

VARIANTS = [("rerankit torch", {}), ("rerankit onnx", {"backend": "onnx"}),
            ("rerankit onnx, plain graph", {"backend": "onnx", "optimize": False}),
            ("rerankit openvino", {"backend": "openvino"}),
            ("rerankit onnx int8", {"backend": "onnx", "quantize": "int8"}),
            ("rerankit onnx int8, plain graph", {"backend": "onnx", "quantize": "int8", "optimize": False})]


def _pairs(data_dir: str, n: int):
    run = load_dataset("dl19", data_dir=data_dir).candidates("bm25")
    rankings, total = [], 0
    for qid in sorted(run):
        if total >= n:
            break
        r = run[qid].top(min(len(run[qid].hits), n - total))
        rankings.append(r)
        total += len(r.hits)
    return rankings, total


def _cross_encoders(model: str, batch_size: int):
    import torch

    stages = {}
    for label, opts in VARIANTS:
        torch.manual_seed(0)  # the same untrained head in every variant
        stages[label] = CrossEncoderReranker(model, batch_size=batch_size, allow_untrained_head=True, progress=False,
                                             **opts)
    return stages


def _st_cross_encoder(model: str, reference: CrossEncoderReranker):
    """sentence-transformers' CrossEncoder on the same model, given the same head as `reference` (an untrained one
    is random: it is copied)."""
    from sentence_transformers import CrossEncoder

    labels = reference.model.config.num_labels  # the packaged encoder gets transformers' default of 2
    st = CrossEncoder(resolve_model(model), device="cpu", max_length=reference.max_length, num_labels=labels)
    st.model.classifier.load_state_dict(reference.model.classifier.state_dict())
    return st


def bench_cross_encoder(args) -> dict:
    rankings, n = _pairs(args.data_dir, args.pairs)
    stages = _cross_encoders(args.model, args.batch_size)
    st = _st_cross_encoder(args.model, stages["rerankit torch"])
    pairs = [(r.query.text, h.doc.full_text) for r in rankings for h in r.hits]

    def run_st():
        logits = np.asarray(st.predict(pairs, batch_size=args.batch_size, show_progress_bar=False))
        if logits.ndim == 2:  # two labels: sentence-transformers returns both; the score is P(last label)
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            logits = e[:, -1] / e.sum(axis=1)
        scores = logits.tolist()
        out, k = [], 0
        for r in rankings:
            out.append(r.sorted_by(scores[k:k + len(r.hits)]))
            k += len(r.hits)
        return out

    fns = {label: (lambda s=s: s.rerank_many(rankings)) for label, s in stages.items()}
    fns["sentence-transformers CrossEncoder (torch)"] = run_st
    warm = [rankings[0].top(min(32, len(rankings[0].hits)))]
    for stage in stages.values():  # warm-up on one short batch
        stage.rerank_many(warm)
    st.predict(pairs[:32], batch_size=args.batch_size, show_progress_bar=False)
    times: dict[str, list[float]] = {label: [] for label in fns}
    outputs = {}
    for _ in range(args.rounds):  # rounds interleave the variants, so contention hits all of them alike
        for label, fn in fns.items():
            t0 = time.perf_counter()
            outputs[label] = fn()
            times[label].append(time.perf_counter() - t0)
    ref = outputs["rerankit torch"]
    qrels = load_dataset("dl19", data_dir=args.data_dir).qrels
    ref_scores = {(r.query.id, h.doc.id): h.score for r in ref for h in r.hits}
    rows = {}
    for label, out in outputs.items():
        scores = {(r.query.id, h.doc.id): h.score for r in out for h in r.hits}
        med = statistics.median(times[label])
        rows[label] = {"pairs_per_s": n / med, "median_s": med, "times_s": times[label],
                       "same_top10": sum(a.ids()[:10] == b.ids()[:10] for a, b in zip(out, ref)),
                       "top10_overlap": statistics.mean(len(set(a.ids()[:10]) & set(b.ids()[:10])) / 10
                                                        for a, b in zip(out, ref)),
                       "queries": len(ref), "max_abs_score_diff": max(abs(scores[k] - ref_scores[k])
                                                                      for k in ref_scores),
                       "ndcg@10": float(evaluate({r.query.id: r for r in out}, qrels, ["ndcg@10"])["ndcg@10"])}
    for label, stage in stages.items():  # what the export's graph optimiser fused (onnx variants)
        manifest = getattr(stage.model, "manifest", {})
        if "optimized" in manifest:
            rows[label]["fused_operators"] = manifest["fused_operators"] if manifest["optimized"] else {}
    peer = rows["sentence-transformers CrossEncoder (torch)"]["pairs_per_s"]
    for row in rows.values():
        row["x_sentence_transformers"] = row["pairs_per_s"] / peer
    untrained = stages["rerankit torch"].untrained_head
    return {"pairs": n, "queries": len(rankings), "batch_size": args.batch_size, "model": args.model,
            "untrained_head": untrained, "max_length": stages["rerankit torch"].max_length, "rows": rows}


def fp32_gemm_ceiling(args, max_length: int, rounds: int = 3) -> dict:
    """pairs/s if scoring cost only the encoder's fp32 matrix products on the real (unpadded) tokens."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    rankings, n = _pairs(args.data_dir, args.pairs)
    pairs = [(r.query.text, h.doc.full_text) for r in rankings for h in r.hits]
    path = resolve_model(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    lengths = sorted(len(ids) for ids in tok([q for q, _ in pairs], [p for _, p in pairs], truncation=True,
                                              max_length=max_length)["input_ids"])
    linears = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    blocks = [sum(lengths[i:i + args.batch_size]) for i in range(0, len(lengths), args.batch_size)]
    gen = torch.Generator().manual_seed(0)
    inputs = {rows: {f: torch.randn(rows, f, generator=gen) for f in {m.in_features for m in linears}}
              for rows in set(blocks)}
    times = []
    with torch.inference_mode():
        for _ in range(rounds + 1):  # the first round warms up
            t0 = time.perf_counter()
            for rows in blocks:
                for m in linears:
                    torch.nn.functional.linear(inputs[rows][m.in_features], m.weight, m.bias)
            times.append(time.perf_counter() - t0)
    seconds = statistics.median(times[1:])
    flops = 2 * sum(lengths) * sum(m.in_features * m.out_features for m in linears)
    return {"pairs": n, "tokens": sum(lengths), "mean_tokens": sum(lengths) / n, "max_length": max_length,
            "linear_layers": len(linears), "gemm_s": seconds, "gemm_gflop_per_s": flops / seconds / 1e9,
            "gflop_per_pair": flops / n / 1e9, "ceiling_pairs_per_s": n / seconds, "times_s": times[1:]}


def bench_int8_quality(args) -> dict:
    ds = load_dataset("beir/scifact", data_dir=args.data_dir)
    queries = [ds.queries[q] for q in sorted(ds.qrels)]
    judged = {d for q in ds.qrels for d in ds.qrels[q]}
    docs = [d for i, d in enumerate(ds.corpus.values()) if not args.docs or d.id in judged or i < args.docs]
    rows, runs = {}, {}
    for label, opts in [("torch", {}), ("onnx", {"backend": "onnx"}), ("onnx int8", {"backend": "onnx",
                                                                                     "quantize": "int8"})]:
        retriever = DenseRetriever(str(resolve_model(args.dense_model)), show_progress=False, **opts)
        retriever.encode_documents(["warm up"])
        t0 = time.perf_counter()
        retriever.index(docs)
        seconds = time.perf_counter() - t0
        run = retriever.search_many(queries, 100)
        runs[label] = run
        scores = evaluate(run, ds.qrels, ["ndcg@10", "recall@100"])
        rows[label] = {**{k: float(v) for k, v in scores.items()}, "docs_per_s": len(docs) / seconds}
    base = rows["torch"]
    for label, row in rows.items():
        row["delta_ndcg@10"] = row["ndcg@10"] - base["ndcg@10"]
        row["x_torch_docs_per_s"] = row["docs_per_s"] / base["docs_per_s"]
        tops = [(runs[label][q.id].ids()[:10], runs["torch"][q.id].ids()[:10]) for q in queries]
        row["same_top10"] = sum(a == b for a, b in tops)  # a trained encoder's ranking: does int8 keep it?
        row["top10_overlap"] = statistics.mean(len(set(a) & set(b)) / 10 for a, b in tops)
    return {"docs": len(docs), "queries": len(queries), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR", "../shared/data"))
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="cross-encoder model (packaged MiniLM by default)")
    ap.add_argument("--dense-model", default="all-MiniLM-L6-v2")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--docs", type=int, default=2000, help="SciFact abstracts besides the judged ones (0: all)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--cache", default=None, help="export cache (default: a fresh temporary folder)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "onnx_benchmark.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["RERANKIT_CACHE"] = args.cache or tempfile.mkdtemp(prefix="rerankit-onnx-bench-")
    import torch

    load_before = os.getloadavg()
    result = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_before": load_before,
              "cross_encoder": bench_cross_encoder(args)}
    result["fp32_ceiling"] = fp32_gemm_ceiling(args, result["cross_encoder"]["max_length"])
    if not args.skip_quality:
        result["int8_quality"] = bench_int8_quality(args)
    result["load_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))

    ce = result["cross_encoder"]
    print(f"\nCross-encoder, {ce['pairs']} DL19 pairs ({ce['queries']} queries), batch {ce['batch_size']}, median of "
          f"{args.rounds}; load average {load_before[0]:.1f} before, {result['load_after'][0]:.1f} after; "
          f"{result['cpus']} CPUs, torch threads {result['torch_threads']}\n")
    head = "an UNTRAINED head: nDCG means nothing" if ce["untrained_head"] else "a trained head"
    print(f"model {ce['model']} ({head})\n")
    print("| variant | pairs/s | x sentence-transformers | same top-10 as rerankit torch | top-10 overlap | "
          "max score diff | nDCG@10 |")
    print("|---|---|---|---|---|---|---|")
    for label, r in ce["rows"].items():
        print(f"| {label} | {r['pairs_per_s']:.1f} | {r['x_sentence_transformers']:.2f}x | "
              f"{r['same_top10']}/{r['queries']} | {r['top10_overlap']:.2f} | {r['max_abs_score_diff']:.1e} | "
              f"{r['ndcg@10']:.4f} |")
    c, st = result["fp32_ceiling"], ce["rows"]["sentence-transformers CrossEncoder (torch)"]["pairs_per_s"]
    print(f"\nfp32 ceiling: the encoder's {c['linear_layers']} matrix products alone on the {c['tokens']:,} real "
          f"tokens ({c['mean_tokens']:.1f} a pair, {c['gflop_per_pair']:.2f} GFLOP) take {c['gemm_s']:.2f} s "
          f"({c['gemm_gflop_per_s']:.0f} GFLOP/s): at most {c['ceiling_pairs_per_s']:.1f} pairs/s = "
          f"{c['ceiling_pairs_per_s'] / st:.2f}x sentence-transformers (2x would be {2 * st:.1f} pairs/s)")
    if "int8_quality" in result:
        q = result["int8_quality"]
        print(f"\nDense all-MiniLM-L6-v2 on SciFact ({q['queries']} queries, {q['docs']} documents)\n")
        print("| encoder | nDCG@10 | change | R@100 | same top-10 as torch | top-10 overlap | docs/s | x torch |")
        print("|---|---|---|---|---|---|---|---|")
        for label, r in q["rows"].items():
            print(f"| {label} | {r['ndcg@10']:.4f} | {r['delta_ndcg@10']:+.4f} | {r['recall@100']:.4f} | "
                  f"{r['same_top10']}/{q['queries']} | {r['top10_overlap']:.3f} | {r['docs_per_s']:.1f} | "
                  f"{r['x_torch_docs_per_s']:.2f}x |")


if __name__ == "__main__":
    main()
