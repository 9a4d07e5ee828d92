"""`rerankit rag` prints an answer with citations; `rerankit serve` refuses a bad config clearly."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rerankit.cli import main


@pytest.mark.slow
@pytest.mark.llm
def test_rag_command_prints_answer_and_citations(shared_data, smollm, tmp_path):
    runner = CliRunner()
    args = ["rag", "--dataset", "beir/scifact", "--data-dir", str(shared_data), "--query",
            "Does vitamin D supplementation change bone mineral density?", "--model", str(smollm),
            "--max-passages", "2", "--max-new-tokens", "32", "-o", "device=cpu", "--cache-dir", str(tmp_path),
            "--json"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    used = out["passages_used"]
    assert out["answer"].strip() and 1 <= len(used) <= 2
    assert set(out["citations"]) <= set(used)
    text = runner.invoke(main, args[:-1])  # the index is reused from --cache-dir
    assert text.exit_code == 0, text.output
    assert "Citations" in text.stdout


def test_rag_and_serve_errors_are_one_line(shared_data, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["rag", "--dataset", "beir/scifact", "--data-dir", str(shared_data), "--query", "  "])
    assert res.exit_code == 2 and "--query is empty" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("retriever: bm25\nrerankers: []\nanswer: yes\n")
    res = runner.invoke(main, ["serve", "--config", str(bad)])
    assert res.exit_code == 2 and "unknown pipeline spec keys ['answer']" in res.output
    res = runner.invoke(main, ["serve", "--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_example_config_names_registered_stages():
    from pathlib import Path

    from rerankit.config import load_spec
    from rerankit.registry import resolve

    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "pipeline.yaml")
    assert spec["retriever"]["index"] == "indexes/scifact-bm25"
    for entry in spec["rerankers"]:
        resolve("reranker", entry["name"])
    assert resolve("generator", spec["generator"]["name"]).name == "rag"
