"""E²Rank with the packaged MiniLM bi-encoder (and a decoder embedder through the transformers engine)."""

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
QUERY = "what causes the seasons on earth"


def _ranking(pairs=SEASONS, query=QUERY):
    n = len(pairs)
    return Ranking(Query("q1", query), tuple(Hit(Document(i, t), float(n - k)) for k, (i, t) in enumerate(pairs)))


@pytest.fixture(scope="module")
def e2(minilm):
    from rerankit.rerankers.e2rank import E2RankReranker

    return E2RankReranker(str(minilm))


def test_listwise_ranking_puts_relevant_first_and_keeps_both_scores(e2, minilm):
    from sentence_transformers import SentenceTransformer

    out = e2.rerank(_ranking())
    assert set(out.ids()[:2]) == {"d0", "d2"}
    assert out.meta["e2rank_mode"] == "listwise"
    scores = {h.id: h for h in out}
    # the query-only score is the plain cosine of the bare query and the document
    st = SentenceTransformer(str(minilm))
    q, d = st.encode([QUERY, SEASONS[2][1]], normalize_embeddings=True)
    assert scores["d0"].meta["e2rank_query_score"] == pytest.approx(float(q @ d), abs=1e-4)
    assert scores["d0"].score == pytest.approx(scores["d0"].meta["e2rank_listwise_score"])
    # the listwise score differs from the query-only one: the pseudo-query carries the candidates
    assert not np.isclose(scores["d1"].meta["e2rank_listwise_score"], scores["d1"].meta["e2rank_query_score"])


def test_query_mode_ranks_by_query_score(minilm):
    from rerankit.rerankers.e2rank import E2RankReranker

    out = E2RankReranker(str(minilm), mode="query").rerank(_ranking())
    assert [h.score for h in out] == [h.meta["e2rank_query_score"] for h in out]
    assert set(out.ids()[:2]) == {"d0", "d2"}


def test_pseudo_query_fits_the_encoder_window_and_keeps_the_query(e2):
    long_docs = [" ".join(["word"] * 300) + f" end{i}" for i in range(20)]
    text = e2.pseudo_query(QUERY, long_docs)
    assert text.endswith(f"Search Query: {QUERY}")
    assert text.startswith("Given a web search query and some relevant documents")
    assert "[20] " in text
    assert e2.embedder.count_tokens(text) <= e2.embedder.max_tokens


def test_top_k_limits_the_prompt_and_config_has_the_options(e2):
    from rerankit.rerankers.e2rank import E2RankReranker

    text = e2.pseudo_query(QUERY, [t for _, t in SEASONS][:2])
    assert "[1] Paris" in text and "[3]" not in text
    cfg = e2.config()
    assert cfg["name"] == "e2rank" and cfg["top_k"] == 20 and cfg["mode"] == "listwise" and cfg["task"] == "web"
    with pytest.raises(ConfigError, match="mode"):
        E2RankReranker(e2.embedder.model, mode="both")
    with pytest.raises(ConfigError, match="task"):
        E2RankReranker(e2.embedder.model, task="legal")
    with pytest.raises(InputError, match="top_k"):
        E2RankReranker(e2.embedder.model, top_k=0)


def test_built_from_the_registry(minilm):
    from rerankit.registry import build

    r = build("reranker", "e2rank", model=str(minilm), depth=3, top_k=2)
    out = r.rerank(_ranking())
    assert len(out) == 5 and set(out.ids()[3:]) == {"d4", "d2"}  # below depth: first-stage order kept


@pytest.mark.slow
def test_decoder_embedding_model_through_the_engine(smollm):
    from rerankit.rerankers.e2rank import E2RankReranker
    from rerankit.rerankers.embedders import EngineEmbedder

    r = E2RankReranker(str(smollm), top_k=5)
    assert isinstance(r.embedder, EngineEmbedder) and r.query_instruction
    assert r.query_text("q").startswith("Instruct: Given a web search query")
    assert r.pseudo_query("q", ["a"]).startswith("<|im_start|>")  # chat-rendered listwise prompt
    out = r.rerank(_ranking())
    assert sorted(out.ids()) == sorted(i for i, _ in SEASONS)
    assert all(np.isfinite(h.score) for h in out)
