"""Encoder models on ONNX Runtime or OpenVINO: exported once from the torch model, cached by content, verified.

:func:`export_module` turns a torch module (one tensor out, tokenizer tensors in) into an :class:`ExportedModule`
that runs on ``backend="onnx"`` (ONNX Runtime) or ``"openvino"``, optionally with int8 dynamic quantisation
(``quantize="int8"``, ONNX Runtime's ``quantize_dynamic``). The graph is written by torch's own ONNX exporter
(``torch.onnx.export``); OpenVINO converts that file with ``openvino.convert_model``. Optimum and
sentence-transformers' ``backend="onnx"`` need an older transformers than rerankit's stack, so they are not used.

On ``backend="onnx"`` the exported graph is first passed through ONNX Runtime's transformer optimiser
(``onnxruntime.transformers.optimizer``: attention, embedding-LayerNorm, skip-LayerNorm and GELU fusion) when the
model's ``config.model_type`` is one it knows (:data:`ORT_MODEL_TYPES`), and before int8 quantisation; the model is
exported with eager attention for that (the pattern the fusions match). ``optimize=False`` keeps the plain graph. An
optimised graph that does not reproduce the torch output on the probe within `FP32_TOLERANCE` is dropped for the
plain one (recorded in the manifest as ``optimized: false``).

Exports live under ``$RERANKIT_CACHE/exports/<key>/``. The key hashes what the export was computed from: the model
files (name, size, modification time; the weights themselves for a model with no local folder), the exported
head, the input names, the backend, quantisation and graph optimisation and the library versions. Its manifest
records a SHA-256 of each file; on load the files are checked against it and a probe batch is run through both
the export and the torch model: an fp32 export must agree within `FP32_TOLERANCE` (else it is rebuilt once, then
refused), an int8 export must reproduce the probe output recorded when it was built.
A damaged export is rebuilt, never served.

This module keys, finds and verifies exports; building one is :mod:`rerankit.engines.export_build`, running one
:mod:`rerankit.engines.export_runtime`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rerankit.engines.export_build import INT8_SCHEME, build_export, export_intact
from rerankit.engines.export_runtime import FP32_TOLERANCE, ExportedModule
from rerankit.errors import ConfigError, MissingDependencyError

__all__ = ["BACKENDS", "QUANTIZATIONS", "FP32_TOLERANCE", "ORT_MODEL_TYPES", "INT8_SCHEME", "check_backend",
           "export_module",
           "ExportedModule", "output_of", "exports_dir", "weights_digest",
           "as_torch_module", "export_sentence_transformer"]

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "openvino")
QUANTIZATIONS = ("int8",)
_FORMAT = "rerankit-export/1"
# transformers config.model_type -> the onnxruntime.transformers optimiser's model type (BERT-like encoders)
ORT_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                   "electra": "bert"}
_LIBRARY = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}  # module, extra


def check_backend(backend: str, quantize: str | None, what: str) -> None:
    """Refuse an unknown backend or quantisation, and a backend whose library is not installed (naming the
    extra), before any model is loaded."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"quantize must be None or one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if quantize and backend != "onnx":
        raise ConfigError(f"quantize={quantize!r} is int8 dynamic quantisation with ONNX Runtime: use it with "
                          f"backend='onnx' (got backend={backend!r})")
    if backend == "torch":
        return
    module, extra = _LIBRARY[backend]
    for name in (module, "onnx"):
        try:
            __import__(name)
        except ImportError:
            raise MissingDependencyError(name, extra, f"{what} with backend={backend!r}") from None


def exports_dir() -> Path:
    """``$RERANKIT_CACHE/exports`` (default ``~/.cache/rerankit/exports``)."""
    from rerankit.cache import default_cache_dir

    return default_cache_dir() / "exports"


def output_of(model: Any, output: str, post: Any = None) -> Any:
    """A torch module that calls `model` and returns its output named `output` (``logits``, ``last_hidden_state``),
    passed through ``post(output, inputs)`` when given (e.g. SPLADE pooling)."""
    import torch

    class OutputOf(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, **inputs: Any) -> Any:
            out = getattr(self.model(**inputs), output)
            return post(out, inputs) if post is not None else out

    return OutputOf()


def export_module(module: Any, source: str | Path, head: str, probe: Mapping[str, Any], backend: str,
                  quantize: str | None = None, output: str = "output", n_threads: int | None = None,
                  root: str | Path | None = None, extra_key: Mapping[str, Any] | None = None,
                  optimize: bool = True) -> ExportedModule:
    """`module` (torch, ``module(**probe)`` -> one tensor) on `backend`, exported on first use and cached.

    `source` is the model folder (or hub id) the module was loaded from, `head` names what the module computes
    (e.g. ``"sequence-classification"``): both key the cache. `probe` is a padded tokenizer batch (torch tensors)
    used to trace the graph and to verify the export. The result's ``forward(**inputs)`` returns an object whose
    attribute `output` holds the output as a torch tensor, so it stands in for a transformers model.
    `extra_key` adds to the cache key what the model files do not determine (e.g. a randomly initialised head).
    `optimize` (backend onnx only): apply ONNX Runtime's transformer graph optimiser where the model type allows.
    """
    import torch

    names = list(probe)
    module.eval()
    with torch.inference_mode():
        expected = module(**probe).float().numpy()
    hf_model = getattr(module, "model", module)
    fusion = _fusion_type(hf_model) if optimize and backend == "onnx" else None
    key_parts = {"format": _FORMAT, "source": _source_fingerprint(source, module), "head": head, "inputs": names,
                 "backend": backend, "quantize": quantize, "optimize": fusion,
                 "int8_scheme": INT8_SCHEME if quantize == "int8" else None,
                 "versions": _versions(backend, quantize, fusion is not None),
                 "class": type(hf_model).__name__, "extra": dict(extra_key or {})}
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:24]
    folder = Path(root) if root is not None else exports_dir()
    folder = folder / key
    for attempt in (1, 2):
        if not export_intact(folder):
            build_export(module, probe, folder, key_parts, backend, quantize, expected, fusion)
        exported = ExportedModule(folder, backend, names, output, n_threads)
        problem = exported.verify(probe, expected, quantize)
        if problem is None:
            log.info("%s on %s%s: export %s", head, backend, f" ({quantize})" if quantize else "", folder)
            return exported
        if attempt == 1:
            log.warning("export %s does not reproduce the model (%s); rebuilding it", folder, problem)
            shutil.rmtree(folder, ignore_errors=True)
    raise ConfigError(f"the {backend} export of {source} ({head}) does not reproduce the torch model: {problem}. "
                      "Use backend='torch' for this model")


def _fusion_type(model: Any) -> str | None:
    """The optimiser's model type for a transformers model (None: no known fusion pattern, keep the plain graph)."""
    config = getattr(model, "config", None)
    return ORT_MODEL_TYPES.get(getattr(config, "model_type", None) or "")


def weights_digest(module: Any, names: Any = None) -> str:
    """SHA-256 of a torch module's tensors (all, or those named in `names`), in name order."""
    h = hashlib.sha256()
    wanted = None if names is None else set(names)
    for name, tensor in sorted(module.state_dict().items()):
        if wanted is None or name in wanted:
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _source_fingerprint(source: str | Path, module: Any) -> Any:
    """The model folder's files (name, size, mtime), or a digest of the weights when there is no local folder."""
    from rerankit.fingerprint import files_fingerprint

    path = Path(str(source)).expanduser()
    if path.is_dir():
        return {"path": str(path.resolve()), "files": files_fingerprint([path])}
    return {"model": str(source), "weights": weights_digest(module)}


def _versions(backend: str, quantize: str | None, optimized: bool = False) -> dict[str, str]:
    import torch

    out = {"torch": torch.__version__}
    mods = ["onnxruntime"] if backend == "onnx" and (quantize or optimized) else []
    mods += ["openvino"] if backend == "openvino" else []
    for mod in mods:
        out[mod] = getattr(__import__(mod), "__version__", "?")
    return out


def as_torch_module(exported: ExportedModule, config: Any) -> Any:
    """`exported` as a parameterless torch module with the transformers model's `config`, to put in the place of the
    model inside a wrapper that expects one (a sentence-transformers ``Transformer`` module)."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.exported, self.config = exported, config

        @property
        def device(self) -> Any:
            return torch.device("cpu")

        def forward(self, **inputs: Any) -> Any:
            return self.exported.forward(**inputs)

    return Exported()


def export_sentence_transformer(st: Any, source: str | Path, backend: str, quantize: str | None = None,
                                n_threads: int | None = None) -> Any:
    """Run a SentenceTransformer's transformer on `backend`: its first module's model is exported (token
    embeddings out) and replaced; tokenisation, prompts, pooling and normalisation stay sentence-transformers' own."""
    import inspect

    first = st[0]
    model, tokenizer = getattr(first, "model", None), getattr(first, "tokenizer", None)
    if model is None or tokenizer is None or not hasattr(model, "config"):
        raise ConfigError(f"backend={backend!r} needs a sentence-transformers model whose first module is a "
                          f"Transformer (text encoder); {source} starts with {type(first).__name__}")
    probe = tokenizer(["rerankit probe: what causes the seasons on earth?", "a passage"], padding=True,
                      return_tensors="pt")
    accepted = set(inspect.signature(model.forward).parameters)
    probe = {k: v for k, v in probe.items() if k in accepted}
    exported = export_module(output_of(model, "last_hidden_state"), source, "feature-extraction", probe, backend,
                             quantize, output="last_hidden_state", n_threads=n_threads)
    first.model = as_torch_module(exported, model.config)
    return st
