"""ICR on real LLMs: exactly two forward passes per query (5 and 50 passages), the SDPA row path equal to the eager
attention path, correct ranking with Qwen."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.errors import ConfigError, InputError
from rerankit.types import Document, Hit, Query, Ranking

SEASONS = [
    ("d1", "Paris is the capital of France and is famous for the Eiffel Tower."),
    ("d3", "Bananas are a good source of potassium."),
    ("d0", "The seasons are caused by the tilt of the Earth's axis relative to its orbit around the sun."),
    ("d4", "The stock market fell sharply on Monday after interest rates rose."),
    ("d2", "Because Earth's axis is tilted about 23.5 degrees, sunlight strikes each hemisphere at different "
           "angles over the year."),
]


def _ranking(pairs, query="what causes the seasons on earth"):
    n = len(pairs)
    return Ranking(Query("q1", query), tuple(Hit(Document(i, t), float(n - k)) for k, (i, t) in enumerate(pairs)))


@pytest.fixture(scope="module")
def smol_engine(smollm):
    from rerankit.engines.hf import TransformersEngine

    return TransformersEngine(str(smollm))


def smol_engine_ids(engine, text):
    from rerankit.engines.hf_attention import tokens_with_offsets

    return tokens_with_offsets(engine.tokenizer, text, engine._bos)[0]


@pytest.fixture(scope="module")
def counted(smol_engine):
    """The engine with a hook recording the tokens of every real forward call of the underlying torch model."""
    calls = []
    handle = smol_engine.hf_model.register_forward_pre_hook(
        lambda _m, _a, kw: calls.append(kw["input_ids"].shape[1]), with_kwargs=True)
    yield smol_engine, calls
    handle.remove()


@pytest.mark.slow
@pytest.mark.parametrize("n_docs", [5, 50])
def test_exactly_two_forward_passes_per_query(counted, n_docs):
    from rerankit.rerankers.icr import ICRReranker

    engine, calls = counted
    topics = ["rivers", "volcanoes", "bread", "chess", "tides", "owls", "glass", "comets", "maple trees", "jazz"]
    pairs = [(f"p{i}", f"On {topics[i % len(topics)]}.") for i in range(n_docs)]
    reranker = ICRReranker(engine=engine, progress=False)
    before = len(calls)
    ranking = _ranking(pairs, "what are tides")
    out = reranker.rerank(ranking)
    passages = [reranker._passage(h) for h in ranking.hits][::-1]  # reverse_doc_order
    full = [len(smol_engine_ids(engine, reranker.build_prompt(q, passages).text)) for q in ("what are tides", "N/A")]
    # one full pass over the query prompt, then only the calibration prompt's tokens after the shared passages
    assert sum(calls[before:]) == full[0] + full[1] - out.meta["icr_reused_tokens"]
    assert out.meta["icr_passes"] == 2 and out.meta["icr_windows"] == 1
    assert full[1] - out.meta["icr_reused_tokens"] < 40  # the calibration pass computes little more than "N/A"
    assert not hasattr(reranker, "forward_passes")  # counted per call, not on the shared instance
    assert sorted(out.ids()) == sorted(i for i, _ in pairs)
    assert all("icr_score" in h.meta for h in out)


@pytest.mark.slow
def test_sliding_windows_cost_two_passes_each(counted):
    from rerankit.rerankers.icr import ICRReranker

    engine, calls = counted
    reranker = ICRReranker(engine=engine, window_size=2, window_stride=1, progress=False)
    pairs = [("a", "On owls."), ("b", "On tides."), ("c", "On jazz.")]
    out = reranker.rerank(_ranking(pairs, "tides"))
    assert out.meta["icr_windows"] == 2  # [1:3] then [0:2]
    assert out.meta["icr_passes"] == 4
    assert sorted(out.ids()) == ["a", "b", "c"]


@pytest.mark.slow
def test_prompt_spans_point_at_passages(smol_engine):
    from rerankit.rerankers.icr import ICRReranker

    reranker = ICRReranker(engine=smol_engine, progress=False)
    texts = [t for _, t in SEASONS]
    prompt = reranker.build_prompt("what causes the seasons", texts)
    for i, (a, b) in enumerate(prompt.doc_spans, 1):
        assert prompt.text[a:b] == f"[{i}] {texts[i - 1]}"
    assert prompt.text[prompt.query_start:].startswith("Please find information")
    assert prompt.text.startswith("<|im_start|>user\n Here are some paragraphs:\n\n[1] ")  # ChatML markers
    assert prompt.text.endswith("Query: what causes the seasons<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.query_start > prompt.doc_spans[-1][1]
    assert "what causes the seasons" in prompt.text[prompt.query_start:]


@pytest.mark.slow
@pytest.mark.parametrize("scoring", ["masked_na_calibration", "query_last"])
def test_sdpa_row_path_gives_the_eager_scores(smol_engine, scoring):
    """Query rows recomputed on SDPA, with and without the reused passage cache, equal full eager attention
    (tolerance 1e-5 relative to the largest score: float32 sums over 30 layers x 9 heads)."""
    from rerankit.rerankers.icr import ICRReranker

    texts = [t for _, t in SEASONS]
    query = "what causes the seasons on earth"
    eager = ICRReranker(engine=smol_engine, attention="eager", scoring=scoring, progress=False)
    reference = eager.score_passages(query, texts)
    for reuse in (True, False):
        rows = ICRReranker(engine=smol_engine, scoring=scoring, reuse_cache=reuse, progress=False)
        got = rows.score_passages(query, texts)
        assert np.allclose(got, reference, rtol=0, atol=1e-5 * np.abs(reference).max()), (reuse, got, reference)
        assert list(np.argsort(-got, kind="stable")) == list(np.argsort(-reference, kind="stable"))


@pytest.mark.slow
def test_icr_ranks_relevant_passages_first_with_qwen(qwen):
    from rerankit.rerankers.icr import ICRReranker

    reranker = ICRReranker(str(qwen), progress=False)
    out = reranker.rerank(_ranking(SEASONS))
    assert set(out.ids()[:2]) == {"d0", "d2"}, [(h.id, round(h.score, 3)) for h in out]
    assert reranker.config()["scoring"] == "masked_na_calibration"


@pytest.mark.slow
def test_bad_options_are_clear_errors(smol_engine):
    from rerankit.rerankers.icr import ICRReranker

    with pytest.raises(ConfigError, match="scoring"):
        ICRReranker(engine=smol_engine, scoring="magic")
    with pytest.raises(ConfigError, match="task"):
        ICRReranker(engine=smol_engine, task="summarise")
    with pytest.raises(InputError, match="window_size"):
        ICRReranker(engine=smol_engine, window_size=1)
    with pytest.raises(InputError, match="no candidates"):
        ICRReranker(engine=smol_engine).rerank(Ranking(Query("q", "x"), ()))
