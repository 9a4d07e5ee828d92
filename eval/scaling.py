"""Scaling curves: index time, peak memory, index size on disk and queries/s at 10k, 100k and 1M documents, for
rerankit's BM25, dense (faiss flat and HNSW) and SPLADE indexes and the library each wraps, used directly.

Data: synthetic, seeded, shaped like MS MARCO passages (see eval/synthetic_corpus.py for exactly how: lengths
resampled from 7,055 real passages, words from a Zipf law fitted to their unigram counts; queries from the DL19
topics' lengths and word rarity). Dense and SPLADE vectors are synthetic too (encoding 1M documents with a real
encoder on this CPU would take hours: the `calibration` step measures the packaged all-MiniLM-L6-v2's and
splade-tiny's throughput on real passages, reports the extrapolated time for 1M documents, and fits the
generators to their real outputs).

What is compared (rerankit first, then the peer used directly):
- bm25: `BM25Retriever().index(docs)` / `search_many` vs bm25s with the same tokens: rerankit's analyzer
  (`Analyzer().many`, inside the timed build) + `BM25(k1=0.9, b=0.4, method="lucene", backend="numba").index`;
  search as eval/speed_benchmark.py does: queries through the same analyzer, unknown terms dropped, `retrieve`,
  then doc-id -> score dicts.
- dense-flat: `DenseRetriever(index_type="flat")` vs `faiss.IndexFlatIP` add / search.
- dense-hnsw: `DenseRetriever(index_type="hnsw")` (M=32, efConstruction=200, efSearch=128, its defaults) vs
  `faiss.IndexHNSWFlat` with the same parameters.
- splade: `SpladeRetriever` (its `SparseIndex`: scipy CSR postings) vs scipy.sparse: postings ``X.T.tocsr()``,
  products of 256-query chunks with them, argpartition top-k.

For dense and SPLADE, rerankit's retrievers run with their encoder replaced by a lookup of the precomputed
synthetic vectors (subclasses below override only `encode_documents`/`encode_queries` and the encoder
fingerprint); indexing, search, Ranking assembly and saving (faiss/npz file, document store, checksummed
manifest) are rerankit's own code. rerankit's indexes hold the documents (ids and text) and save them
(`docs.jsonl`), which the bare libraries do not: the disk column says how much of rerankit's size is that store.

Every (size, kind, side) is measured in its own subprocess, so its peak memory is its own: after the inputs are
generated, the peak-RSS counter is reset (``/proc/self/clear_refs``, 5), so "peak" is the most memory the process
held while building (inputs included; "inputs" is what it held before). Times are wall seconds and CPU seconds
(this process, all threads); queries/s are over `--queries` (1,000) queries, top-`-k` (100), after 10 warm-up
queries, the median of `--search-rounds` (3) timings (rows measured before this option have one). The load
average is read at the start and end of each measurement. A watchdog kills a measurement whose RSS passes
`--max-rss-gb` (9). Rows are appended to eval/results/scaling.jsonl as they are measured, and a
rerun skips (size, kind, side) rows already there, so the script resumes (`--again` measures the chosen ones anew,
after a change); it then writes scaling.md and scaling.png from all rows.

    nice -n 19 python eval/scaling.py --data-dir ../shared/data [--sizes 10000 100000] [--kinds bm25 splade]
    nice -n 19 python eval/scaling.py --report-only      # redraw the table and plot from the saved rows
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic_corpus import (  # noqa: E402
    SparseModel,
    TextModel,
    doc_ids,
    gaussian_embeddings,
    real_sample,
    sparse_vectors,
)

KINDS = ("bm25", "dense-flat", "dense-hnsw", "splade")
SIDES = ("rerankit", "peer")
PEERS = {"bm25": "bm25s (same tokens)", "dense-flat": "faiss IndexFlatIP", "dense-hnsw": "faiss IndexHNSWFlat",
         "splade": "scipy.sparse"}
SIZES = (10_000, 100_000, 1_000_000)
VERSION = 1  # bump when what a row measures changes: older rows are then measured again
CALIBRATION = "calibration.npz"
N_AGREE = 100  # queries whose top-10 ids are kept to compare sides


# ---- memory --------------------------------------------------------------------------------------------------
def _status(field: str, pid: str = "self") -> int:
    """A /proc/<pid>/status memory field in bytes (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak() -> None:
    """Reset this process's peak-RSS counter (VmHWM, and so ru_maxrss) to its current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


# ---- calibration: real encoders on real passages ---------------------------------------------------------------
def calibrate(args) -> dict:
    """Measure the packaged encoders on real passages; save what the generators need to the work dir."""
    from rerankit.engines.models import resolve_model
    from rerankit.retrievers.dense import DenseRetriever
    from rerankit.retrievers.splade import SpladeEncoder

    passages, topics = real_sample(args.data_dir)
    rng = np.random.default_rng(0)
    sample = [passages[i] for i in rng.choice(len(passages), args.calib_docs, replace=False)]
    dense = DenseRetriever(resolve_model("all-MiniLM-L6-v2"), show_progress=False)
    dense.encode_documents(sample[:32])  # load and warm up
    w, c = time.time(), time.process_time()
    emb = dense.encode_documents(sample).astype(np.float64)
    dense_wall, dense_cpu = time.time() - w, time.process_time() - c
    del dense
    gc.collect()

    splade = SpladeEncoder(resolve_model("splade-tiny"), show_progress=False)
    sp_sample = sample[:args.calib_splade_docs]
    splade.encode(sp_sample[:16])
    w, c = time.time(), time.process_time()
    docs_sp = splade.encode(sp_sample)
    splade_wall, splade_cpu = time.time() - w, time.process_time() - c
    queries_sp = splade.encode(topics)
    df = np.bincount(docs_sp.indices, minlength=splade.vocab_size)
    np.savez(args.work_dir / CALIBRATION, mean=emb.mean(axis=0), cov=np.cov(emb, rowvar=False),
             doc_nnz=np.diff(docs_sp.indptr), query_nnz=np.diff(queries_sp.indptr), doc_weights=docs_sp.data,
             query_weights=queries_sp.data, term_df=df)
    n_dense, n_sp = len(sample), len(sp_sample)
    return {
        "load_avg": list(os.getloadavg()),
        "sample": f"{n_dense} of the 7,055 distinct DL19 candidate passages (seed 0); splade on the first {n_sp}",
        "minilm": {"docs": n_dense, "wall_s": dense_wall, "cpu_s": dense_cpu, "docs_per_s": n_dense / dense_wall,
                   "docs_per_cpu_s": n_dense / dense_cpu, "hours_for_1M_wall": 1e6 / (n_dense / dense_wall) / 3600,
                   "cpu_hours_for_1M": 1e6 / (n_dense / dense_cpu) / 3600, "batch_size": 32, "backend": "torch"},
        "splade_tiny": {"docs": n_sp, "wall_s": splade_wall, "cpu_s": splade_cpu, "docs_per_s": n_sp / splade_wall,
                        "docs_per_cpu_s": n_sp / splade_cpu, "hours_for_1M_wall": 1e6 / (n_sp / splade_wall) / 3600,
                        "cpu_hours_for_1M": 1e6 / (n_sp / splade_cpu) / 3600,
                        "doc_nnz_mean": float(np.diff(docs_sp.indptr).mean()),
                        "doc_nnz_median": float(np.median(np.diff(docs_sp.indptr))),
                        "query_nnz_mean": float(np.diff(queries_sp.indptr).mean()),
                        "vocab_size": int(splade.vocab_size), "terms_seen": int((df > 0).sum())},
    }


def load_calibration(work_dir: Path) -> tuple[np.ndarray, np.ndarray, SparseModel]:
    z = np.load(work_dir / CALIBRATION)
    sparse = SparseModel(doc_nnz=z["doc_nnz"], query_nnz=z["query_nnz"], doc_weights=z["doc_weights"],
                         query_weights=z["query_weights"], term_df=z["term_df"])
    return z["mean"], z["cov"], sparse


# ---- rerankit retrievers with precomputed vectors ---------------------------------------------------------------
def _precomputed_dense(doc_vectors: np.ndarray, query_vectors: np.ndarray, index_type: str):
    from rerankit.retrievers.dense import DenseRetriever

    class PrecomputedDense(DenseRetriever):
        """rerankit's dense retriever; its encoder is replaced by the synthetic vectors (query "q<i>" -> row i)."""

        def encode_documents(self, texts):
            if len(texts) != len(doc_vectors):
                raise ValueError("the precomputed vectors are for another corpus")
            return doc_vectors

        def encode_queries(self, texts):
            return query_vectors[[int(t[1:]) for t in texts]]

        @property
        def dimension(self) -> int:
            return int(doc_vectors.shape[1])

        def fingerprint(self):
            return [0.0] * self.dimension

    return PrecomputedDense("synthetic-gaussian-384d", index_type=index_type, show_progress=False)


def _precomputed_splade(doc_matrix, query_matrix):
    from rerankit.retrievers.splade import SpladeRetriever

    class LookupEncoder:
        name, vocab_size = "synthetic-splade", int(doc_matrix.shape[1])

        def encode(self, texts, desc=""):
            return query_matrix[[int(t[1:]) for t in texts]]

    class PrecomputedSplade(SpladeRetriever):
        """rerankit's SPLADE retriever; its encoder is replaced by the synthetic vectors (query "q<i>" -> row i)."""

        def encode_documents(self, texts):
            if len(texts) != doc_matrix.shape[0]:
                raise ValueError("the precomputed vectors are for another corpus")
            return doc_matrix

        def _fingerprint(self):
            return {"vocab_size": LookupEncoder.vocab_size, "terms": [], "weights": []}

    r = PrecomputedSplade("synthetic-splade", show_progress=False)
    r._doc_encoder = LookupEncoder()
    return r


# ---- one measurement (runs in its own subprocess) -------------------------------------------------------------
def _inputs(kind: str, side: str, size: int, args) -> dict:
    """Everything the build and search take, generated before the peak counter is reset."""
    from rerankit.types import Document, Query

    out: dict = {}
    text_model = TextModel.fit(args.data_dir) if side == "rerankit" or kind == "bm25" else None
    if text_model is not None:
        texts = text_model.documents(size, args.seed)
        out["texts"] = texts
        if side == "rerankit":
            out["docs"] = [Document(i, t) for i, t in zip(doc_ids(size), texts)]
            del out["texts"]
    if kind == "bm25":
        q_texts = text_model.queries(args.queries, args.seed)
        out["queries"] = [Query(f"q{i}", t) for i, t in enumerate(q_texts)] if side == "rerankit" else q_texts
        return out
    mean, cov, sparse_model = load_calibration(args.work_dir)
    if kind.startswith("dense"):
        out["doc_vectors"] = gaussian_embeddings(mean, cov, size, args.seed)
        out["query_vectors"] = gaussian_embeddings(mean, cov, args.queries, args.seed + 1)
    else:
        out["doc_matrix"] = sparse_vectors(sparse_model, size, args.seed)
        out["query_matrix"] = sparse_vectors(sparse_model, args.queries, args.seed, queries=True)
    if side == "rerankit":
        out["queries"] = [Query(f"q{i}", f"q{i}") for i in range(args.queries)]
    return out


def _ops(kind: str, side: str, inp: dict, k: int):
    """(build() -> index, save(index, folder), search(index, n) -> top-10 int ids of the first N_AGREE queries)."""
    if side == "rerankit":
        # the libraries the retrievers import on first use are imported here, outside the timed build, as the
        # peers' are
        if kind == "bm25":
            import bm25s  # noqa: F401
        elif kind.startswith("dense"):
            import faiss  # noqa: F401
        else:
            import scipy.sparse  # noqa: F401

        def top_ids(run, n):
            return [[int(d[1:]) for d in r.ids()[:10]] for r in list(run.values())[:n]]

        if kind == "bm25":
            from rerankit.retrievers.bm25 import BM25Retriever

            def build():
                return BM25Retriever(show_progress=False).index(inp["docs"])
        elif kind.startswith("dense"):
            def build():
                r = _precomputed_dense(inp["doc_vectors"], inp["query_vectors"], kind.split("-")[1])
                return r.index(inp["docs"])
        else:
            def build():
                return _precomputed_splade(inp["doc_matrix"], inp["query_matrix"]).index(inp["docs"])

        def save(index, folder):
            index.save(folder)

        def search(index, n):
            return top_ids(index.search_many(inp["queries"][:n], k), N_AGREE)
        return build, save, search
    if kind == "bm25":
        return _bm25s_ops(inp, k)
    if kind.startswith("dense"):
        return _faiss_ops(kind, inp, k)
    return _scipy_ops(inp, k)


def _bm25s_ops(inp: dict, k: int):
    import bm25s

    from rerankit.retrievers.analysis import Analyzer

    ids = doc_ids(len(inp["texts"]))
    analyzer = Analyzer()  # rerankit's default analyzer: both sides index and search the same tokens

    def build():
        model = bm25s.BM25(k1=0.9, b=0.4, method="lucene", backend="numba")
        model.index(analyzer.many(inp["texts"]), show_progress=False)
        return model

    def save(model, folder):
        model.save(str(folder), show_progress=False)

    def search(model, n):
        vocab = model.vocab_dict
        tokens = [[t for t in analyzer(q) if t in vocab] for q in inp["queries"][:n]]
        found, scores = model.retrieve(tokens, k=k, show_progress=False)
        run = [{ids[i]: s for i, s in zip(found[j].tolist(), scores[j].tolist()) if s > 0} for j in range(n)]
        # trec_eval's order (score descending, ties by id descending), as rerankit orders
        return [[int(d[1:]) for d in sorted(r, key=lambda d: (r[d], d), reverse=True)[:10]] for r in run[:N_AGREE]]
    return build, save, search


def _faiss_ops(kind: str, inp: dict, k: int):
    import faiss

    x, q = inp["doc_vectors"], inp["query_vectors"]

    def build():
        if kind == "dense-flat":
            index = faiss.IndexFlatIP(x.shape[1])
        else:
            index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
        index.add(x)
        return index

    def save(index, folder):
        folder.mkdir(parents=True)
        faiss.write_index(index, str(folder / "index.faiss"))

    def search(index, n):
        if kind == "dense-hnsw":
            index.hnsw.efSearch = 128
        _, ids = index.search(q[:n], k)
        return ids[:N_AGREE, :10].tolist()
    return build, save, search


def _scipy_ops(inp: dict, k: int, chunk: int = 256):
    from scipy import sparse

    x, q = inp["doc_matrix"], inp["query_matrix"]

    def build():
        return x.T.tocsr()

    def save(postings, folder):
        folder.mkdir(parents=True)
        sparse.save_npz(str(folder / "postings.npz"), postings, compressed=False)

    def search(postings, n):
        out = []
        for start in range(0, n, chunk):
            scores = q[start:min(n, start + chunk)] @ postings
            for row in range(scores.shape[0]):
                lo, hi = scores.indptr[row], scores.indptr[row + 1]
                docs, vals = scores.indices[lo:hi], scores.data[lo:hi]
                if len(vals) > k:
                    top = np.argpartition(-vals, k - 1)[:k]
                    docs, vals = docs[top], vals[top]
                order = np.argsort(-vals, kind="stable")
                out.append(docs[order].tolist())
        return [ids[:10] for ids in out[:N_AGREE]]
    return build, save, search


def _folder_bytes(folder: Path) -> dict:
    files = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    return {"disk_bytes": sum(files.values()), "docstore_bytes": files.get("docs.jsonl", 0)}


def measure(kind: str, side: str, size: int, args) -> dict:
    load_start = os.getloadavg()
    w, c = time.time(), time.process_time()
    inp = _inputs(kind, side, size, args)
    gen_wall, gen_cpu = time.time() - w, time.process_time() - c
    build, save, search = _ops(kind, side, inp, args.k)
    gc.collect()
    inputs_rss = _status("VmRSS")
    reset_peak()
    w, c = time.time(), time.process_time()
    index = build()
    build_wall, build_cpu = time.time() - w, time.process_time() - c
    build_peak = _status("VmHWM")

    folder = args.work_dir / "indexes" / f"{size}-{kind}-{side}"
    shutil.rmtree(folder, ignore_errors=True)
    w, c = time.time(), time.process_time()
    save(index, folder)
    save_wall, save_cpu = time.time() - w, time.process_time() - c
    disk = _folder_bytes(folder)
    shutil.rmtree(folder)

    search(index, 10)  # warm-up (bm25s compiles its numba kernel in every process)
    walls, cpus = [], []
    for _ in range(args.search_rounds):  # the median round: one round of a short search is noisy
        w, c = time.time(), time.process_time()
        top = search(index, args.queries)
        walls.append(time.time() - w)
        cpus.append(time.process_time() - c)
    search_wall, search_cpu = float(np.median(walls)), float(np.median(cpus))
    np.save(args.work_dir / "topids" / f"{size}-{kind}-{side}.npy",
            np.array([row + [-1] * (10 - len(row)) for row in top], dtype=np.int64))
    return {"size": size, "kind": kind, "side": side, "peer": PEERS[kind] if side == "peer" else "rerankit",
            "seed": args.seed, "queries": args.queries, "k": args.k, "version": VERSION,
            "generate_wall_s": gen_wall, "generate_cpu_s": gen_cpu,
            "build_wall_s": build_wall, "build_cpu_s": build_cpu, "inputs_rss_bytes": inputs_rss,
            "build_peak_rss_bytes": build_peak, "peak_rss_bytes": _status("VmHWM"),
            "save_wall_s": save_wall, "save_cpu_s": save_cpu, **disk,
            "search_wall_s": search_wall, "search_cpu_s": search_cpu, "search_rounds": args.search_rounds,
            "search_cpu_s_rounds": cpus,
            "qps_wall": args.queries / search_wall, "qps_cpu": args.queries / search_cpu,
            "load_start": list(load_start), "load_end": list(os.getloadavg()), "extra": _extra(kind, side, index),
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def _extra(kind: str, side: str, index) -> dict:
    if kind == "bm25":
        model = index._bm25 if side == "rerankit" else index
        return {"vocabulary": len(model.vocab_dict), "postings": int(len(model.scores["data"]))}
    if kind == "splade":
        nnz = index.sparse_index.nnz if side == "rerankit" else index.nnz
        return {"postings": int(nnz)}
    return {}


# ---- orchestration --------------------------------------------------------------------------------------------
def _key(row: dict) -> tuple:
    return (row["size"], row["kind"], row["side"], row["seed"], row["queries"], row["k"], row["version"])


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def run_worker(cmd: list[str], timeout: float, max_rss: float, min_available: float) -> tuple[int, str]:
    """Run a measurement subprocess; kill it when it passes `max_rss` bytes or `timeout` seconds, or when the
    machine's available memory falls under `min_available` bytes (the machine is shared: never push others into
    the OOM killer)."""
    proc = subprocess.Popen(cmd)
    start = time.time()
    while proc.poll() is None:
        rss, free = _status("VmRSS", str(proc.pid)), _available_bytes()
        why = (f"its RSS reached {rss / 2**30:.1f} GiB (limit {max_rss / 2**30:.1f})" if rss > max_rss else
               f"the machine had only {free / 2**30:.1f} GiB available" if free < min_available else
               f"it ran over {timeout:.0f} s" if time.time() - start > timeout else "")
        if why:
            proc.kill()
            proc.wait()
            return -9, why
        time.sleep(0.5)
    return proc.returncode, ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--search-rounds", type=int, default=3, help="search timings per measurement (the median)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calib-docs", type=int, default=1000)
    ap.add_argument("--calib-splade-docs", type=int, default=300)
    ap.add_argument("--recalibrate", action="store_true", help="measure the encoders again")
    ap.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "rerankit-scaling")
    ap.add_argument("--out-dir", type=Path, default=HERE / "results")
    ap.add_argument("--timeout", type=float, default=5400, help="seconds per measurement")
    ap.add_argument("--max-rss-gb", type=float, default=9.0)
    ap.add_argument("--min-available-gb", type=float, default=1.0,
                    help="stop a measurement when the machine's available memory falls below this")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--again", action="store_true",
                    help="measure the chosen sizes, kinds and sides again, replacing their rows (after a change)")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "SIDE", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    (args.work_dir / "topids").mkdir(exist_ok=True)

    if args.worker:
        kind, side, size = args.worker
        if kind == "calibration":
            result = calibrate(args)
        else:
            result = measure(kind, side, int(size), args)
        args.result.write_text(json.dumps(result))
        return

    from scaling_report import write_report

    rows_path = args.out_dir / "scaling.jsonl"
    calib_path = args.out_dir / "scaling_calibration.json"
    failed_path = args.out_dir / "scaling_not_measured.jsonl"
    if not args.report_only:
        if args.data_dir is None:
            ap.error("--data-dir (or RERANKIT_DATA_DIR) is needed to generate the corpora")
        base = [sys.executable, __file__, "--data-dir", str(args.data_dir), "--queries", str(args.queries),
                "-k", str(args.k), "--seed", str(args.seed), "--work-dir", str(args.work_dir),
                "--search-rounds", str(args.search_rounds),
                "--calib-docs", str(args.calib_docs), "--calib-splade-docs", str(args.calib_splade_docs)]
        result = args.work_dir / "result.json"
        need_vectors = any(k != "bm25" for k in args.kinds)
        if need_vectors and (args.recalibrate or not (args.work_dir / CALIBRATION).is_file()
                             or not calib_path.is_file()):
            print("calibration: encoding real passages with all-MiniLM-L6-v2 and splade-tiny", flush=True)
            rc, why = run_worker([*base, "--worker", "calibration", "-", "0", "--result", str(result)],
                                 args.timeout, args.max_rss_gb * 2**30,
                                 args.min_available_gb * 2**30)
            if rc != 0:
                sys.exit(f"calibration failed ({why or f'exit {rc}'})")
            calib_path.write_text(json.dumps(json.loads(result.read_text()), indent=2) + "\n")
        if args.again:  # the chosen rows are measured anew: the old ones stay only in git history
            chosen = {(size, kind, side) for size in args.sizes for kind in args.kinds for side in args.sides}
            kept = [r for r in read_rows(rows_path) if (r["size"], r["kind"], r["side"]) not in chosen]
            rows_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        done = {_key(r) for r in read_rows(rows_path)}
        for size in args.sizes:
            for kind in args.kinds:
                for side in args.sides:
                    probe = {"size": size, "kind": kind, "side": side, "seed": args.seed, "queries": args.queries,
                             "k": args.k, "version": VERSION}
                    if _key(probe) in done:
                        print(f"{size:>9,} {kind:<10} {side:<8} already measured", flush=True)
                        continue
                    result = args.work_dir / f"result-{size}-{kind}-{side}.json"  # runs may go side by side
                    result.unlink(missing_ok=True)
                    print(f"{size:>9,} {kind:<10} {side:<8} measuring...", flush=True)
                    rc, why = run_worker([*base, "--worker", kind, side, str(size), "--result", str(result)],
                                         args.timeout, args.max_rss_gb * 2**30, args.min_available_gb * 2**30)
                    if rc != 0 or not result.is_file():
                        why = why or f"exit status {rc}"
                        print(f"{size:>9,} {kind:<10} {side:<8} NOT MEASURED: {why}", flush=True)
                        with open(failed_path, "a") as f:
                            f.write(json.dumps({**probe, "why": why, "at": time.strftime("%H:%M UTC", time.gmtime()),
                                                "load": list(os.getloadavg())}) + "\n")
                        continue
                    row = json.loads(result.read_text())
                    with open(rows_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(f"{size:>9,} {kind:<10} {side:<8} build {row['build_wall_s']:.1f} s wall "
                          f"({row['build_cpu_s']:.1f} CPU s), peak {row['build_peak_rss_bytes'] / 2**30:.2f} GiB, "
                          f"disk {row['disk_bytes'] / 2**20:.0f} MiB, {row['qps_cpu']:.0f} q/CPU-s", flush=True)
    write_report(read_rows(rows_path), json.loads(calib_path.read_text()) if calib_path.is_file() else None,
                 args.work_dir / "topids", args.out_dir, read_rows(failed_path))


if __name__ == "__main__":
    main()
