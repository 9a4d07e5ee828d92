"""Speed of rerankit's first stage and evaluation against their peers, each ratio measured in this one process.

Rows (BEIR SciFact: 5,183 documents, 300 test queries, top-100):
- BM25 search: rerankit `bm25` vs bm25s used directly with the same tokens (rerankit's analyzer, terms the index
  does not know dropped), returning a doc-id -> score dict per query; on bm25s's numpy backend and on its numba
  backend (its compile paid before timing). nDCG@10 of both runs is shown: it must be equal.
- BM25 indexing: rerankit vs bm25s with an equivalent tokenizer (bm25s.tokenize: lower case, Lucene's stopwords,
  PyStemmer's Porter) and vs Lucene through the `lucene` retriever on a warm JVM.
- Lucene search: rerankit's `lucene` retriever vs the same index's bare Anserini `SimpleSearcher.batch_search`
  (Java results left unconverted; it runs a work-stealing pool over all cores whatever its thread argument says).
- Evaluation: 1,000 queries x 100 documents (SciFact BM25 top-100 cycled to 1,000 query ids), nDCG@10, MAP,
  R@100, vs ranx on prebuilt Qrels/Run and pytrec_eval with a prebuilt evaluator.

Every time is the median of `--rounds` (3) runs, in CPU seconds of this process (all its threads, the JVM's
included), so a ratio says how much work each side does, not how long it waited for a core: for multi-threaded
work (Lucene with n_threads=2, batch_search's pool) it is total CPU work, not latency. The load average is read
before and after. Writes Markdown to eval/results/speed.md (or `--out`).

    python eval/speed_benchmark.py --data-dir ../shared/data [--skip-lucene]
    python eval/speed_benchmark.py --data-dir ../shared/data --only evaluation --out eval/results/speed_eval.md
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from rerankit.data import load_dataset
from rerankit.evaluation import evaluate
from rerankit.retrievers.analysis import LUCENE_STOPWORDS, Analyzer
from rerankit.retrievers.bm25 import BM25Retriever
from rerankit.runs import run_from_dict

METRICS = ["ndcg@10", "map", "recall@100"]


def median_time(fn: Callable[[], object], rounds: int) -> tuple[object, float]:
    """`fn`'s result and the median CPU time (this process, all its threads) of `rounds` calls.

    CPU time, not wall time: on a shared machine a low-priority process gets a share of the cores that changes
    from one minute to the next, which would decide a wall-clock ratio more than the code does.
    """
    times, out = [], None
    for _ in range(rounds):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return out, statistics.median(times)


def bm25_rows(docs, queries, qrels, k: int, rounds: int) -> list[list[str]]:
    import bm25s
    import Stemmer

    rows = []
    bm25, t_index = median_time(lambda: BM25Retriever(show_progress=False).index(docs), rounds)
    bm25.search_many(queries[:5], k)  # the numba kernel loads from its on-disk cache (compiles on first use)
    run, t_search = median_time(lambda: bm25.search_many(queries, k), rounds)
    _, t_read = median_time(lambda: [r.hits for r in bm25.search_many(queries, k).values()], rounds)
    ndcg = evaluate(run, qrels, ["ndcg@10"])["ndcg@10"]

    analyzer = Analyzer()
    peer_q = {}
    for backend in ("numpy", "numba"):
        model = bm25s.BM25(k1=0.9, b=0.4, method="lucene", backend=backend)
        model.index([analyzer(d.full_text) for d in docs], show_progress=False)
        vocab = model.vocab_dict

        def search(model=model, vocab=vocab):
            tokens = [[t for t in analyzer(q.text) if t in vocab] for q in queries]
            ids, scores = model.retrieve(tokens, k=k, show_progress=False)
            return {q.id: {docs[i].id: s for i, s in zip(ids[j].tolist(), scores[j].tolist()) if s > 0}
                    for j, q in enumerate(queries)}

        search()  # numba: bm25s compiles its kernel in every process; not timed
        peer_run, peer_q[backend] = median_time(search, rounds)
        peer_ndcg = evaluate(run_from_dict(peer_run), qrels, ["ndcg@10"])["ndcg@10"]
        rows.append([f"BM25 search, {len(queries)} queries, top-{k}", f"{len(queries) / t_search:,.0f} q/s",
                     f"bm25s direct, same tokens, {backend} backend", f"{len(queries) / peer_q[backend]:,.0f} q/s",
                     f"{peer_q[backend] / t_search:.2f}x", f"nDCG@10 {ndcg:.4f} vs {peer_ndcg:.4f}"])
    rows.append([f"BM25 search + reading every hit ({sum(len(r) for r in run.values()):,} Hit objects)",
                 f"{len(queries) / t_read:,.0f} q/s", "bm25s direct, numba backend",
                 f"{len(queries) / peer_q['numba']:,.0f} q/s", f"{peer_q['numba'] / t_read:.2f}x", ""])

    stemmer = Stemmer.Stemmer("porter")

    def bm25s_index():
        tokens = bm25s.tokenize([d.full_text for d in docs], lower=True, stopwords=sorted(LUCENE_STOPWORDS),
                                stemmer=stemmer, show_progress=False)
        model = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
        model.index(tokens, show_progress=False)
        return model

    _, t_peer_index = median_time(bm25s_index, rounds)
    rows.append([f"BM25 indexing, {len(docs):,} documents", f"{t_index:.2f} s",
                 "bm25s with an equivalent tokenizer", f"{t_peer_index:.2f} s", f"{t_peer_index / t_index:.2f}x", ""])
    return rows


def lucene_rows(docs, queries, k: int, rounds: int, t_bm25_index: float | None) -> list[list[str]]:
    from rerankit.retrievers.lucene import LuceneRetriever, _autoclass

    LuceneRetriever(show_progress=False).index(docs[:200])  # start and warm the JVM
    lucene, t_index = median_time(lambda: LuceneRetriever(show_progress=False).index(docs), rounds)
    rows = []
    if t_bm25_index is not None:
        rows.append([f"BM25 indexing, {len(docs):,} documents", f"{t_bm25_index:.2f} s",
                     "Lucene (lucene retriever, warm JVM, 1 thread)", f"{t_index:.2f} s",
                     f"{t_index / t_bm25_index:.2f}x", ""])
    array = _autoclass("java.util.ArrayList")
    texts, qids = array(), array()
    for q in queries:
        texts.add(q.text)
        qids.add(q.id)
    searcher = lucene._searcher
    searcher.batch_search(texts, qids, k, 1)
    _, t_bare = median_time(lambda: searcher.batch_search(texts, qids, k, 1), rounds)
    for threads in (1, 2):
        lucene.n_threads = threads
        lucene.search_many(queries, k)
        _, t = median_time(lambda: lucene.search_many(queries, k), rounds)
        rows.append([f"Lucene search, {len(queries)} queries, top-{k} (n_threads={threads})",
                     f"{len(queries) / t:,.0f} q/s", "bare Anserini batch_search (all cores)",
                     f"{len(queries) / t_bare:,.0f} q/s", f"{t_bare / t:.2f}x", ""])
    return rows


def evaluation_rows(docs, queries, qrels, rounds: int, n_queries: int = 1000) -> list[list[str]]:
    import pytrec_eval
    from ranx import Qrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    from rerankit.types import Hit, Ranking

    bm25 = BM25Retriever(show_progress=False).index(docs)
    base = [r for r in bm25.search_many(queries, 100).values() if r.query.id in qrels]
    rankings, plain, judged = {}, {}, {}
    for i in range(n_queries):
        r = base[i % len(base)]
        qid = f"{r.query.id}-{i}"
        rankings[qid] = Ranking(r.query.__class__(qid, r.query.text), tuple(Hit(h.doc, h.score) for h in r.hits))
        plain[qid] = dict(zip(r.ids(), r.score_list()))
        judged[qid] = dict(qrels[r.query.id])
    n_hits = sum(len(r) for r in rankings.values())
    ranx_qrels, ranx_run = Qrels(judged), RanxRun(plain)
    ranx_metrics = ["ndcg@10", "map", "recall@100"]
    evaluator = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "map", "recall.100"})
    evaluate(rankings, judged, METRICS), ranx_evaluate(ranx_qrels, ranx_run, ranx_metrics)  # compile / warm up
    ours, t_ours = median_time(lambda: evaluate(rankings, judged, METRICS), rounds)
    ours_dict, t_dict = median_time(lambda: evaluate(plain, judged, METRICS), rounds)
    theirs, t_ranx = median_time(lambda: ranx_evaluate(ranx_qrels, ranx_run, ranx_metrics), rounds)
    per_q, t_trec = median_time(lambda: evaluator.evaluate(plain), rounds)
    trec = {m: statistics.fmean(v[key] for v in per_q.values())
            for m, key in zip(METRICS, ["ndcg_cut_10", "map", "recall_100"])}
    same = all(abs(ours[m] - trec[m]) < 1e-9 and abs(ours_dict[m] - trec[m]) < 1e-9 and
               abs(float(theirs[m]) - trec[m]) < 1e-9 for m in METRICS)
    note = "equal to pytrec_eval" if same else f"DIFFERENT: ours {ours}, pytrec_eval {trec}"
    what = f"evaluation, {n_queries:,} queries x {n_hits // n_queries} documents, 3 metrics"
    return [[f"{what} (Rankings)", f"{t_ours:.3f} s", "ranx, prebuilt Qrels/Run", f"{t_ranx:.3f} s",
             f"{t_ranx / t_ours:.2f}x", note],
            [f"{what} (doc-id -> score dicts)", f"{t_dict:.3f} s", "ranx, prebuilt Qrels/Run", f"{t_ranx:.3f} s",
             f"{t_ranx / t_dict:.2f}x", ""],
            [f"{what} (Rankings)", f"{t_ours:.3f} s", "pytrec_eval, prebuilt evaluator", f"{t_trec:.3f} s",
             f"{t_trec / t_ours:.2f}x", ""]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-lucene", action="store_true")
    ap.add_argument("--only", choices=["bm25", "lucene", "evaluation"], action="append",
                    help="run only these groups of rows (repeatable); default: all (Lucene unless --skip-lucene)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    load_before = os.getloadavg()
    ds = load_dataset("beir/scifact", data_dir=args.data_dir)
    docs, queries = list(ds.corpus.values()), list(ds.queries.values())
    groups = set(args.only or ["bm25", "evaluation"] + ([] if args.skip_lucene else ["lucene"]))
    rows: list[list[str]] = []
    t_index = None
    if "bm25" in groups:
        rows += bm25_rows(docs, queries, ds.qrels, args.k, args.rounds)
        t_index = float(rows[-1][1].split()[0])
        print("\n".join(" | ".join(r) for r in rows), flush=True)
    if "lucene" in groups:
        lucene = lucene_rows(docs, queries, args.k, args.rounds, t_index)
        rows += lucene
        print("\n".join(" | ".join(r) for r in lucene), flush=True)
    if "evaluation" in groups:
        rows += evaluation_rows(docs, queries, ds.qrels, args.rounds)
    load_after = os.getloadavg()

    lines = [f"Load average (1/5/15 min) before: {' / '.join(f'{v:.1f}' for v in load_before)}; after: "
             f"{' / '.join(f'{v:.1f}' for v in load_after)}. Medians of {args.rounds} rounds, one process; "
             "CPU time; ratio = peer time / rerankit time (above 1: rerankit is faster).", "",
             "| what | rerankit | peer | peer's | ratio | note |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
