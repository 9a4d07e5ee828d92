"""The llamacpp engine (llama-cpp-python in process) on the packaged SmolLM2 GGUF, against transformers."""

from __future__ import annotations

import math

import pytest

from rerankit.engines import Capability, GenerationParams, get_engine
from rerankit.errors import CapabilityError, InputError

pytestmark = [pytest.mark.slow, pytest.mark.llm]
pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llamacpp extra) is not installed")

CHATS = [[{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
         [{"role": "user", "content": "Is two plus two five? Answer yes or no."}]]


@pytest.fixture(scope="module")
def engine():
    return get_engine("llamacpp", "smollm2-135m-instruct", n_ctx=512, n_threads=2)


def test_gguf_template_renders_like_transformers(engine, smollm):
    hf = get_engine("hf", str(smollm))
    assert engine.render(CHATS[0]) == hf.render(CHATS[0])
    got, want = engine.next_token_logprobs(CHATS, ["Yes", "No"]), hf.next_token_logprobs(CHATS, ["Yes", "No"])
    for g, w in zip(got, want):
        assert g["Yes"] == pytest.approx(w["Yes"], abs=0.25) and g["No"] == pytest.approx(w["No"], abs=0.25)
        assert sum(math.exp(v) for v in g.values()) < 1.0
    assert engine.generate(CHATS[:1], GenerationParams(max_tokens=3))[0].finish_reason in ("stop", "length")


def test_limits_and_capabilities(engine):
    assert engine.context_length == 512
    with pytest.raises(InputError, match="longer than the context"):
        engine.next_token_logprobs(["word " * 1000], ["yes"])
    with pytest.raises(CapabilityError, match="embed"):
        engine.embed(["text"])
    assert not engine.supports(Capability.ATTENTION)


def test_scores_do_not_depend_on_order(engine):
    prompts = CHATS + CHATS[::-1]  # the same prompts again, in reverse
    rows = engine.next_token_logprobs(prompts, ["Yes", "No"])
    assert rows[0] == pytest.approx(rows[3], abs=1e-4) and rows[1] == pytest.approx(rows[2], abs=1e-4)
    engine.llm.reset()
    assert engine.next_token_logprobs(CHATS[1:], ["Yes", "No"])[0] == pytest.approx(rows[1], abs=1e-4)
