"""Query-row attention on SDPA (engine.query_attention) against full eager attention, on a real LLM (SmolLM2)."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.engines import get_engine
from rerankit.errors import InputError

pytestmark = [pytest.mark.slow, pytest.mark.llm]

BODY = ("Passages: [1] The Moon's gravity raises tides. [2] Bananas hold potassium. [3] Glass is melted sand.\n\n"
        "Please find the relevant passage.\n\nQuery: ")


@pytest.fixture(scope="module")
def engine(smollm):
    e = get_engine("transformers", str(smollm))
    yield e
    e.close()


def _eager_rows(engine, text, start):
    att = engine.forward_attentions(text)
    rows = [i for i, (a, b) in enumerate(att.offsets) if i > 0 and a >= start and b > a]
    rows = list(range(rows[0], len(att.token_ids)))
    return att.weights[:, :, rows, :].astype(np.float64).mean(axis=2).sum(axis=(0, 1)), rows


def test_rows_equal_eager_attention_and_reuse_changes_nothing(engine):
    texts = [BODY + "what raises tides", BODY + "N/A"]
    starts = [t.index("Please") for t in texts]
    reused = engine.query_attention(texts, starts)
    fresh = engine.query_attention(texts, starts, reuse_cache=False)
    assert reused[0].reused_tokens == 0 and reused[1].reused_tokens > 20 and fresh[1].reused_tokens == 0
    n_layers = engine.hf_model.config.num_hidden_layers
    n_heads = engine.hf_model.config.num_attention_heads
    for text, start, r, f in zip(texts, starts, reused, fresh):
        expected, rows = _eager_rows(engine, text, start)
        assert r.rows == rows == f.rows
        assert np.allclose(r.scores, expected, atol=1e-5) and np.allclose(f.scores, expected, atol=1e-5)
        # each row's softmax sums to one per layer and head
        assert r.scores.sum() == pytest.approx(n_layers * n_heads, rel=1e-5)


def test_bad_inputs_are_clear_errors(engine):
    with pytest.raises(InputError, match="one query start per text"):
        engine.query_attention(["a b c"], [0, 1])
    with pytest.raises(InputError, match="no token starts"):
        engine.query_attention(["a b c"], [100])
