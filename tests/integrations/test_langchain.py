"""LangChain adapters against the real langchain-core: a document compressor and a retriever."""

from __future__ import annotations

import pytest

from rerankit.errors import InputError
from rerankit.types import Hit, Query, Ranking

from .conftest import CORPUS, require

require("langchain_core", "langchain-core")

from langchain_core.documents import BaseDocumentCompressor  # noqa: E402
from langchain_core.documents import Document as LCDocument  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402

from rerankit.integrations.langchain import RerankitCompressor, RerankitRetriever  # noqa: E402


def _lc_docs():
    return [LCDocument(page_content=d.text, metadata={"title": d.title, "source": d.id}, id=d.id) for d in CORPUS]


def test_compressor_reorders_like_the_reranker_and_keeps_metadata(reranker):
    comp = RerankitCompressor(reranker=reranker, top_n=3)
    assert isinstance(comp, BaseDocumentCompressor)
    docs = _lc_docs()
    out = comp.compress_documents(docs, "why do we have seasons")
    direct = reranker.rerank(Ranking(Query("q", "why do we have seasons"),
                                     tuple(Hit(d, float(4 - i)) for i, d in enumerate(CORPUS))))
    assert [d.metadata["source"] for d in out] == direct.ids()[:3]
    assert [d.metadata["rerank_rank"] for d in out] == [1, 2, 3]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([h.score for h in direct.hits[:3]])
    assert all(d.page_content == next(x.text for x in CORPUS if x.id == d.id) for d in out)
    assert docs[0].metadata == {"title": "Seasons", "source": "d1"}  # inputs untouched


def test_compressor_edge_cases(reranker):
    comp = RerankitCompressor(reranker=reranker, top_n=10)
    assert comp.compress_documents([], "anything") == []
    assert len(comp.compress_documents(_lc_docs(), "seasons")) == 4
    with pytest.raises(InputError, match="non-empty query"):
        comp.compress_documents(_lc_docs(), "  ")
    with pytest.raises(ValueError, match="Reranker"):  # pydantic wraps it in a ValidationError
        RerankitCompressor(reranker=42)


def test_retriever_runs_the_pipeline(pipeline):
    ret = RerankitRetriever(pipeline=pipeline, k=2)
    assert isinstance(ret, BaseRetriever)
    docs = ret.invoke("tilt of the earth and the seasons")
    expected = pipeline.run("tilt of the earth and the seasons").ranking.top(2)
    assert [d.id for d in docs] == expected.ids()
    assert [d.metadata["rank"] for d in docs] == [1, 2]
    assert docs[0].metadata["score"] == pytest.approx(expected.hits[0].score)
    bare = RerankitRetriever(pipeline=pipeline.retriever, k=1).invoke("bananas potassium")
    assert [d.id for d in bare] == ["d2"]  # BM25 alone: the only document with these words
    with pytest.raises(ValueError, match="Pipeline or Retriever"):
        RerankitRetriever(pipeline="bm25")
