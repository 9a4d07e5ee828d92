"""Cross-encoder reranker mechanics on a real encoder (all-MiniLM-L6-v2) with an untrained, seeded
classification head: order restoration, batching invariance, truncation reports, activations, errors."""

from __future__ import annotations

import math

import pytest

from rerankit.errors import ConfigError, ModelNotFoundError
from rerankit.registry import build
from rerankit.rerankers.cross_encoder import CrossEncoderReranker
from rerankit.types import Document, Hit, Query, Ranking

pytestmark = pytest.mark.slow

TEXTS = ["Tides come from the Moon's gravity.", "Sourdough uses wild yeast.",
         "The Moon and the Sun both pull on the oceans, and the combined pull makes spring tides " * 3, "Cats."]


def _ce(path, **kw):
    import torch

    torch.manual_seed(0)  # the head is untrained: seed its initialisation so scores are reproducible
    return CrossEncoderReranker(str(path), progress=False, allow_untrained_head=True, **kw)


@pytest.fixture(scope="module")
def ce(minilm):
    return _ce(minilm, batch_size=2)


def _ranking(qid="q1", query="what causes tides"):
    return Ranking(Query(qid, query), [Hit(Document(f"d{i}", t), float(-i)) for i, t in enumerate(TEXTS)])


def test_length_bucketed_scores_come_back_in_input_order(ce):
    pairs = [("what causes tides", t) for t in TEXTS]
    scores, cut = ce.predict(pairs)
    one_by_one = [ce.predict([p])[0][0] for p in pairs]
    assert scores == pytest.approx(one_by_one, abs=1e-5)
    rev, _ = ce.predict(pairs[::-1])
    assert rev[::-1] == pytest.approx(scores, abs=1e-5)
    assert cut == [False] * 4


def test_rerank_many_sorts_by_score_and_batches_across_queries(ce):
    a, b = _ranking("q1"), _ranking("q2", "bread baking")
    together = ce.rerank_many([a, b])
    assert together[0].ids() == ce.rerank(a).ids() and together[1].ids() == ce.rerank(b).ids()
    assert [h.score for h in together[0]] == sorted((h.score for h in together[0]), reverse=True)


def test_truncation_is_reported(minilm):
    short = _ce(minilm, max_length=24)
    out = short.rerank(_ranking())
    cut = {h.id for h in out if h.meta.get("truncated")}
    assert cut == {"d2"} and out.meta["truncated"] == 1


def test_activations(minilm):
    """The packaged encoder gets a two-label head: identity is logit[1] - logit[0], softmax its sigmoid."""
    raw = _ce(minilm, activation="identity").predict([("q", TEXTS[0])])[0][0]
    sig = _ce(minilm, activation="sigmoid").predict([("q", TEXTS[0])])[0][0]
    soft = _ce(minilm, activation="softmax").predict([("q", TEXTS[0])])[0][0]
    auto = _ce(minilm).predict([("q", TEXTS[0])])[0][0]
    assert sig == pytest.approx(1 / (1 + math.exp(-raw)), abs=1e-5)
    assert soft == pytest.approx(sig, abs=1e-5) and auto == pytest.approx(soft, abs=1e-6)
    with pytest.raises(ConfigError, match="activation must be one of"):
        _ce(minilm, activation="tanh")


def test_registry_and_missing_model(minilm, tmp_path):
    rr = build("reranker", "cross-encoder", model=str(minilm), depth=2, progress=False, allow_untrained_head=True)
    assert isinstance(rr, CrossEncoderReranker) and rr.depth == 2
    with pytest.raises(ModelNotFoundError, match="looked at"):
        CrossEncoderReranker(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="engine 'openai' is not supported"):
        build("reranker", "cross-encoder", model=str(minilm), engine="openai")


def test_a_checkpoint_without_a_trained_head_is_refused(minilm):
    with pytest.raises(ConfigError, match=r"not a trained cross-encoder: 2 weight\(s\).*classifier\.bias, "
                                          r"classifier\.weight.*allow_untrained_head=True"):
        CrossEncoderReranker(str(minilm), progress=False)
    with pytest.raises(ConfigError, match="allow_untrained_head"):
        build("reranker", "cross-encoder", model=str(minilm))
    assert _ce(minilm).config()["untrained_head"] is True


def test_a_query_longer_than_max_length_is_truncated_and_reported(minilm):
    short = _ce(minilm, max_length=32)
    long_query = "what causes the tides of the oceans on earth " * 10
    out = short.rerank(_ranking(query=long_query))
    assert sorted(out.ids()) == ["d0", "d1", "d2", "d3"]
    assert out.meta["query_truncated"] is True and all(h.meta.get("query_truncated") for h in out)
    assert short.long_queries([long_query, "what causes tides"]) == {long_query}
    normal = short.rerank(_ranking())
    assert "query_truncated" not in normal.meta
