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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import threading
import types
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.errors import ConfigError, MissingDependencyError

__all__ = ["BACKENDS", "QUANTIZATIONS", "FP32_TOLERANCE", "ORT_MODEL_TYPES", "INT8_SCHEME", "check_backend",
           "export_module",
           "ExportedModule", "output_of", "exports_dir", "weights_digest",
           "as_torch_module", "export_sentence_transformer"]

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "openvino")
QUANTIZATIONS = ("int8",)
FP32_TOLERANCE = 1e-4  # largest |export - torch| allowed on the probe, relative to max(1, |torch output|)
_INT8_REPRO = 1e-4  # an int8 export must reproduce its recorded probe output this closely
_FORMAT = "rerankit-export/1"
_OPSET = 17
# transformers config.model_type -> the onnxruntime.transformers optimiser's model type (BERT-like encoders)
ORT_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                   "electra": "bert"}
_LIBRARY = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}  # module, extra


# Dynamic int8: signed 8-bit weights with one scale per output channel (per tensor doubled the largest score change
# of a MiniLM cross-encoder on 300 DL19 pairs, 5.5e-3 against 2.9e-3, at the same speed). Part of the export key.
INT8_SCHEME = {"weights": "QInt8", "per_channel": True}


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
        if not _intact(folder):
            _build(module, probe, folder, key_parts, backend, quantize, expected, fusion)
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


class ExportedModule:
    """An exported encoder on ONNX Runtime or OpenVINO; ``forward(**inputs)`` mirrors the torch module's output."""

    def __init__(self, folder: Path, backend: str, inputs: list[str], output: str = "output",
                 n_threads: int | None = None) -> None:
        self.folder, self.backend, self.inputs, self.output = folder, backend, inputs, output
        manifest = json.loads((folder / "manifest.json").read_text())
        self.manifest = manifest
        path = folder / manifest["model_file"]
        if backend == "onnx":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            if n_threads:
                opts.intra_op_num_threads = int(n_threads)
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._run = lambda feed: self._session.run(None, feed)[0]
        else:
            import openvino as ov

            # f32 precision: OpenVINO would otherwise run in bf16 on CPUs that have it, changing the scores.
            config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
            if n_threads:
                config["INFERENCE_NUM_THREADS"] = int(n_threads)
            self._compiled = ov.Core().compile_model(str(path), "CPU", config)
            self._local = threading.local()  # an infer request is not thread-safe: one per thread
            self._run = self._run_openvino

    def _run_openvino(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request.infer(feed)[0].copy()

    def run(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """The output for a batch of tokenizer tensors (torch or numpy), as a float32 numpy array."""
        feed = {n: np.ascontiguousarray(_numpy(inputs[n]), dtype=np.int64) for n in self.inputs}
        return np.asarray(self._run(feed), dtype=np.float32)

    def __call__(self, **inputs: Any) -> Any:
        return self.forward(**inputs)

    def forward(self, **inputs: Any) -> Any:
        import torch

        return types.SimpleNamespace(**{self.output: torch.from_numpy(self.run(inputs))})

    def verify(self, probe: Mapping[str, Any], expected: np.ndarray, quantize: str | None) -> str | None:
        """None when the export computes what it should on the probe; else what is wrong."""
        got = self.run(probe)
        if got.shape != expected.shape:
            return f"output shape {got.shape}, expected {expected.shape}"
        if quantize:
            recorded = np.asarray(self.manifest["probe_output"], dtype=np.float32)
            err = float(np.abs(got - recorded).max()) if recorded.shape == got.shape else float("inf")
            return None if err <= _INT8_REPRO else f"int8 probe output differs from the recorded one by {err:.2e}"
        err = float(np.abs(got - expected).max()) / max(1.0, float(np.abs(expected).max()))
        return None if err <= FP32_TOLERANCE else f"probe output differs from torch by {err:.2e} (relative)"


def _build(module: Any, probe: Mapping[str, Any], folder: Path, key_parts: dict, backend: str,
           quantize: str | None, expected: np.ndarray, fusion: str | None = None) -> None:
    """Export into a temporary folder, then move it into place (a crash leaves no half-written export)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        onnx_path = tmp / "model.onnx"
        hf_model = getattr(module, "model", module)
        with _eager_attention(hf_model if fusion else None):
            _torch_export(module, probe, onnx_path, expected.ndim)
        fused = _optimize(onnx_path, hf_model, fusion, probe, expected) if fusion else None
        model_file = onnx_path.name
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with _root_log_level(logging.ERROR):  # the quantiser logs a line per tensor on the root logger
                # fused operators (com.microsoft domain) have no shape-inferred types: they are float32
                extra = {"DefaultTensorType": 1} if fusion else {}  # 1: onnx.TensorProto.FLOAT
                quantize_dynamic(str(onnx_path), str(tmp / "model.int8.onnx"), weight_type=QuantType.QInt8,
                                 per_channel=INT8_SCHEME["per_channel"], extra_options=extra)
            onnx_path.unlink()
            model_file = "model.int8.onnx"
        elif backend == "openvino":
            import openvino as ov

            ov.save_model(ov.convert_model(str(onnx_path)), str(tmp / "model.xml"), compress_to_fp16=False)
            onnx_path.unlink()
            model_file = "model.xml"
        files = sorted(p.name for p in tmp.iterdir())
        manifest = {**key_parts, "model_file": model_file, "files": {f: _sha256(tmp / f) for f in files}}
        if fusion:
            manifest.update(optimized=fused is not None, fused_operators=fused or {})
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        if quantize:  # the output this int8 export gives on the probe: a later load must reproduce it
            got = ExportedModule(tmp, backend, list(probe)).run(probe)
            manifest["probe_output"] = got.tolist()
            manifest["probe_max_abs_error_vs_torch"] = float(np.abs(got - expected).max())
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        if folder.exists():  # another process finished the same export meanwhile: keep an intact one
            if _intact(folder):
                return
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:
            if not _intact(folder):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _torch_export(module: Any, probe: Mapping[str, Any], path: Path, out_ndim: int) -> None:
    """torch's TorchScript-based ONNX exporter, batch and sequence axes dynamic."""
    import torch

    names = list(probe)
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["output"] = {0: "batch", 1: "sequence"} if out_ndim == 3 else {0: "batch"}
    class Positional(torch.nn.Module):  # the TorchScript exporter passes inputs by position
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args)))

    with _quiet(), torch.no_grad():
        torch.onnx.export(Positional(), tuple(probe[n] for n in names), str(path), input_names=names,
                          output_names=["output"], dynamic_axes=axes, opset_version=_OPSET, dynamo=False)
    module.eval()  # the exporter leaves the module in training mode (dropout on)


def _fusion_type(model: Any) -> str | None:
    """The optimiser's model type for a transformers model (None: no known fusion pattern, keep the plain graph)."""
    config = getattr(model, "config", None)
    return ORT_MODEL_TYPES.get(getattr(config, "model_type", None) or "")


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """Export with eager attention (the graph pattern ONNX Runtime's attention fusion matches), then restore."""
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    if model is None or before in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def _optimize(path: Path, model: Any, fusion: str, probe: Mapping[str, Any], expected: np.ndarray
              ) -> dict[str, int] | None:
    """Fuse the graph at `path` in place with ONNX Runtime's transformer optimiser; returns the fused operator
    counts, or None (and leaves the plain graph) when the fused graph does not reproduce `expected`."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    fused_path = path.with_name("model.fused.onnx")
    with _quiet(), _root_log_level(logging.ERROR):
        optimized = optimize_model(str(path), model_type=fusion, num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size), opt_level=0)  # python fusions only
        optimized.save_model_to_file(str(fused_path))
    counts = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    probe_dir = path.parent / ".probe"
    probe_dir.mkdir()
    try:
        fused_path.rename(probe_dir / "model.onnx")
        (probe_dir / "manifest.json").write_text(json.dumps({"model_file": "model.onnx"}))
        got = ExportedModule(probe_dir, "onnx", list(probe)).run(probe)
        err = float(np.abs(got - expected).max()) / max(1.0, float(np.abs(expected).max()))
        if got.shape != expected.shape or err > FP32_TOLERANCE:
            log.warning("the fused %s graph differs from torch by %.2e: keeping the plain graph", fusion, err)
            return None
        (probe_dir / "model.onnx").replace(path)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    log.info("onnx graph optimised (%s)", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return counts


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _root_log_level(level: int) -> Iterator[None]:
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(level, before))
    try:
        yield
    finally:
        root.setLevel(before)


def _intact(folder: Path) -> bool:
    """True when `folder` holds an export whose files all match the checksums in its manifest."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        files = manifest["files"]
        ok = all(_sha256(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not ok:
        log.warning("export %s is damaged (a file does not match its checksum); rebuilding it", folder)
    return ok


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


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
