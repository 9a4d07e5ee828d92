"""Load test of the HTTP service on localhost: N concurrent clients against /search (BM25 + a reranker).

Starts `rerankit serve` on a free localhost port over a BM25 index of BEIR SciFact, waits for /ready, then runs
`--clients` concurrent clients that send SciFact test queries until `--requests` requests were sent or
`--duration` seconds passed (whichever first), and prints p50/p95/p99 latency, errors and the server's
micro-batching counters as a markdown table (also written to --output when given). Then stops the server with
SIGTERM (graceful shutdown) and checks it went down.

With `--max-queue N` the server holds at most N requests; the rest are shed with 503 + Retry-After, and a shed
client waits that long before its next request. `--impatient F` makes that fraction of the clients hang up
after `--impatient-timeout` seconds (as a client with a short timeout does); the server must drop their queued
requests without computing them. Checked and counted: every non-200 answer is the JSON error schema, every 503
carries Retry-After, the server's shed count equals the 503s the clients saw, and requests dropped from the
queue never reached the reranker.

    python eval/load_test.py --data-dir ../shared/data --clients 50 --requests 300 --duration 120 \
        --max-queue 16 --impatient 0.2 --impatient-timeout 2

The default reranker is the cross-encoder method on the packaged all-MiniLM-L6-v2 encoder: the same architecture
and cost as cross-encoder/ms-marco-MiniLM-L6-v2, but its classification head is untrained, so this measures
serving speed, not ranking quality. `--reranker yes-no --model smollm2-135m-instruct` uses a small LLM instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from rerankit.server.ports import free_local_port


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


def _is_error_schema(resp: httpx.Response) -> bool:
    """True if `resp` is the service's JSON error body {"error": str, "type": str, "detail": list | null}."""
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return False
    try:
        body = resp.json()
    except ValueError:
        return False
    return (isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("type"), str)
            and "detail" in body)


async def run_clients(base: str, queries: list[str], args: argparse.Namespace) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    c = {"sent": 0, "ok": 0, "shed": 0, "shed_no_retry_after": 0, "non_json": 0, "hung_up": 0, "waited_s": 0.0}
    t_end = time.monotonic() + args.duration
    n_impatient = round(args.clients * args.impatient)
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)

    def count(key: str) -> None:
        errors[key] = errors.get(key, 0) + 1

    async def client(cid: int, http: httpx.AsyncClient) -> None:
        timeout = args.impatient_timeout if cid < n_impatient else args.request_timeout
        while c["sent"] < args.requests and time.monotonic() < t_end:
            q = queries[c["sent"] % len(queries)]
            c["sent"] += 1
            t0 = time.perf_counter()
            try:
                resp = await http.post("/search", json={"query": q, "k": args.k}, timeout=timeout)
            except httpx.TimeoutException:
                c["hung_up"] += 1  # this client gave up: httpx closes the connection, the server sees it go
                continue
            except httpx.HTTPError as exc:
                count(type(exc).__name__)
                continue
            if resp.status_code == 200:
                c["ok"] += 1
                latencies.append(time.perf_counter() - t0)
                continue
            if not _is_error_schema(resp):
                c["non_json"] += 1
                count(f"HTTP {resp.status_code} (not the JSON error schema): {resp.text[:80]}")
                continue
            if resp.status_code == 503 and resp.json()["type"] == "overloaded":
                c["shed"] += 1
                wait = resp.headers.get("retry-after")
                if wait is None:
                    c["shed_no_retry_after"] += 1
                    wait = "1"
                pause = min(float(wait), max(0.0, t_end - time.monotonic()))
                c["waited_s"] += pause
                await asyncio.sleep(pause)  # do as the server asks
                continue
            count(f"HTTP {resp.status_code} {resp.json()['type']}: {resp.json()['error'][:80]}")

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=args.request_timeout, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(args.clients)))
    wall = time.perf_counter() - t0
    return {"latencies": latencies, "errors": errors, "wall": wall, "impatient": n_impatient, **c}


def _settled(base: str, timeout: float = 120.0) -> dict:
    """The server's /stats once every admitted request has finished (hung-up ones are noticed and dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = httpx.get(f"{base}/stats", timeout=10).json()
        if stats["requests"]["in_flight"] == 0 and all(s["pending"] == 0 for s in stats["stages"].values()):
            return stats
        if time.monotonic() > deadline:
            return stats
        time.sleep(0.5)


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
    ap.add_argument("--max-queue", type=int, default=256, help="the server's --max-queue (requests held at once)")
    ap.add_argument("--impatient", type=float, default=0.0,
                    help="fraction of the clients that hang up after --impatient-timeout seconds")
    ap.add_argument("--impatient-timeout", type=float, default=2.0)
    ap.add_argument("--request-timeout", type=float, default=300.0)
    ap.add_argument("--output", help="also write the markdown table here")
    args = ap.parse_args()

    from rerankit.data import load_dataset

    queries = [q.text for q in load_dataset("beir/scifact", data_dir=args.data_dir).queries.values()]
    with tempfile.TemporaryDirectory(prefix="rerankit-load-") as tmp:
        cfg = build_config(Path(tmp), args.data_dir, args)
        port = free_local_port()
        base = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "server.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "rerankit.cli", "serve", "--config", str(cfg), "--port",
                                 str(port), "--max-batch", str(args.max_batch), "--max-candidates", "100",
                                 "--max-queue", str(args.max_queue)],
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
            full = _settled(base)
            stats, served = full["stages"], full["requests"]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(120)
            log.close()
    lat = res["latencies"]
    n_err = sum(res["errors"].values())
    rr = stats["rerank"]
    checks = {
        "no non-JSON error answer": res["non_json"] == 0,
        "every 503 has Retry-After": res["shed_no_retry_after"] == 0,
        "server shed count = 503s seen": served["shed"] == res["shed"],
        "admitted = completed + disconnected + failed": served["admitted"] == served["completed"]
        + served["disconnected"] + served["failed"],
        "hang-ups dropped uncomputed": res["hung_up"] == 0 or 0 < served["not_computed"] <= served["disconnected"],
    }
    rows = [
        ("clients", f"{args.clients} ({res['impatient']} hang up after {args.impatient_timeout:g} s)"),
        ("requests sent / ok / shed (503) / hung up / other errors",
         f"{res['sent']} / {res['ok']} / {res['shed']} / {res['hung_up']} / {n_err}"),
        ("non-JSON error answers / 503 without Retry-After", f"{res['non_json']} / {res['shed_no_retry_after']}"),
        ("server: max_queue / admitted / completed / shed / disconnected",
         f"{served['max_queue']} / {served['admitted']} / {served['completed']} / {served['shed']} / "
         f"{served['disconnected']}"),
        ("server: dropped from a queue uncomputed / requests the reranker computed",
         f"{served['not_computed']} / {rr['items']}"),
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
        ("checks", ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print(table)
    if res["errors"]:
        print("errors:", res["errors"])
    if args.output:
        Path(args.output).write_text(table + "\n")
    return 1 if n_err or not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
