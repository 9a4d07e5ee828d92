"""What content keys and checksums cost: stage-cache digests and records, BM25 index verification, corpus fingerprints.

    python eval/store_overhead.py --data-dir ../shared/data [--rankings 1000] [--repeats 3]

Rankings are the shipped TREC DL19 BM25 top-100 with passage text (43 queries, cycled to --rankings). Each row is
timed in this one process against its peer (the work the cache or the index load does anyway), best of --repeats,
and the machine's load average is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("--rankings", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from rerankit.cache import StageCache, ranking_to_json
    from rerankit.data import load_dataset
    from rerankit.fingerprint import ranking_digest
    from rerankit.retrievers.bm25 import BM25Retriever

    dl19 = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    shipped = list(dl19.candidates("bm25").values())
    rankings = [shipped[i % len(shipped)] for i in range(args.rankings)]
    hits = sum(len(r) for r in rankings)
    rows = []

    t_digest = best(lambda: [ranking_digest(r) for r in rankings], args.repeats)
    t_json = best(lambda: [json.dumps(ranking_to_json(r)) for r in rankings], args.repeats)
    rows.append((f"digest of {args.rankings} input rankings ({hits} hits)", t_digest,
                 "JSON-encoding the same rankings (what writing them to the cache costs)", t_json))

    with tempfile.TemporaryDirectory() as tmp:
        cache = StageCache(tmp, "bench")
        digests = [ranking_digest(r) for r in rankings]
        t_append = best(lambda: (cache.path.unlink(missing_ok=True),
                                 cache.append([(d, r, 0.1) for d, r in zip(digests, rankings)])), args.repeats)
        lines = cache.path.read_bytes().split(b"\n")[:-1]
        t_load = best(cache.load, args.repeats)
        t_parse = best(lambda: [json.loads(line.partition(b" ")[2]) for line in lines], args.repeats)
        rows.append((f"cache write of {args.rankings} records (checksummed, fsynced)", t_append,
                     "-", None))
        rows.append((f"cache load of {args.rankings} records (checksums verified)", t_load,
                     "JSON-parsing the same lines only", t_parse))

        scifact = load_dataset("beir/scifact", data_dir=args.data_dir)
        t_fp = best(scifact.corpus_fingerprint, args.repeats)
        rows.append(("SciFact corpus fingerprint (file name, size, mtime)", t_fp, "-", None))
        bm25 = BM25Retriever(show_progress=False).index(scifact.corpus.values())
        idx = Path(tmp) / "scifact-bm25"
        bm25.save(idx)
        size = sum(f.stat().st_size for f in idx.rglob("*") if f.is_file()) / 2**20
        t_verified = best(lambda: BM25Retriever.load(idx, show_progress=False), args.repeats)
        t_plain = best(lambda: BM25Retriever.load(idx, verify=False, show_progress=False), args.repeats)
        rows.append((f"SciFact BM25 index load, checksums verified ({size:.1f} MB)", t_verified,
                     "the same load with verify=False", t_plain))

    print(f"load average {os.getloadavg()[0]:.1f} / {os.getloadavg()[1]:.1f} (1 / 5 min), best of {args.repeats}\n")
    print("| work | ms | peer | peer ms | ratio |")
    print("|---|---|---|---|---|")
    for what, t, peer, tp in rows:
        ratio = f"{t / tp:.2f}x" if tp else "-"
        print(f"| {what} | {t * 1000:.1f} | {peer} | {tp * 1000:.1f} | {ratio} |" if tp else
              f"| {what} | {t * 1000:.1f} | {peer} | - | - |")


if __name__ == "__main__":
    main()
