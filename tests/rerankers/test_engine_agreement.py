"""The same method on different engines gives the same ranking (real DL19 BM25 candidates, packaged Qwen 0.5B).

yes-no and FIRST through transformers and vLLM (float32 on both) must agree: Kendall tau >= 0.95 on the top 10
(yes-no) and identical FIRST window orders (top 20). FIRST through llama.cpp runs the same Qwen as its Q4 GGUF,
multiplied with 8-bit-quantised activations, so its label log-probabilities differ from transformers' fp32
(dequantised) ones by up to ~0.15 nats (measured on DL19: 0.09-0.14 per window): its window orders match except
for adjacent labels closer than that (measured: 1-2 swaps of labels 0.01-0.1 nats apart per 20-label window). No
engine floors a label's log-probability: each is read exactly.
"""

from __future__ import annotations

import pytest
from scipy.stats import kendalltau

from rerankit.engines import get_engine
from rerankit.rerankers.first import FirstReranker
from rerankit.rerankers.pointwise import YesNoReranker

pytestmark = [pytest.mark.slow, pytest.mark.llm]

N_QUERIES, DEPTH = 2, 20
YES_NO_DEPTH = 10  # 2 x 10 pointwise prompts per engine (20 cost 100 s of CI for the same check)
LLAMACPP_TOL = 0.25  # nats: the packaged GGUF is Q4; llama.cpp multiplies it with 8-bit activations


@pytest.fixture(scope="module")
def hf(qwen):
    return get_engine("transformers", str(qwen), dtype="float32", batch_size=4)


@pytest.fixture(scope="module")
def rankings(dl19):
    _, run = dl19
    return [r.top(DEPTH) for r in list(run.values())[:N_QUERIES]]


def _taus(a, b):
    out = []
    for x, y in zip(a, b):
        pos = {d: i for i, d in enumerate(y.ids())}
        out.append(kendalltau(range(len(x.ids())), [pos[d] for d in x.ids()]).statistic)
    return out


def test_yes_no_vllm_agrees_with_transformers(vllm_qwen, hf, rankings):
    top = [r.top(YES_NO_DEPTH) for r in rankings]
    kw = dict(template="yes-no", depth=YES_NO_DEPTH, max_passage_tokens=128, progress=False)
    on_vllm = YesNoReranker(engine=vllm_qwen, **kw).rerank_many(top)
    on_hf = YesNoReranker(engine=hf, **kw).rerank_many(top)
    taus = _taus(on_vllm, on_hf)
    assert min(taus) >= 0.95, f"Kendall tau vllm vs transformers per query: {taus}"
    diff = max(abs(a.score - b.score) for x, y in zip(on_vllm, on_hf)
               for a, b in zip(sorted(x.hits, key=lambda h: h.doc.id), sorted(y.hits, key=lambda h: h.doc.id)))
    assert diff < 5e-3, f"largest yes-no score difference {diff:.2e}"


def _first_windows(engine, rankings):
    rr = FirstReranker(engine=engine, depth=DEPTH, window_size=DEPTH, stride=10, max_passage_words=20,
                       keep_history=True, progress=False)
    out = rr.rerank_many(rankings)
    return [h for r in out for h in r.meta["first"]["history"]]


def test_first_window_orders_are_identical_on_transformers_vllm_and_llamacpp(vllm_qwen, hf, rankings, qwen):
    want = _first_windows(hf, rankings)
    got = _first_windows(vllm_qwen, rankings)
    assert [h["prompt"] for h in got] == [h["prompt"] for h in want]
    assert [h["permutation"] for h in got] == [h["permutation"] for h in want]
    worst = max(abs(g["logprobs"][k] - w["logprobs"][k]) for g, w in zip(got, want) for k in w["logprobs"])
    assert worst < 2e-3, f"largest FIRST label logprob difference vllm vs transformers {worst:.2e}"
    for h in got:  # 20 distinct exact values per window (a top-k floor would repeat one value)
        assert len(set(h["logprobs"].values())) == DEPTH
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llamacpp extra) is not installed")
    gguf = get_engine("llamacpp", "qwen2.5-coder-0.5b-instruct", n_ctx=4096, n_threads=2, tokenizer=str(qwen))
    try:
        lcpp = _first_windows(gguf, rankings)
    finally:
        gguf.close()
    assert [h["prompt"] for h in lcpp] == [h["prompt"] for h in want]
    for g, w in zip(lcpp, want):
        # exact values from the full vocabulary, within llama.cpp's Q4 x Q8 kernel error of transformers' fp32
        assert len(set(g["logprobs"].values())) == DEPTH
        assert max(abs(g["logprobs"][k] - w["logprobs"][k]) for k in w["logprobs"]) < LLAMACPP_TOL
        # the same order, except adjacent labels closer than that error (measured: a few swaps per window)
        labels = list(w["logprobs"])
        pos = {k: i for i, k in enumerate(g["permutation"])}
        for i, a in enumerate(w["permutation"]):
            for b in w["permutation"][i + 1:]:
                if pos[a] > pos[b]:
                    gap = w["logprobs"][labels[a]] - w["logprobs"][labels[b]]
                    assert gap < 2 * LLAMACPP_TOL, f"llama.cpp swapped labels {gap:.3f} nats apart"
