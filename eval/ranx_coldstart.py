"""Measure the cold and warm cost of `rerankit.evaluation.evaluate` (ranx compiles numba code on first use).

Each measurement is a fresh Python process. "cold": NUMBA_CACHE_DIR points at an empty temporary folder, so every
ranx function the metrics need is compiled; "warm": the same folder again, now filled by the cold run. Prints a
Markdown table of seconds: the evaluate call alone (wall clock and CPU time; CPU time is steadier on a busy
machine) and the whole process including imports and reading files.

    python eval/ranx_coldstart.py [--data-dir ../shared/data] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

METRIC_SETS = {
    "nDCG@10": "ndcg@10",
    "default (nDCG@10, R@100)": "ndcg@10,recall@100",
    "all families": "ndcg@10,map,mrr@10,recall@100,p@10,judged@10",
}

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from rerankit.evaluation import evaluate
from rerankit.runs import read_qrels, read_trec_run
run = read_trec_run(sys.argv[1]); qrels = read_qrels(sys.argv[2])
t1, c1 = time.perf_counter(), time.process_time()
scores = evaluate(run, qrels, sys.argv[3], relevance_level=2)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"evaluate": t2 - t1, "cpu": c2 - c1, "process": t2 - t0, "scores": scores}))
"""


def measure(run: Path, qrels: Path, metrics: str, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", CHILD, str(run), str(qrels), metrics], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get("RERANKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data-dir", default=default_data)
    parser.add_argument("--repeats", type=int, default=1, help="cold/warm pairs per metric set (median reported)")
    args = parser.parse_args()
    folder = Path(args.data_dir) / "msmarco-passage" / "trec-dl-2019"
    run, qrels = folder / "run.bm25.dl19.top100.rank_llm_data.trec", folder / "qrels.dl19-passage.txt"

    print(f"DL19 BM25 run (43 queries x 100 docs), python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("| metrics | cold evaluate (s) | cold evaluate CPU (s) | cold process (s) | warm evaluate (s) "
          "| warm evaluate CPU (s) | warm process (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, metrics in METRIC_SETS.items():
        cold, warm = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
                cold.append(measure(run, qrels, metrics, cache))
                warm.append(measure(run, qrels, metrics, cache))
        assert cold[0]["scores"] == warm[0]["scores"]

        def med(rows: list[dict], key: str) -> str:
            return f"{statistics.median(r[key] for r in rows):.2f}"

        print(f"| {label} | {med(cold, 'evaluate')} | {med(cold, 'cpu')} | {med(cold, 'process')} | "
              f"{med(warm, 'evaluate')} | {med(warm, 'cpu')} | {med(warm, 'process')} |")


if __name__ == "__main__":
    main()
