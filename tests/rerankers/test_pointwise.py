"""Yes/no and Rank1 pointwise rerankers on real packaged LLMs (SmolLM2-135M for mechanics, Qwen2.5-0.5B for
a relevance check): scoring rules, batching invariants, truncation, errors."""

from __future__ import annotations

import math

import pytest

from rerankit.engines import get_engine
from rerankit.errors import InputError, ModelNotFoundError
from rerankit.registry import build
from rerankit.rerankers.pointwise import Rank1Reranker, YesNoReranker
from rerankit.types import Document, Hit, Query, Ranking

pytestmark = [pytest.mark.slow, pytest.mark.llm]

SEASONS = Ranking(Query("q1", "what causes the seasons on earth"), [
    Hit(Document("pizza", "Pizza is an Italian dish: flattened bread dough topped with tomatoes and cheese."), 4),
    Hit(Document("tilt", "The seasons are caused by the tilt of Earth's axis: the hemisphere tilted toward the Sun "
                         "receives more direct sunlight and has summer."), 3),
    Hit(Document("stocks", "The stock market fell sharply on Monday after the bank raised interest rates."), 2),
    Hit(Document("orbit", "Earth's axis is tilted 23.5 degrees relative to its orbit, so the angle of sunlight "
                          "changes through the year, which gives us seasons."), 1),
])
TIDES = Ranking(Query("q2", "what causes ocean tides"), [
    Hit(Document("moon", "Tides are caused mainly by the gravitational pull of the Moon on Earth's oceans."), 2),
    Hit(Document("bread", "Sourdough bread is leavened with wild yeast and lactic acid bacteria."), 1),
])


@pytest.fixture(scope="module")
def engine(smollm):
    return get_engine("transformers", str(smollm), batch_size=8)


def test_yes_no_score_is_logp_yes_minus_logp_no_of_the_golden_prompt(engine):
    rr = YesNoReranker(engine=engine, progress=False)
    assert rr.template.name == "yes-no" and rr.labels == ("Yes", "No")
    out = rr.rerank(TIDES)
    prompt = [{"role": "user", "content": 'For the following query and document, judge whether they are relevant. '
               'Output "Yes" or "No".\nQuery: what causes ocean tides\nDocument: Tides are caused mainly by the '
               "gravitational pull of the Moon on Earth's oceans.\nOutput:"}]
    lp = engine.next_token_logprobs([prompt], ["Yes", "No"])[0]
    moon = next(h for h in out if h.id == "moon")
    assert moon.score == pytest.approx(lp["Yes"] - lp["No"], abs=1e-4)
    assert moon.meta["logprob_yes"] == pytest.approx(lp["Yes"], abs=1e-4)
    assert out.meta["reranker"] == "yes-no" and out.meta["truncated"] == 0
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)


def test_batched_across_queries_equals_one_query_at_a_time(engine):
    rr = YesNoReranker(engine=engine, batch_size=3, progress=False)
    together = rr.rerank_many([SEASONS, TIDES])
    alone = [rr.rerank(SEASONS), rr.rerank(TIDES)]
    for a, b in zip(together, alone):
        assert a.ids() == b.ids()
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=2e-4)


def test_depth_keeps_the_tail_below_and_empty_lists(engine):
    rr = YesNoReranker(engine=engine, depth=2, progress=False)
    out = rr.rerank(SEASONS)
    assert set(out.ids()[:2]) == {"pizza", "tilt"} and out.ids()[2:] == ["stocks", "orbit"]
    assert out[1].score > out[2].score
    empty = Ranking(Query("q3", "nothing here"), [])
    with pytest.raises(InputError, match="no candidates"):
        rr.rerank(empty)
    assert rr.rerank_many([empty, TIDES])[0] is empty


def test_long_passages_are_truncated_and_reported(engine):
    long = Ranking(Query("q4", "seasons"), [Hit(Document("long", "The axis tilt causes seasons. " * 200), 1),
                                            Hit(Document("short", "Seasons come from the tilt."), 0)])
    out = YesNoReranker(engine=engine, max_passage_tokens=32, progress=False).rerank(long)
    hits = {h.id: h for h in out}
    assert hits["long"].meta["truncated"] is True and "truncated" not in hits["short"].meta
    assert out.meta["truncated"] == 1


def test_prompt_beyond_the_context_without_truncation_is_a_clear_error(smollm):
    small = get_engine("hf", str(smollm), context_length=128)
    rr = YesNoReranker(engine=small, max_passage_tokens=None, progress=False)
    long = Ranking(Query("q4", "seasons"), [Hit(Document("long", "The axis tilt causes seasons. " * 100), 1)])
    with pytest.raises(InputError, match="exceeds the context length"):
        rr.rerank(long)


def test_registry_builds_with_overrides_and_reports_missing_models(smollm):
    rr = build("reranker", "yes-no", model=str(smollm), engine="hf", depth=3, progress=False)
    assert isinstance(rr, YesNoReranker) and rr.depth == 3 and rr.template.name == "yes-no"
    assert rr.config()["engine"]["engine"] == "transformers"
    with pytest.raises(ModelNotFoundError, match="looked at"):
        build("reranker", "yes-no", model="/nonexistent/models/qwen", engine="transformers")


def test_rank1_caps_reasoning_falls_back_and_keeps_the_reasoning(engine):
    rr = Rank1Reranker(engine=engine, max_reasoning_tokens=6, progress=False)
    out = rr.rerank(TIDES)
    for h in out:
        assert 0.0 < h.score < 1.0
        assert h.meta["capped"] is True and h.meta["forced"] is True and h.meta["reasoning_tokens"] == 6
        assert isinstance(h.meta["reasoning"], str)
        # the fallback forces the answer after "\n</think>" and scores P(true) / (P(true) + P(false))
        prompt = ("Determine if the following passage is relevant to the query. Answer only with 'true' or "
                  f"'false'.\nQuery: what causes ocean tides\nPassage: {h.doc.text}\n<think>")
        lp = engine.next_token_logprobs([f"{prompt}\n{h.meta['reasoning']}\n</think>"], [" true", " false"])[0]
        p_true = math.exp(lp[" true"]) / (math.exp(lp[" true"]) + math.exp(lp[" false"]))
        assert h.score == pytest.approx(p_true, abs=1e-4)


def test_qwen_yes_no_ranks_relevant_passages_first(qwen):
    """The 0.5B instruct model's yes/no margin separates relevant from irrelevant passages (MODELS.md)."""
    rr = YesNoReranker(model=str(qwen), engine="transformers", progress=False)
    out = rr.rerank(SEASONS)
    assert set(out.ids()[:2]) == {"tilt", "orbit"}, [(h.id, round(h.score, 3)) for h in out]
