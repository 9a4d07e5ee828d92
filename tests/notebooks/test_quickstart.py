"""notebooks/quickstart.ipynb executes top to bottom (nbclient + ipykernel), on the real data and models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
@pytest.mark.llm
def test_quickstart_notebook_runs(shared_data, minilm, qwen, monkeypatch):
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    nbformat = __import__("nbformat") if ci else pytest.importorskip("nbformat")
    nbclient = __import__("nbclient") if ci else pytest.importorskip("nbclient")
    monkeypatch.setenv("RERANKIT_DATA_DIR", str(shared_data))
    monkeypatch.setenv("QUICKSTART_QUERIES", "5")  # the notebook's default 20 shows no more code; CI time
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend must draw the plot
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "nDCG@10" in text and "bm25" in text and "e2rank" in text
    assert "dropped citation numbers" in text
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 1  # the nDCG-per-stage plot
