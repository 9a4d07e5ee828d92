"""LoRA adapters: a PEFT adapter folder loads as base + adapter on transformers (peft) and on vLLM (LoRARequest).

The adapter is made here with peft on the packaged SmolLM2 (rank 8 on the attention projections, with non-zero
B matrices so that it changes the model's outputs), saved the way the hub publishes adapters (adapter_config.json
naming the base model), and loaded back by path, as Rank-R1's ``ielabgroup/Rank-R1-7B-v0.1`` would be.
"""

from __future__ import annotations

import json

import pytest

from rerankit.engines import GenerationParams, get_engine
from rerankit.engines.adapters import find_adapter, lora_rank_limit
from rerankit.errors import ConfigError

pytestmark = [pytest.mark.slow, pytest.mark.llm]

CHATS = [[{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
         [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "["}]]
CANDIDATES = ["Yes", "No", "A", "B", "C", "red", "blue"]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, smollm):
    torch = pytest.importorskip("torch")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(smollm), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                    "o_proj"], lora_dropout=0.0))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero (a no-op adapter): make it change the model
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    out = tmp_path_factory.mktemp("lora") / "smollm-lora"
    model.save_pretrained(out)
    return out


def test_adapter_config_is_read(adapter, smollm):
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(smollm)
    found = find_adapter(str(adapter))
    assert found.base == str(smollm) and found.rank == 8 and lora_rank_limit(found.rank) == 8
    assert find_adapter(str(smollm)) is None
    with pytest.raises(ConfigError, match="not a PEFT adapter"):
        find_adapter(str(smollm), base_model=str(smollm))


@pytest.fixture(scope="module")
def hf_pair(adapter, smollm):
    return get_engine("transformers", str(smollm)), get_engine("transformers", str(adapter))


def test_transformers_loads_base_plus_adapter(hf_pair, adapter, smollm):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, tuned = hf_pair
    assert tuned.config()["base_model"] == str(smollm)
    b, t = base.next_token_logprobs(CHATS, CANDIDATES), tuned.next_token_logprobs(CHATS, CANDIDATES)
    assert max(abs(x[c] - y[c]) for x, y in zip(b, t) for c in CANDIDATES) > 0.05  # the adapter is applied
    # the same numbers as peft's own (unmerged) model on the same input ids
    ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(smollm), dtype=torch.float32),
                                    str(adapter)).eval()
    from rerankit.engines.tokens import candidate_token_ids

    ids = tuned._encode(CHATS[:1])[0]
    with torch.inference_mode():
        lp = torch.log_softmax(ref(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
    tok = candidate_token_ids(tuned.tokenize, CANDIDATES)
    assert max(abs(lp[i].item() - t[0][c]) for c, i in zip(CANDIDATES, tok)) < 1e-3
    # base_model= overrides the adapter's base (here: the same folder, given explicitly)
    again = get_engine("transformers", str(adapter), base_model=str(smollm))
    assert again.next_token_logprobs(CHATS[:1], CANDIDATES)[0] == pytest.approx(t[0], abs=1e-5)


def test_vllm_loads_the_adapter_with_the_same_outputs(hf_pair, adapter, smollm, vllm_installed, in_process_vllm):
    _, tuned = hf_pair
    # in this process (built and closed before any other vLLM engine): see tests/conftest.py
    engine = in_process_vllm(str(adapter), max_model_len=1024, kv_cache_gib=1, enforce_eager=True)
    try:
        assert engine.adapter is not None and engine.config()["base_model"] == str(smollm)
        got, want = engine.next_token_logprobs(CHATS, CANDIDATES), tuned.next_token_logprobs(CHATS, CANDIDATES)
        worst = max(abs(g[c] - w[c]) for g, w in zip(got, want) for c in CANDIDATES)
        assert worst < 2e-3, f"largest |vllm+LoRA - transformers+peft| logprob difference {worst:.2e}"
        params = GenerationParams(max_tokens=10)
        # a cut at max_tokens can split a multi-byte character: vLLM holds its bytes back, transformers shows U+FFFD
        texts = [[g.text.rstrip("\ufffd") for g in e.generate(CHATS, params)] for e in (engine, tuned)]
        assert texts[0] == texts[1]
    finally:
        engine.close()
