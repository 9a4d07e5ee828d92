"""The openai engine against a REAL ``vllm serve`` (the second real OpenAI-compatible server, beside llama.cpp's):
same prompts, same scores as the in-process vllm engine (``vllm_qwen``) on the same packaged Qwen 0.5B in float32.

Both sides run vLLM's own CPU kernels on the same weights; only the batch a request lands in differs (the server
batches concurrent HTTP requests, the in-process engine a whole list), which moves float32 log-probabilities by
well under TOL.
"""

from __future__ import annotations

import httpx
import pytest

from rerankit.engines import GenerationParams, get_engine
from rerankit.rerankers.first import FirstReranker
from rerankit.rerankers.pointwise import YesNoReranker

from .conftest import SERVED_NAME

pytestmark = [pytest.mark.slow, pytest.mark.llm]

TOL = 2e-3  # nats; float32 on both sides, different batch shapes
CHATS = [[{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
         [{"role": "user", "content": "Is two plus two five? Answer yes or no."}],
         [{"role": "user", "content": "Rank the passages."}, {"role": "assistant", "content": "["}]]
# Answer words, FIRST labels and tokens far below any top-20 list: a floor would show as repeated values.
CANDIDATES = ["Yes", "No", " no", *[chr(ord("A") + i) for i in range(20)], "zebra", "\n", "<|im_end|>"]


@pytest.fixture(scope="module")
def api(vllm_server, qwen):
    engine = get_engine("openai", SERVED_NAME, base_url=vllm_server, tokenizer=str(qwen), concurrency=4)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def rankings(shared_data):
    from rerankit.data import load_dataset

    run = load_dataset("msmarco-passage/trec-dl-2019", data_dir=shared_data).candidates("bm25")
    return [list(run.values())[0].top(10)]  # one query: 10 yes-no pairs and one FIRST window keep CI short


def test_server_sees_the_in_process_token_ids(api, vllm_qwen, vllm_server):
    assert api._vllm_server(), "auto mode did not recognise vllm serve from /v1/models"
    for chat in CHATS:
        ids = api._completion_prompt(chat)
        assert ids == vllm_qwen._inputs([chat])[0]["prompt_token_ids"]
        got = httpx.post(f"{vllm_server}/completions", timeout=120, json={
            "model": SERVED_NAME, "prompt": ids, "max_tokens": 1, "return_token_ids": True}).json()
        assert got["choices"][0]["prompt_token_ids"] == ids


def test_completions_logprobs_are_exact_and_equal_in_process(api, vllm_qwen):
    got, want = api.next_token_logprobs(CHATS, CANDIDATES), vllm_qwen.next_token_logprobs(CHATS, CANDIDATES)
    worst = max(abs(g[c] - w[c]) for g, w in zip(got, want) for c in CANDIDATES)
    assert worst < TOL, f"largest |vllm serve - in-process vllm| logprob difference {worst:.2e}"
    for row in got:  # values far below the top 20 are the model's own, all different: no floor
        low = sorted(row.values())[:8]
        assert low[0] < -15 and len(set(low)) == len(low)


def test_top_logprobs_path_agrees_where_it_can(vllm_server, qwen, api):
    """The plain OpenAI field (``logprobs: 20`` on /v1/completions) gives the same values for tokens in the top 20."""
    top = get_engine("openai", SERVED_NAME, base_url=vllm_server, tokenizer=str(qwen), logprob_mode="top")
    try:
        assert not top._vllm_server()
        got, want = top.next_token_logprobs(CHATS[:2], ["Yes", "No"]), api.next_token_logprobs(CHATS[:2], ["Yes", "No"])
    finally:
        top.close()
    for g, w in zip(got, want):
        assert g["Yes"] == pytest.approx(w["Yes"], abs=TOL) and g["No"] == pytest.approx(w["No"], abs=TOL)


def test_greedy_generation_equals_in_process(api, vllm_qwen):
    params = GenerationParams(max_tokens=12)
    assert [g.text for g in api.generate(CHATS[:2], params)] == [g.text for g in vllm_qwen.generate(CHATS[:2], params)]
    short = api.generate(CHATS[:1], GenerationParams(max_tokens=2))[0]
    assert short.finish_reason == "length" and short.completion_tokens == 2


def test_yes_no_and_first_rankings_equal_in_process(api, vllm_qwen, rankings):
    kw = dict(template="yes-no", depth=10, max_passage_tokens=64, progress=False)
    served = YesNoReranker(engine=api, **kw).rerank_many(rankings)
    local = YesNoReranker(engine=vllm_qwen, **kw).rerank_many(rankings)
    for a, b in zip(served, local):
        sa, sb = a.scores(), b.scores()
        assert max(abs(sa[d] - sb[d]) for d in sb) < TOL
        assert a.ids() == b.ids()
    fk = dict(depth=10, window_size=10, stride=5, max_passage_words=30, keep_history=True, progress=False)
    hs = [h for r in FirstReranker(engine=api, **fk).rerank_many(rankings) for h in r.meta["first"]["history"]]
    hl = [h for r in FirstReranker(engine=vllm_qwen, **fk).rerank_many(rankings) for h in r.meta["first"]["history"]]
    assert [h["permutation"] for h in hs] == [h["permutation"] for h in hl]
    assert max(abs(g["logprobs"][k] - w["logprobs"][k]) for g, w in zip(hs, hl) for k in w["logprobs"]) < TOL
