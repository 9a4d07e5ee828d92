"""The engine interface without a model: capabilities, parameters, prompt checks, model resolution, factory."""

from __future__ import annotations

import pytest

from rerankit.engines import Capability, GenerationParams, get_engine
from rerankit.engines.base import check_prompts
from rerankit.engines.models import resolve_gguf, resolve_model
from rerankit.engines.openai import OpenAIEngine
from rerankit.errors import CapabilityError, ConfigError, InputError, ModelNotFoundError
from rerankit.registry import names, resolve


def test_generation_params_validate_and_normalise_stop():
    assert GenerationParams(stop="</think>").stop == ("</think>",)
    for bad in ({"max_tokens": 0}, {"temperature": -1.0}, {"top_p": 0.0}, {"top_p": 1.5}):
        with pytest.raises(InputError):
            GenerationParams(**bad)


def test_check_prompts_accepts_text_and_chat_and_refuses_the_rest():
    chat = [{"role": "user", "content": "hi"}]
    assert check_prompts(["a", chat]) == ["a", chat]
    with pytest.raises(InputError, match="list of prompts"):
        check_prompts("a single string")
    with pytest.raises(InputError, match="list of prompts"):
        check_prompts(chat)  # one chat prompt, not wrapped in a list
    with pytest.raises(InputError, match="role"):
        check_prompts([[{"content": "no role"}]])
    with pytest.raises(InputError, match="non-empty"):
        check_prompts([[]])


def test_openai_engine_lacks_attention_with_a_clear_message():
    engine = OpenAIEngine("served-model", base_url="http://127.0.0.1:9/v1")  # no request is sent
    assert engine.supports(Capability.GENERATE, Capability.LOGPROBS)
    assert not engine.supports(Capability.ATTENTION)
    with pytest.raises(CapabilityError, match=r"ICR needs the 'attention' capability.*'openai'.*transformers"):
        engine.require(Capability.ATTENTION, method="ICR")
    with pytest.raises(CapabilityError, match="attention"):
        engine.forward_attentions("some text")
    engine.close()


def test_engine_registry_names_and_aliases():
    assert {"transformers", "vllm", "openai", "llamacpp"} <= set(names("engine"))
    assert resolve("engine", "hf").name == "transformers"
    assert resolve("engine", "llama.cpp").name == "llamacpp"
    with pytest.raises(ConfigError, match="known engines"):
        resolve("engine", "tensorrt")


def test_get_engine_needs_a_model_and_a_valid_engine():
    with pytest.raises(ConfigError, match="needs a model"):
        get_engine("transformers", None)
    with pytest.raises(ConfigError, match="engine must be a name"):
        get_engine(42, "m")  # type: ignore[arg-type]


def test_missing_local_path_names_where_it_looked(tmp_path):
    with pytest.raises(ModelNotFoundError, match="looked at"):
        resolve_model(str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotFoundError, match="not an existing path nor a Hugging Face id"):
        resolve_model("not-a-model-name")
    with pytest.raises(ModelNotFoundError):
        resolve_model("")


def test_uncached_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=r"not available offline.*Hugging Face cache"):
        resolve_model("rerankit-test/certainly-not-cached-model")


def test_models_resolve_from_the_local_model_folder(tmp_path, monkeypatch):
    folder = tmp_path / "tiny-lm"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("RERANKIT_MODELS", str(tmp_path))
    assert resolve_model("tiny-lm") == str(folder)
    assert resolve_gguf("tiny-lm") == str(folder / "weights.gguf")
    assert resolve_model(str(folder)) == str(folder.resolve())
    (tmp_path / "no-gguf").mkdir()
    with pytest.raises(ModelNotFoundError, match="no .gguf file"):
        resolve_gguf(str(tmp_path / "no-gguf"))
