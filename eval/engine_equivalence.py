"""Same prompts, same scores: yes/no relevance scores of DL19 BM25 candidates through three engines.

Starts a real OpenAI-compatible server (llama-cpp-python's, serving the packaged model's GGUF) on localhost and
scores the same (query, passage) prompts through `transformers` (the GGUF dequantised to fp32), `openai` (that
server) and `llamacpp` (llama-cpp-python in process). Prints a Markdown table of score differences against
transformers and of ranking agreement (Kendall tau per query, averaged).

    python eval/engine_equivalence.py --data-dir ../shared/data --model qwen2.5-coder-0.5b-instruct \
        --queries 3 --depth 10
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from scipy.stats import kendalltau

from rerankit.data import load_dataset
from rerankit.engines import get_engine
from rerankit.engines.models import resolve_gguf, resolve_model
from rerankit.rerankers.pointwise import YesNoReranker


def start_server(gguf: str, threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads),
                             "--model_alias", "served"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start in 180 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--queries", type=int, default=3)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for every engine")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # same thread count for all three engines

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    run = ds.candidates("bm25")
    rankings = [run[q].top(args.depth) for q in list(run)[: args.queries]]
    path = resolve_model(args.model)
    gguf = resolve_gguf(args.model)
    proc, url = start_server(gguf, args.threads)
    try:
        engines = {
            "transformers": lambda: get_engine("transformers", path),
            "openai (llama-cpp-python server)": lambda: get_engine("openai", "served", base_url=url, tokenizer=path),
            "llamacpp (in process)": lambda: get_engine("llamacpp", gguf, tokenizer=path, n_ctx=4096,
                                                        n_threads=args.threads),
        }
        scores, times = {}, {}
        for name, make in engines.items():
            engine = make()
            rr = YesNoReranker(engine=engine, progress=False)
            t0 = time.perf_counter()
            out = rr.rerank_many(rankings)
            times[name] = time.perf_counter() - t0
            scores[name] = {r.query.id: r.scores() for r in out}
            engine.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    ref = scores["transformers"]
    n = sum(len(v) for v in ref.values())
    print(f"\nyes/no scores (log P(Yes) - log P(No)) of {n} DL19 BM25 pairs ({len(rankings)} queries x top-"
          f"{args.depth}), model {Path(path).name}; differences against transformers\n")
    print("| engine | max abs diff | mean abs diff | mean Kendall tau vs transformers | time (s) |")
    print("|---|---|---|---|---|")
    for name, got in scores.items():
        diffs = [abs(got[q][d] - ref[q][d]) for q in ref for d in ref[q]]
        taus = []
        for q in ref:
            docs = sorted(ref[q])
            taus.append(kendalltau([ref[q][d] for d in docs], [got[q][d] for d in docs]).statistic)
        print(f"| {name} | {max(diffs):.4f} | {sum(diffs) / len(diffs):.4f} | {sum(taus) / len(taus):.3f} | "
              f"{times[name]:.1f} |")


if __name__ == "__main__":
    main()
