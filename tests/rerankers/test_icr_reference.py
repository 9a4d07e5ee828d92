"""ICR against its reference code: prompt text and token positions, calibration maths, query-row recomputation.

The expected values come from running the reference (OSU-NLP-Group/In-Context-Reranking at the commit recorded in
the fixture) with tests/rerankers/goldens/make_icr.py; nothing here is transcribed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rerankit.rerankers.icr import calibrated_scores
from rerankit.rerankers.icr_prompt import build_icr_prompt, choose_markers
from rerankit.rerankers.templates import load_template

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "icr.json").read_text(encoding="utf-8"))
TEMPLATE = load_template("icr")


def test_fixture_records_its_reference():
    assert GOLDEN["reference"] == "OSU-NLP-Group/In-Context-Reranking"
    assert len(GOLDEN["commit"]) == 40 and GOLDEN["commit"] in TEMPLATE.source
    assert (Path(__file__).parent / "goldens" / "make_icr.py").is_file()
    assert {c["markers"] for c in GOLDEN["prompts"]} == {"llama3", "mistral", "chatml"}


def _case_id(case: dict) -> str:
    return f"{case['markers']}-{case['task']}-{len(case['passages'])}-{case['query'][:6].strip()}"


def _ours(case: dict):
    markers = choose_markers(TEMPLATE, None, case["markers"])
    late = TEMPLATE.extra["late_instructions"][case["task"]]
    return markers, build_icr_prompt(TEMPLATE, markers, case["query"], case["passages"], late)


@pytest.mark.parametrize("case", GOLDEN["prompts"], ids=_case_id)
def test_prompt_text_and_positions_are_the_reference_ones(case):
    markers, prompt = _ours(case)
    assert (markers.prefix, markers.suffix, markers.separator) == (case["prefix"], case["suffix"],
                                                                    case["separator"])
    assert prompt.text == case["text"]
    assert [list(s) for s in prompt.doc_spans] == case["doc_char_spans"]
    assert prompt.query_start == case["query_start_char"]
    assert len(prompt.text) - 1 == case["query_end_char"]


@pytest.fixture(scope="module")
def tokenizers(qwen, smollm):
    from transformers import AutoTokenizer

    return {"qwen2.5-coder-0.5b-instruct": AutoTokenizer.from_pretrained(qwen),
            "smollm2-135m-instruct": AutoTokenizer.from_pretrained(smollm)}


TOKEN_CASES = [(c, folder) for c in GOLDEN["prompts"] for folder in c["tokens"]]


@pytest.mark.parametrize(("case", "folder"), TOKEN_CASES, ids=lambda x: _case_id(x) if isinstance(x, dict) else x)
def test_passage_and_query_tokens_are_the_reference_positions(case, folder, tokenizers):
    """Where the reference's own token arithmetic holds, our offset mapping selects the same token indices."""
    from rerankit.engines.hf_attention import _first_row, tokens_with_offsets

    expected = case["tokens"][folder]
    _, prompt = _ours(case)
    ids, offsets = tokens_with_offsets(tokenizers[folder], prompt.text, None)
    spans = [[i for i, (a, b) in enumerate(offsets) if a < e and b > s and b > a] for s, e in prompt.doc_spans]
    assert spans == [list(range(a, b)) for a, b in expected["doc_token_spans"]]
    assert _first_row(offsets, prompt.query_start) == expected["query_start_token"]
    assert len(ids) - 1 == expected["query_end_token"]


def test_token_goldens_exist():
    """Recorded only where the reference's token arithmetic holds for our tokenizers (see the generator)."""
    assert len(TOKEN_CASES) >= 12 and {f for _, f in TOKEN_CASES} >= {"qwen2.5-coder-0.5b-instruct"}


def test_auto_markers_come_from_the_tokenizer(tokenizers, gemma):
    from transformers import AutoTokenizer

    assert choose_markers(TEMPLATE, tokenizers["qwen2.5-coder-0.5b-instruct"]).name == "chatml"
    assert choose_markers(TEMPLATE, tokenizers["smollm2-135m-instruct"]).name == "chatml"
    base = AutoTokenizer.from_pretrained(gemma)  # a base model: no reference markers and no chat template
    assert base.chat_template is None and choose_markers(TEMPLATE, base).name == "none"


@pytest.mark.parametrize("case", GOLDEN["calibration"], ids=lambda c: c["strategy"])
def test_calibration_and_aggregation_match_the_reference(case):
    q = [np.array(t, dtype=np.float32) for t in case["query_tokens"]]
    c = [np.array(t, dtype=np.float32) for t in case["calibration_tokens"]]
    if case["strategy"] == "masked_NA_calibration":
        ours = calibrated_scores(q, c, masked=True)
    else:
        ours = np.array([t.astype(np.float64).sum() for t in q])
    assert np.allclose(ours, case["scores"], rtol=1e-5, atol=1e-7), (ours, case["scores"])


@pytest.mark.parametrize("case", GOLDEN["rows"], ids=lambda c: f"rows{len(c['query'][0][0])}")
def test_query_row_recomputation_matches_the_reference(case):
    import torch

    from rerankit.engines.hf_attention import _RowCollector

    query, key = torch.tensor(case["query"]), torch.tensor(case["key"])
    rows, seq = query.shape[2], key.shape[2]
    collector = _RowCollector(row_start=seq - rows)
    layer = SimpleNamespace(layer_idx=0, scaling=query.shape[-1] ** -0.5)
    collector.observe(layer, query, key, None, {"scaling": layer.scaling})
    assert np.allclose(collector.total.numpy(), case["per_token"], atol=1e-6)
