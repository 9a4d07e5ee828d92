"""The transformers engine on a real packaged LLM (SmolLM2-135M-Instruct): templates, batching, limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rerankit.engines import Capability, GenerationParams, get_engine
from rerankit.errors import InputError

pytestmark = [pytest.mark.slow, pytest.mark.llm]

CHATS = [
    [{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
    [{"role": "user", "content": "Is two plus two five? Answer yes or no, and think about it carefully first."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."}],
]


@pytest.fixture(scope="module")
def engine(smollm):
    e = get_engine("hf", str(smollm), batch_size=4)
    yield e
    e.close()


def test_chat_template_golden(engine):
    """The exact text the model sees: SmolLM2's own template, default system prompt, generation prompt."""
    assert engine.render(CHATS[0]) == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nIs the sky blue? Answer yes or no.<|im_end|>\n<|im_start|>assistant\n")
    # a final assistant message is continued, not closed
    cont = engine.render(CHATS[0] + [{"role": "assistant", "content": "Well,"}])
    assert cont.endswith("<|im_start|>assistant\nWell,")
    assert engine.render("raw text") == "raw text"


def test_capabilities_and_metadata(engine, smollm):
    assert engine.supports(Capability.GENERATE, Capability.LOGPROBS, Capability.ATTENTION, Capability.EMBED)
    assert engine.model == str(smollm)
    assert engine.context_length == 8192
    assert engine.config()["dtype"] == "float32"  # fp32 on CPU


def test_logprobs_batched_equal_one_at_a_time(engine):
    """Left padding must not change any prompt's next-token distribution."""
    cands = ["Yes", "No", "yes", "no"]
    batched = engine.next_token_logprobs(CHATS, cands)
    for prompt, row in zip(CHATS, batched):
        single = engine.next_token_logprobs([prompt], cands)[0]
        for c in cands:
            assert row[c] == pytest.approx(single[c], abs=2e-4)
            assert row[c] < 0
    # a log-softmax over the full vocabulary: the candidates' probabilities sum to at most 1
    assert all(sum(math.exp(v) for v in row.values()) <= 1.0 + 1e-6 for row in batched)


def test_generate_greedy_batched_equals_single_and_respects_stop_and_length(engine):
    params = GenerationParams(max_tokens=8)
    batched = engine.generate(CHATS, params)
    singles = [engine.generate([p], params)[0] for p in CHATS]
    assert [g.text for g in batched] == [g.text for g in singles]
    capped = engine.generate([CHATS[1]], GenerationParams(max_tokens=2))[0]
    assert capped.finish_reason == "length" and capped.completion_tokens == 2
    full = engine.generate([CHATS[1]], GenerationParams(max_tokens=16))[0]
    stop = full.text.strip()[1:3]  # a string the free run produces after its first character
    stopped = engine.generate([CHATS[1]], GenerationParams(max_tokens=16, stop=(stop,)))[0]
    assert stop not in stopped.text and stopped.finish_reason == "stop"
    assert full.text.startswith(stopped.text)


def test_sampling_is_reproducible_with_a_seed(engine):
    params = GenerationParams(max_tokens=8, temperature=1.0, seed=123)
    assert engine.generate(CHATS[2:], params)[0].text == engine.generate(CHATS[2:], params)[0].text


def test_embed_shapes_and_normalisation(engine):
    vecs = engine.embed(["the sun and the seasons", "a pizza with cheese", "short"])
    assert vecs.shape == (3, 576) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    single = engine.embed(["a pizza with cheese"])[0]
    assert np.allclose(single, vecs[1], atol=1e-4)  # padding does not leak into last-token pooling


def test_forward_attentions_rows_are_distributions(engine):
    text = engine.render(CHATS[0])
    att = engine.forward_attentions(text, rows=[-1], layers=[0, -1])
    n = len(att.token_ids)
    assert att.weights.shape == (2, 9, 1, n)
    assert np.allclose(att.weights.sum(-1), 1.0, atol=1e-4)
    start = text.index("sky")
    span = att.token_span(start, start + 3)
    assert span and engine.detokenize([att.token_ids[i] for i in span]).strip() == "sky"


def test_prompt_longer_than_the_context_is_a_clear_error(smollm):
    small = get_engine("transformers", str(smollm), context_length=32)
    with pytest.raises(InputError, match=r"exceeds the context length .*\(32\)"):
        small.next_token_logprobs(["word " * 100], ["yes"])
    with pytest.raises(InputError, match="non-empty list of candidate"):
        small.next_token_logprobs(["hi"], [])
    text, cut = small.truncate("word " * 100, 10)
    assert cut and small.count_tokens(text) <= 10
    assert small.truncate("short", 10) == ("short", False)


def test_candidate_token_is_the_one_written_after_text(engine, monkeypatch):
    """A SentencePiece tokenizer with a dummy prefix encodes "A" alone as "▁A", but after "[" the model writes "A".

    No such tokenizer is packaged here, so this imitates its rule on top of the real engine: scoring must use the
    token that follows other text, not the token of the candidate tokenised alone.
    """
    pieces = {"A": [3], "[": [1], "[A": [1, 2]}  # 1 = "[", 2 = "A", 3 = "\u2581A"

    def sentencepiece_like(text: str) -> list[int]:
        return pieces[text]

    from rerankit.engines.tokens import candidate_token_ids

    monkeypatch.setattr(engine, "tokenize", sentencepiece_like)
    assert candidate_token_ids(engine.tokenize, ["A"]) == [2]  # not 3, the word-start piece
