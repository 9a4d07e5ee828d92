"""A real OpenAI-compatible vLLM server for the engine tests: ``vllm serve`` on localhost, once per test session."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rerankit.server.ports import free_local_port

SERVED_NAME = "qwen"
START_TIMEOUT = float(os.environ.get("RERANKIT_TEST_SERVER_TIMEOUT", "600"))  # s; a busy 2-core box loads in 3-5 min


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


class _VllmServe:
    """One ``vllm serve`` process: started early (it takes 1.5-2.5 minutes to load, mostly three processes importing
    torch and vLLM), waited for by the fixture that uses it."""

    def __init__(self, model: Path, log_path: Path) -> None:
        self.port, self.log_path = free_local_port(), log_path
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
        env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # the server as users start it
        # = `vllm serve PATH ...`; the `vllm` command itself fails on vllm-cpu 0.32 (it looks up the version of a
        # distribution named "vllm"), the API server module takes the same options on every build.
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", SERVED_NAME,
               "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32", "--enforce-eager",
               "--max-model-len", "4096", "--seed", "0", "--enable-prefix-caching"]
        with log_path.open("w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> str:
        """The ``/v1`` base URL once ``/health`` answers 200; fails the test if the server exits or times out."""
        deadline = time.time() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text()[-2000:]
                pytest.fail(f"vllm serve exited with code {self.proc.returncode}; log {self.log_path}:\n{tail}")
            try:
                if httpx.get(f"{self.base}/health", timeout=5).status_code == 200:
                    return f"{self.base}/v1"
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                pytest.fail(f"vllm serve did not answer /health within {START_TIMEOUT:.0f} s; see {self.log_path}")
            time.sleep(1)

    def stop(self) -> None:
        _stop(self.proc)


_early: list[_VllmServe] = []  # started by early_vllm_server, not yet handed to a vllm_server fixture


@pytest.fixture(scope="session", autouse=True)
def early_vllm_server(request, tmp_path_factory):
    """Start ``vllm serve`` at the first engine test when a later test here needs it, so that its start-up overlaps
    the tests that run before it instead of adding to the suite's time. Missing vLLM or model: nothing is started
    here, and the ``vllm_server`` fixture reports it."""
    if any("vllm_server" in getattr(item, "fixturenames", ()) for item in request.session.items) and \
            importlib.util.find_spec("vllm") is not None:
        try:
            model = request.getfixturevalue("qwen")
        except (pytest.skip.Exception, pytest.fail.Exception):
            model = None
        if model is not None:
            _early.append(_VllmServe(model, tmp_path_factory.mktemp("vllm-serve") / "server.log"))
    yield
    while _early:  # started, but the tests that needed it did not run (deselected, or the session stopped early)
        _early.pop().stop()


@pytest.fixture(scope="module")
def vllm_server(qwen, vllm_installed, tmp_path_factory):
    """``vllm serve`` of the packaged Qwen 0.5B with the settings of the in-process session engine (``vllm_qwen``:
    float32, eager, 4,096-token context, 1 GiB KV cache), served as ``qwen``; yields the ``/v1`` base URL.

    Started in its own process group at the first engine test (``early_vllm_server``), ready when
    ``/health`` answers 200, killed when the module that uses it ends (module scope: the ~6 GB server is not held
    while the rest of the suite runs, e.g. the Ray tests)."""
    server = _early.pop() if _early else _VllmServe(qwen, tmp_path_factory.mktemp("vllm-serve") / "server.log")
    try:
        yield server.wait_ready()
    finally:
        server.stop()
