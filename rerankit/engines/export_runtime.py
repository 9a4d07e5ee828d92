"""An exported encoder at run time: ONNX Runtime or OpenVINO sessions that stand in for the torch module, and the
check that an export computes what the torch model computes (see :mod:`rerankit.engines.exported`)."""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ExportedModule", "FP32_TOLERANCE", "INT8_REPRODUCTION"]

FP32_TOLERANCE = 1e-4  # largest |export - torch| allowed on the probe, relative to max(1, |torch output|)
INT8_REPRODUCTION = 1e-4  # an int8 export must reproduce its recorded probe output this closely


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
            return None if err <= INT8_REPRODUCTION else f"int8 probe output differs from the recorded one by {err:.2e}"
        err = float(np.abs(got - expected).max()) / max(1.0, float(np.abs(expected).max()))
        return None if err <= FP32_TOLERANCE else f"probe output differs from torch by {err:.2e} (relative)"


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
