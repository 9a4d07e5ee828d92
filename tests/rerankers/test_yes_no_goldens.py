"""Yes/no relevance prompts against their references.

Qwen3-Reranker: the token ids the model card's own code (QwenLM/Qwen3-Embedding
examples/qwen3_reranker_transformers.py, run by tests/rerankers/goldens/make_yes_no.py) feeds the model
must equal the ids of rerankit's qwen3-reranker prompt for the same pairs and instruction.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest

from rerankit.rerankers.pointwise import YesNoReranker
from rerankit.types import Document, Hit, Query, Ranking

from .golden_engines import TokenizerEngine

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "yes_no.json").read_text())


@pytest.fixture(scope="module")
def qwen_tokenizer(qwen):
    assert qwen.name == GOLDEN["tokenizer"]
    return TokenizerEngine(qwen)


def test_qwen3_reranker_input_ids_equal_the_model_cards_code(qwen_tokenizer):
    rr = YesNoReranker(engine=qwen_tokenizer, template="qwen3-reranker", instruction=GOLDEN["instruction"],
                       max_passage_tokens=None, progress=False)
    rankings = [Ranking(Query(str(i), c["query"]), [Hit(Document(str(i), c["document"]), 0.0)])
                for i, c in enumerate(GOLDEN["cases"])]
    prompts, _ = rr._pairs(rankings, instruction=GOLDEN["instruction"])
    got = [qwen_tokenizer.tokenize(qwen_tokenizer.render(p)) for p in prompts]
    assert got == [c["input_ids"] for c in GOLDEN["cases"]]
    assert "f4ad0c434c0e3534494e26a4a6bdfd8ab1431968" in GOLDEN["reference"]


def _model_dir(tmp_path: Path, model_type: str, card: str | None) -> Path:
    d = tmp_path / "renamed-local-model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": model_type}))
    if card is not None:
        (d / "README.md").write_text(card)
    return d


QWEN3_CARD = ("---\npipeline_tag: text-ranking\n---\n# A reranker\nprefix = \"<|im_start|>system\\nJudge whether the "
              "Document meets the requirements based on the Query and the Instruct provided. Note that the answer can "
              "only be \\\"yes\\\" or \\\"no\\\".<|im_end|>\"\n")


@pytest.mark.parametrize("model_type, card, expected", [
    ("qwen3", QWEN3_CARD, "qwen3-reranker"),   # a local copy under any name: its files decide
    ("qwen3", None, "yes-no"),                 # no card to confirm the training prompt
    ("qwen3", "# Qwen3-0.6B chat model\n", "yes-no"),
    ("llama", QWEN3_CARD, "yes-no"),           # the card's prompt needs Qwen3's special tokens
])
def test_auto_template_is_chosen_from_the_models_files_and_logged(tmp_path, qwen_tokenizer, caplog, model_type,
                                                                    card, expected):
    engine = copy.copy(qwen_tokenizer)
    engine.model = str(_model_dir(tmp_path, model_type, card))
    with caplog.at_level(logging.INFO, logger="rerankit.rerankers.pointwise"):
        rr = YesNoReranker(engine=engine, progress=False)
    assert rr.template.name == expected
    assert any(f"template {expected!r}" in r.getMessage() for r in caplog.records)
    assert YesNoReranker(engine=engine, template="yes-no", progress=False).template.name == "yes-no"
