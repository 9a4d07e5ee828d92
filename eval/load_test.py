"""Load test of the HTTP service on localhost: N concurrent clients against /search (BM25 + a reranker).

Starts `rerankit serve` on a free localhost port over a BM25 index of BEIR SciFact, waits for /ready, then runs
`--clients` concurrent clients that send SciFact test queries until `--requests` requests were sent or
`--duration` seconds passed (whichever first), and prints p50/p95/p99 latency, errors and the server's
micro-batching counters as a markdown table (also written to --output when given). Then stops the server with
SIGTERM (graceful shutdown) and checks it went down.

    python eval/load_test.py --data-dir ../shared/data --clients 50 --requests 400 --duration 240

The default reranker is the cross-encoder method on the packaged all-MiniLM-L6-v2 encoder: the same architecture
and cost as cross-encoder/ms-marco-MiniLM-L6-v2, but its classification head is untrained, so this measures
serving speed, not ranking quality. `--reranker yes-no --model smollm2-135m-instruct` uses a small LLM instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def build_config(workdir: Path, data_dir: str | None, args: argparse.Namespace) -> Path:
    from rerankit.data import load_dataset
    from rerankit.retrievers.bm25 import BM25Retriever

    ds = load_dataset("beir/scifact", data_dir=data_dir)
    BM25Retriever(show_progress=False).index(ds.corpus.values()).save(workdir / "index")
    reranker = {"name": args.reranker, "model": args.model, "depth": args.depth, "progress": False}
    if args.reranker == "cross-encoder":
        reranker["max_length"] = args.max_length
        reranker["allow_untrained_head"] = True  # the packaged encoder has no trained head (see above)
    cfg = workdir / "pipeline.yaml"
    cfg.write_text(yaml.safe_dump({"retriever": {"index": "index"}, "rerankers": [reranker], "k": args.depth}))
    return cfg


async def run_clients(base: str, queries: list[str], args: argparse.Namespace) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    t_end = time.monotonic() + args.duration
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)

    async def client(cid: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < args.requests and time.monotonic() < t_end:
            q = queries[sent % len(queries)]
            sent += 1
            t0 = time.perf_counter()
            try:
                resp = await http.post("/search", json={"query": q, "k": args.k})
                if resp.status_code != 200:
                    key = f"HTTP {resp.status_code}: {resp.text[:80]}"
                    errors[key] = errors.get(key, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)
            except httpx.HTTPError as exc:
                key = f"{type(exc).__name__}"
                errors[key] = errors.get(key, 0) + 1

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=args.request_timeout, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(args.clients)))
    wall = time.perf_counter() - t0
    return {"latencies": latencies, "errors": errors, "sent": sent, "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR"))
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=400, help="stop after this many requests in all")
    ap.add_argument("--duration", type=float, default=240.0, help="stop sending after this many seconds")
    ap.add_argument("--reranker", default="cross-encoder")
    ap.add_argument("--model", default="all-MiniLM-L6-v2", help="reranker model (id, path or packaged name)")
    ap.add_argument("--depth", type=int, default=20, help="candidates retrieved and reranked per query")
    ap.add_argument("--max-length", type=int, default=256, help="cross-encoder max tokens per pair")
    ap.add_argument("--k", type=int, default=10, help="hits returned per request")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--request-timeout", type=float, default=300.0)
    ap.add_argument("--output", help="also write the markdown table here")
    args = ap.parse_args()

    from rerankit.data import load_dataset

    queries = [q.text for q in load_dataset("beir/scifact", data_dir=args.data_dir).queries.values()]
    with tempfile.TemporaryDirectory(prefix="rerankit-load-") as tmp:
        cfg = build_config(Path(tmp), args.data_dir, args)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "server.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "rerankit.cli", "serve", "--config", str(cfg), "--port",
                                 str(port), "--max-batch", str(args.max_batch), "--max-candidates", "100"],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    print((Path(tmp) / "server.log").read_text(), file=sys.stderr)
                    raise SystemExit("the server did not become ready")
                time.sleep(0.5)
            load_before = os.getloadavg()[0]
            res = asyncio.run(run_clients(base, queries, args))
            stats = httpx.get(f"{base}/stats", timeout=10).json()["stages"]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(120)
            log.close()
    lat = res["latencies"]
    n_err = sum(res["errors"].values())
    rr = stats["rerank"]
    rows = [
        ("clients", f"{args.clients}"),
        ("requests sent / ok / errors", f"{res['sent']} / {len(lat)} / {n_err}"),
        ("pipeline", f"BM25 (SciFact, 5183 docs) top-{args.depth} -> {args.reranker} ({Path(args.model).name}), "
                     f"k={args.k}"),
        ("latency p50 / p95 / p99 / max (s)",
         f"{_pct(lat, 50):.2f} / {_pct(lat, 95):.2f} / {_pct(lat, 99):.2f} / {max(lat) if lat else float('nan'):.2f}"),
        ("latency mean (s)", f"{statistics.fmean(lat):.2f}" if lat else "nan"),
        ("throughput (req/s)", f"{len(lat) / res['wall']:.2f}"),
        ("wall time (s)", f"{res['wall']:.1f}"),
        ("rerank batches / mean size / largest", f"{rr['batches']} / {rr['mean_batch']} / {rr['largest_batch']}"),
        ("server CPU load average at start (1 min)", f"{load_before:.1f} on {os.cpu_count()} cores"),
        ("server exit after SIGTERM", "clean" if code in (0, -signal.SIGTERM) else f"code {code}"),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print(table)
    if res["errors"]:
        print("errors:", res["errors"])
    if args.output:
        Path(args.output).write_text(table + "\n")
    return 1 if n_err else 0


if __name__ == "__main__":
    sys.exit(main())
