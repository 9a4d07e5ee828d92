"""Same prompts, same scores: yes/no scores and FIRST windows of DL19 BM25 candidates through several engines.

Every engine scores the same (query, passage) prompts with the yes-no reranker and ranks the same FIRST windows;
differences are measured against transformers. Engines (``--engines``, run one after the other, each loaded and
closed in turn, servers started on localhost and stopped):

- ``transformers``: the packaged model in float32 (the reference);
- ``vllm``: vLLM in process (the CPU build here; float32, eager, 1 GiB KV cache);
- ``openai-vllm``: the openai engine against a real ``vllm serve`` of the same folder, same settings (exact
  log-probabilities of the requested token ids through ``/v1/completions``);
- ``openai-llamacpp``: the openai engine against llama-cpp-python's server serving the packaged GGUF (Q4 weights);
- ``llamacpp``: llama-cpp-python in process, the same GGUF.

    python eval/engine_equivalence.py --data-dir ../shared/data --model qwen2.5-coder-0.5b-instruct \\
        --queries 2 --depth 20 --engines transformers,vllm,openai-vllm

Prints a Markdown table: max and mean |score difference| (nats of log P(yes) - log P(no)), mean Kendall tau of
the yes-no orders, FIRST windows with the same order as transformers, max |FIRST label logprob difference|, time.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from scipy.stats import kendalltau

from rerankit.data import load_dataset
from rerankit.engines import get_engine
from rerankit.engines.models import resolve_gguf, resolve_model
from rerankit.rerankers.first import FirstReranker
from rerankit.rerankers.pointwise import YesNoReranker
from rerankit.server.ports import free_local_port

ENGINES = ("transformers", "vllm", "openai-vllm", "openai-llamacpp", "llamacpp")


@contextmanager
def server(cmd: list[str], ready: str, timeout: float, env: dict[str, str] | None = None):
    """Run a server command in its own process group until `ready` (a URL) answers 200; stop it afterwards."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[2:5]} exited with code {proc.returncode}")
            try:
                if httpx.get(ready, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"{cmd[2:5]} did not answer {ready} within {timeout:.0f} s")
            time.sleep(1)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def engine_for(name: str, args, path: str):
    """Yield a loaded engine (and its server, if any); close both afterwards."""
    if name == "transformers":
        engine = get_engine("transformers", path, dtype="float32", batch_size=8)
    elif name == "vllm":
        engine = get_engine("vllm", path, dtype="float32", max_model_len=4096, kv_cache_gib=1, enforce_eager=True)
    elif name == "llamacpp":
        engine = get_engine("llamacpp", resolve_gguf(args.model), tokenizer=path, n_ctx=4096, n_threads=args.threads)
    else:
        port = free_local_port()
        if name == "openai-vllm":
            cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", path,  # = vllm serve
                   "--served-model-name", "served",
                   "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
                   "--max-model-len", "4096", "--seed", "0"]
            ready, env = f"http://127.0.0.1:{port}/health", {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
        else:
            cmd = [sys.executable, "-m", "llama_cpp.server", "--model", resolve_gguf(args.model), "--host",
                   "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(args.threads),
                   "--model_alias", "served"]
            ready, env = f"http://127.0.0.1:{port}/v1/models", None
        with server(cmd, ready, args.server_timeout, env):
            engine = get_engine("openai", "served", base_url=f"http://127.0.0.1:{port}/v1", tokenizer=path,
                                concurrency=8)
            try:
                yield engine
            finally:
                engine.close()
        return
    try:
        yield engine
    finally:
        engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--engines", default="transformers,vllm,openai-vllm", help=f"comma-separated, from {ENGINES}")
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--depth", type=int, default=20, help="yes-no pairs and FIRST candidates per query")
    ap.add_argument("--window", type=int, default=10, help="FIRST window (stride = window / 2)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for llama.cpp")
    ap.add_argument("--server-timeout", type=float, default=600, help="seconds a server may take to start")
    args = ap.parse_args()
    names = [n for n in args.engines.split(",") if n]
    if names[0] != "transformers" or any(n not in ENGINES for n in names):
        raise SystemExit(f"--engines must start with transformers (the reference) and name only {ENGINES}")

    ds = load_dataset("msmarco-passage/trec-dl-2019", data_dir=args.data_dir)
    run = ds.candidates("bm25")
    rankings = [run[q].top(args.depth) for q in list(run)[: args.queries]]
    path = resolve_model(args.model)
    scores, windows, times, loads = {}, {}, {}, {}
    for name in names:
        with engine_for(name, args, path) as engine:
            loads[name] = os.getloadavg()[0]
            t0 = time.perf_counter()
            out = YesNoReranker(engine=engine, template="yes-no", depth=args.depth, batch_size=256,
                                progress=False).rerank_many(rankings)
            scores[name] = {r.query.id: r.scores() for r in out}
            first = FirstReranker(engine=engine, depth=args.depth, window_size=args.window,
                                  stride=args.window // 2, keep_history=True, progress=False).rerank_many(rankings)
            windows[name] = [h for r in first for h in r.meta["first"]["history"]]
            times[name] = time.perf_counter() - t0
            print(f"{name}: {times[name]:.1f} s", flush=True)

    ref, ref_w = scores["transformers"], windows["transformers"]
    n = sum(len(v) for v in ref.values())
    print(f"\n{n} DL19 BM25 pairs ({len(rankings)} queries x top-{args.depth}) scored by yes-no and {len(ref_w)} FIRST "
          f"windows of {args.window} (stride {args.window // 2}), model {Path(path).name}; against transformers "
          "float32\n")
    print("| engine | yes-no max abs diff | mean abs diff | mean Kendall tau | FIRST same window orders | "
          "FIRST max label logprob diff | time (s) | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        got = scores[name]
        diffs = [abs(got[q][d] - ref[q][d]) for q in ref for d in ref[q]]
        taus = []
        for q in ref:
            docs = sorted(ref[q])
            taus.append(kendalltau([ref[q][d] for d in docs], [got[q][d] for d in docs]).statistic)
        w = windows[name]
        assert [h["prompt"] for h in w] == [h["prompt"] for h in ref_w], f"{name} saw different FIRST prompts"
        same = sum(a["permutation"] == b["permutation"] for a, b in zip(w, ref_w))
        lp = max(abs(a["logprobs"][k] - b["logprobs"][k]) for a, b in zip(w, ref_w) for k in b["logprobs"])
        print(f"| {name} | {max(diffs):.1e} | {sum(diffs) / len(diffs):.1e} | {sum(taus) / len(taus):.3f} | "
              f"{same}/{len(ref_w)} | {lp:.1e} | {times[name]:.1f} | {loads[name]:.1f} |")


if __name__ == "__main__":
    main()
