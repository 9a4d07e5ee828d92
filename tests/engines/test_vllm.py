"""The vllm engine: runs wherever vLLM imports (a CUDA GPU machine); skipped with the reason elsewhere."""

from __future__ import annotations

import pytest

from rerankit.engines import Capability, GenerationParams, get_engine
from rerankit.errors import CapabilityError, MissingDependencyError

pytestmark = [pytest.mark.slow, pytest.mark.llm]

CHATS = [[{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
         [{"role": "user", "content": "Is two plus two five? Answer yes or no."}]]


def _vllm_or_skip() -> None:
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # ImportError, or a CUDA/driver error raised at import
        pytest.skip(f"vllm does not import here ({type(exc).__name__}: {str(exc)[:120]}); it needs a CUDA GPU "
                    "and pip install 'rerankit[vllm]'")


def test_missing_vllm_is_a_clear_error():
    try:
        import vllm  # noqa: F401
    except Exception:
        with pytest.raises(MissingDependencyError, match=r"rerankit\[vllm\]"):
            get_engine("vllm", "any/model")
    else:
        pytest.skip("vllm is installed here")


def test_vllm_matches_transformers(smollm):
    _vllm_or_skip()
    engine = get_engine("vllm", str(smollm), dtype="float32", gpu_memory_utilization=0.3, max_model_len=2048)
    hf = get_engine("transformers", str(smollm), dtype="float32")
    assert engine.render(CHATS[0]) == hf.render(CHATS[0])
    got, want = engine.next_token_logprobs(CHATS, ["Yes", "No"]), hf.next_token_logprobs(CHATS, ["Yes", "No"])
    for g, w in zip(got, want):
        assert g["Yes"] == pytest.approx(w["Yes"], abs=0.05) and g["No"] == pytest.approx(w["No"], abs=0.05)
    params = GenerationParams(max_tokens=8)
    assert [g.text for g in engine.generate(CHATS, params)] == [g.text for g in hf.generate(CHATS, params)]
    assert engine.generate(CHATS[:1], GenerationParams(max_tokens=2))[0].finish_reason == "length"
    with pytest.raises(CapabilityError):
        engine.require(Capability.ATTENTION, method="ICR")
