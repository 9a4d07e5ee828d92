"""The openai engine against a REAL OpenAI-compatible server started here: llama-cpp-python's server
(``python -m llama_cpp.server``) serving the packaged SmolLM2 GGUF, compared with the transformers engine on
the same weights (the transformers folder is that GGUF dequantised to fp32)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from rerankit.engines import Capability, GenerationParams, get_engine
from rerankit.engines.openai import OpenAIEngine, ServerError
from rerankit.errors import CapabilityError, ConfigError
from rerankit.rerankers.pointwise import YesNoReranker
from rerankit.server.ports import free_local_port
from rerankit.types import Document, Hit, Query, Ranking

pytestmark = [pytest.mark.slow, pytest.mark.llm]

# llama.cpp multiplies Q4 weights with 8-bit-quantised activations; transformers runs the dequantised weights in
# fp32. Measured differences on these prompts are <= 0.13 nats, so 0.25 is the tolerance.
TOL = 0.25
CHATS = [
    [{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
    [{"role": "user", "content": "Is two plus two five? Answer yes or no."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is Paris in France? Yes or no?"}],
]
CANDS = ["Yes", "No"]  # both within the top 20 here, so the server returns exact values


@pytest.fixture(scope="module")
def server(smollm, tmp_path_factory):
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("llama-cpp-python[server] is missing under CI: .ci/run must install it")
        pytest.skip("llama-cpp-python[server] is not installed (pip install 'llama-cpp-python[server]')")
    port = free_local_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm / "model.gguf"),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2",
                             "--model_alias", "smollm"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the llama.cpp server exited with code {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                pytest.fail(f"the llama.cpp server did not start within 120 s; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def hf(smollm):
    return get_engine("transformers", str(smollm))


def test_same_prompts_same_logprobs_via_completions(server, hf, smollm):
    """With the model's tokenizer here, chat prompts are rendered locally and sent as raw text."""
    api = get_engine("openai", "smollm", base_url=server, tokenizer=str(smollm), concurrency=2)
    assert api.render(CHATS[0]) == hf.render(CHATS[0])
    assert not api._vllm_server()  # llama.cpp's /v1/models names no vLLM owner: plain text and top_logprobs
    assert api._completion_prompt(CHATS[0]) == hf.render(CHATS[0])
    got, want = api.next_token_logprobs(CHATS, CANDS), hf.next_token_logprobs(CHATS, CANDS)
    for g, w in zip(got, want):
        for c in CANDS:
            assert g[c] == pytest.approx(w[c], abs=TOL), (c, g, w)


def test_same_prompts_same_logprobs_via_chat_endpoint(server, hf):
    """Without a tokenizer, the server applies the chat template stored in the GGUF file."""
    api = OpenAIEngine("smollm", base_url=server, api="auto")
    got, want = api.next_token_logprobs(CHATS, ["Yes", "No"]), hf.next_token_logprobs(CHATS, ["Yes", "No"])
    for g, w in zip(got, want):
        assert g["Yes"] == pytest.approx(w["Yes"], abs=TOL) and g["No"] == pytest.approx(w["No"], abs=TOL)


def test_yes_no_reranker_is_engine_independent(server, hf, smollm):
    ranking = Ranking(Query("q", "what causes ocean tides"), [
        Hit(Document("moon", "Tides are caused mainly by the gravitational pull of the Moon on the oceans."), 2),
        Hit(Document("bread", "Sourdough bread is leavened with wild yeast and lactic acid bacteria."), 1)])
    api = get_engine("openai", "smollm", base_url=server, tokenizer=str(smollm))
    a = YesNoReranker(engine=api, progress=False).rerank(ranking)
    b = YesNoReranker(engine=hf, progress=False).rerank(ranking)
    sa, sb = a.scores(), b.scores()
    for doc in sa:
        assert sa[doc] == pytest.approx(sb[doc], abs=TOL)


def test_generation_length_stop_and_concurrency(server, hf, smollm):
    api = get_engine("openai", "smollm", base_url=server, tokenizer=str(smollm), concurrency=3)
    capped = api.generate(CHATS, GenerationParams(max_tokens=2))
    assert [g.finish_reason for g in capped] == ["length"] * 3 and all(g.completion_tokens == 2 for g in capped)
    free = api.generate(CHATS, GenerationParams(max_tokens=24))
    assert free == [api.generate([p], GenerationParams(max_tokens=24))[0] for p in CHATS]  # order kept
    assert free[0].text.split()[0].strip(".,!") == hf.generate(CHATS[:1], GenerationParams(max_tokens=24))[0] \
        .text.split()[0].strip(".,!")
    stop = free[2].text[1:3]
    stopped = api.generate(CHATS[2:], GenerationParams(max_tokens=24, stop=(stop,)))[0]
    assert stop not in stopped.text and stopped.finish_reason == "stop"


def test_server_errors_are_clear(server):
    dead = OpenAIEngine("smollm", base_url=f"http://127.0.0.1:{free_local_port()}/v1", max_retries=2, backoff=0.01,
                        timeout=5)
    t0 = time.time()
    with pytest.raises(ServerError, match="failed after 3 attempts: ConnectError"):
        dead.generate(["hi"])
    assert time.time() - t0 < 10
    wrong_path = OpenAIEngine("smollm", base_url=server.removesuffix("/v1") + "/nope", max_retries=3)
    with pytest.raises(ServerError, match="refused the request .*HTTP 404"):
        wrong_path.next_token_logprobs(["hi"], ["a"])  # 4xx: no retries
    with pytest.raises(CapabilityError, match="attention"):
        wrong_path.require(Capability.ATTENTION, method="ICR")


def test_logprob_mode_is_checked_before_any_request():
    with pytest.raises(ConfigError, match="logprob_mode must be"):
        OpenAIEngine("m", base_url="http://127.0.0.1:9/v1", logprob_mode="exact")
    with pytest.raises(ConfigError, match="needs tokenizer"):
        OpenAIEngine("m", base_url="http://127.0.0.1:9/v1", logprob_mode="token_ids")
