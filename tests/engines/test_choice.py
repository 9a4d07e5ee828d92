"""Engine choice: ``auto`` picks vLLM where it imports and the method allows it, transformers otherwise."""

from __future__ import annotations

import logging

import pytest

from rerankit.engines import Capability, get_engine
from rerankit.engines import choice as choice_mod
from rerankit.engines.choice import pick_engine, vllm_available
from rerankit.errors import CapabilityError

GEN = (Capability.GENERATE,)


@pytest.fixture
def auto(monkeypatch):
    """No RERANKIT_ENGINE (the test suite sets it to transformers): the product's own default."""
    monkeypatch.delenv("RERANKIT_ENGINE", raising=False)


def _vllm(monkeypatch, ok: bool, device: str = "cuda") -> None:
    monkeypatch.setattr(choice_mod, "vllm_available", lambda: (ok, "" if ok else "ImportError: no vllm"))
    monkeypatch.setattr(choice_mod, "vllm_device", lambda: device)


def test_auto_picks_vllm_when_it_imports_and_says_so(auto, monkeypatch, caplog):
    _vllm(monkeypatch, True)
    with caplog.at_level(logging.INFO, logger="rerankit.engines.choice"):
        assert pick_engine(None, (Capability.LOGPROBS,), "the first reranker") == "vllm"
        assert pick_engine("auto", GEN, "x") == "vllm"
    assert "engine auto: vllm for the first reranker" in caplog.text


def test_auto_falls_back_to_transformers_with_the_reason(auto, monkeypatch, caplog):
    _vllm(monkeypatch, False)
    with caplog.at_level(logging.INFO, logger="rerankit.engines.choice"):
        assert pick_engine(None, GEN, "the rankgpt reranker") == "transformers"
    assert "vllm does not import: ImportError: no vllm" in caplog.text


def test_auto_leaves_vllms_cpu_build_to_explicit_requests(auto, monkeypatch, caplog):
    _vllm(monkeypatch, True, device="cpu")
    with caplog.at_level(logging.INFO, logger="rerankit.engines.choice"):
        assert pick_engine(None, (Capability.LOGPROBS,), "the yes-no reranker") == "transformers"
    assert "CPU build" in caplog.text and "engine='vllm'" in caplog.text
    assert pick_engine("vllm", (Capability.LOGPROBS,), "x") == "vllm"


def test_auto_on_this_machine_follows_the_real_vllm_platform(auto):
    ok, _ = vllm_available()
    picked = pick_engine(None, GEN, "x")
    if not ok:
        assert picked == "transformers"
    else:
        assert picked == ("transformers" if choice_mod.vllm_device() == "cpu" else "vllm")


def test_attention_methods_stay_on_transformers(auto, monkeypatch):
    _vllm(monkeypatch, True)
    assert pick_engine("auto", (Capability.ATTENTION,), "the icr reranker") == "transformers"


def test_vllm_for_icr_is_refused_before_loading(auto):
    with pytest.raises(CapabilityError, match=r"icr reranker needs the 'attention'.*'vllm'.*transformers"):
        pick_engine("vllm", (Capability.ATTENTION,), "the icr reranker")
    from rerankit.rerankers.icr import ICRReranker

    with pytest.raises(CapabilityError, match="attention"):  # no model is loaded: the path does not even exist
        ICRReranker(model="/nonexistent/model", engine="vllm")


def test_named_engines_win_and_env_replaces_auto(monkeypatch):
    monkeypatch.setenv("RERANKIT_ENGINE", "transformers")
    _vllm(monkeypatch, True)
    assert pick_engine(None, GEN, "x") == "transformers"
    assert pick_engine("auto", GEN, "x") == "transformers"
    assert pick_engine("llamacpp", GEN, "x") == "llamacpp"
    monkeypatch.setenv("RERANKIT_ENGINE", "auto")
    assert pick_engine(None, GEN, "x") == "vllm"


def test_vllm_available_reports_the_real_import():
    ok, why = vllm_available()
    try:
        import vllm  # noqa: F401
    except Exception:
        assert not ok and why
    else:
        assert ok and why == ""


def test_get_engine_checks_an_instance_against_needs(smollm):
    engine = get_engine("transformers", str(smollm))
    assert get_engine(engine, needs=(Capability.ATTENTION,), method="icr") is engine
