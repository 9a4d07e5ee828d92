"""Exported encoders (ONNX Runtime / OpenVINO): the export cache is keyed by the model files and checked on load;
a missing library or a bad option is one clear error before any model loads."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

from rerankit.engines.exported import check_backend, exports_dir
from rerankit.errors import ConfigError, MissingDependencyError

TEXTS = ["The tilt of Earth's axis causes the seasons.", "Bread needs flour, water, salt and yeast.", "sunlight " * 40]


@pytest.mark.parametrize("backend,module,extra", [("onnx", "onnxruntime", "onnx"),
                                                   ("openvino", "openvino", "openvino")])
def test_missing_library_names_the_extra(monkeypatch, backend, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    with pytest.raises(MissingDependencyError, match=rf"pip install 'rerankit\[{extra}\]'"):
        check_backend(backend, None, "the cross-encoder reranker")


def test_missing_library_fails_before_the_model_loads(monkeypatch):
    from rerankit.rerankers.cross_encoder import CrossEncoderReranker

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match="backend='onnx'"):
        CrossEncoderReranker("/no/such/model", backend="onnx")


@pytest.mark.parametrize("backend,quantize,match", [("tensorrt", None, "backend must be one of"),
                                                    ("onnx", "int4", "quantize must be"),
                                                    ("openvino", "int8", "with backend='onnx'"),
                                                    ("torch", "int8", "with backend='onnx'")])
def test_bad_options_are_refused(backend, quantize, match):
    with pytest.raises(ConfigError, match=match):
        check_backend(backend, quantize, "the dense retriever")


def _exports():
    root = exports_dir()
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


@pytest.mark.slow
def test_export_is_reused_rebuilt_on_model_change_and_repaired_when_damaged(tmp_path, monkeypatch, splade_tiny):
    from rerankit.retrievers.splade import SpladeEncoder

    monkeypatch.setenv("RERANKIT_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "splade"
    shutil.copytree(splade_tiny, model)
    reference = SpladeEncoder(str(model), show_progress=False).encode(TEXTS).toarray()

    first = SpladeEncoder(str(model), backend="onnx", show_progress=False)
    [key] = _exports()
    onnx_file = exports_dir() / key / "model.onnx"
    stamp = onnx_file.stat().st_mtime_ns
    np.testing.assert_allclose(first.encode(TEXTS).toarray(), reference, atol=1e-4)

    SpladeEncoder(str(model), backend="onnx", show_progress=False)  # second load: the same export, not rewritten
    assert _exports() == [key] and onnx_file.stat().st_mtime_ns == stamp

    config = model / "config.json"  # the model files change (here: the same bytes, a new modification time)
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    changed = SpladeEncoder(str(model), backend="onnx", show_progress=False)
    new_key = changed._exported.folder.name
    assert new_key != key and _exports() == sorted([key, new_key])

    damaged = exports_dir() / new_key / "model.onnx"
    with open(damaged, "r+b") as f:  # a damaged export is rebuilt, never served
        f.seek(damaged.stat().st_size // 2)
        f.write(b"\0" * 64)
    again = SpladeEncoder(str(model), backend="onnx", show_progress=False)
    assert again._exported.folder.name == new_key and len(_exports()) == 2
    np.testing.assert_allclose(again.encode(TEXTS).toarray(), reference, atol=1e-4)


@pytest.mark.slow
def test_verify_reports_an_export_that_computes_something_else(tmp_path, monkeypatch, splade_tiny):
    from rerankit.retrievers.splade import SpladeEncoder

    monkeypatch.setenv("RERANKIT_CACHE", str(tmp_path / "cache"))
    enc = SpladeEncoder(str(splade_tiny), backend="openvino", show_progress=False)
    batch = enc.tokenizer(TEXTS, padding=True, return_tensors="pt")
    out = enc._exported.run(batch)
    assert enc._exported.verify(batch, out, None) is None
    assert "differs from torch" in enc._exported.verify(batch, out + 0.01, None)
