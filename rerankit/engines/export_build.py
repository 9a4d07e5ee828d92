"""Building an export: torch's ONNX exporter, ONNX Runtime's graph fusions and int8 quantisation, OpenVINO's
conversion, written atomically with a checksummed manifest (see :mod:`rerankit.engines.exported`)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.engines.export_runtime import FP32_TOLERANCE, ExportedModule
from rerankit.retrievers.index_io import file_sha256

__all__ = ["INT8_SCHEME", "build_export", "export_intact"]

log = logging.getLogger(__name__)

_OPSET = 17

# Dynamic int8: signed 8-bit weights with one scale per output channel (per tensor doubled the largest score change
# of a MiniLM cross-encoder on 300 DL19 pairs, 5.5e-3 against 2.9e-3, at the same speed). Part of the export key.
INT8_SCHEME = {"weights": "QInt8", "per_channel": True}


def build_export(module: Any, probe: Mapping[str, Any], folder: Path, key_parts: dict, backend: str,
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
        manifest = {**key_parts, "model_file": model_file, "files": {f: file_sha256(tmp / f) for f in files}}
        if fusion:
            manifest.update(optimized=fused is not None, fused_operators=fused or {})
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        if quantize:  # the output this int8 export gives on the probe: a later load must reproduce it
            got = ExportedModule(tmp, backend, list(probe)).run(probe)
            manifest["probe_output"] = got.tolist()
            manifest["probe_max_abs_error_vs_torch"] = float(np.abs(got - expected).max())
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        if folder.exists():  # another process finished the same export meanwhile: keep an intact one
            if export_intact(folder):
                return
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:
            if not export_intact(folder):
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


def export_intact(folder: Path) -> bool:
    """True when `folder` holds an export whose files all match the checksums in its manifest."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        files = manifest["files"]
        ok = all(file_sha256(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not ok:
        log.warning("export %s is damaged (a file does not match its checksum); rebuilding it", folder)
    return ok

