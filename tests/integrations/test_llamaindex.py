"""LlamaIndex adapter against the real llama-index-core: a node postprocessor."""

from __future__ import annotations

import pytest

from rerankit.errors import InputError
from rerankit.types import Hit, Query, Ranking

from .conftest import CORPUS, require

require("llama_index.core", "llama-index-core")

from llama_index.core.postprocessor.types import BaseNodePostprocessor  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

from rerankit.integrations.llamaindex import RerankitNodePostprocessor  # noqa: E402


def _nodes():
    return [NodeWithScore(node=TextNode(text=d.text, id_=d.id, metadata={"title": d.title}), score=1.0 - i / 10)
            for i, d in enumerate(CORPUS)]


def test_postprocessor_reranks_nodes_like_the_reranker(reranker):
    post = RerankitNodePostprocessor(reranker=reranker, top_n=2)
    assert isinstance(post, BaseNodePostprocessor)
    out = post.postprocess_nodes(_nodes(), query_bundle=QueryBundle("what causes summer"))
    direct = reranker.rerank(Ranking(Query("q", "what causes summer"),
                                     tuple(Hit(d, float(4 - i)) for i, d in enumerate(CORPUS))))
    assert [n.node.node_id for n in out] == direct.ids()[:2]
    assert [n.score for n in out] == pytest.approx([h.score for h in direct.hits[:2]])
    assert out[0].node.metadata["title"] == next(d.title for d in CORPUS if d.id == out[0].node.node_id)
    same = post.postprocess_nodes(_nodes(), query_str="what causes summer")
    assert [n.node.node_id for n in same] == [n.node.node_id for n in out]


def test_postprocessor_edge_cases(reranker):
    post = RerankitNodePostprocessor(reranker=reranker, top_n=None)
    assert post.postprocess_nodes([], query_str="x") == []
    assert len(post.postprocess_nodes(_nodes(), query_str="seasons")) == 4
    with pytest.raises(InputError, match="needs the query"):
        post.postprocess_nodes(_nodes())
    with pytest.raises(ValueError, match="Reranker"):  # pydantic wraps it in a ValidationError
        RerankitNodePostprocessor(reranker=object())
    assert RerankitNodePostprocessor.class_name() == "RerankitNodePostprocessor"
