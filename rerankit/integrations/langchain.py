"""LangChain adapters: rerank retrieved documents (a document compressor) or retrieve with a rerankit pipeline.

``ContextualCompressionRetriever(base_compressor=RerankitCompressor(reranker=...), base_retriever=...)`` reranks
any LangChain retriever's output; ``RerankitRetriever(pipeline=...)`` exposes a whole rerankit pipeline (or a bare
retriever) as a LangChain retriever. Scores and ranks go into each document's metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rerankit.errors import InputError, MissingDependencyError

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun, Callbacks
    from langchain_core.documents import BaseDocumentCompressor
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, Field
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("langchain-core", "langchain", "rerankit.integrations.langchain") from exc

from rerankit.pipeline import Pipeline
from rerankit.rerankers.base import Reranker
from rerankit.retrievers.base import Retriever
from rerankit.types import Document, Hit, Query, Ranking

__all__ = ["RerankitCompressor", "RerankitRetriever", "to_langchain"]


def _reranker(value: Any) -> Reranker:
    if isinstance(value, str):
        from rerankit.registry import build

        return build("reranker", value)
    if not isinstance(value, Reranker):
        raise InputError(f"reranker must be a rerankit Reranker or a registered name, got {type(value).__name__}")
    return value


def to_langchain(hit: Hit, rank: int) -> LCDocument:
    """A LangChain document for a rerankit hit: text as page_content; id, title, score and rank in metadata."""
    meta = {**dict(hit.doc.meta), "id": hit.doc.id, "title": hit.doc.title, "score": float(hit.score), "rank": rank}
    return LCDocument(page_content=hit.doc.text, metadata=meta, id=hit.doc.id)


class RerankitCompressor(BaseDocumentCompressor):
    """Reranks LangChain documents with a rerankit reranker and keeps the best `top_n`.

    `reranker`: a :class:`~rerankit.rerankers.base.Reranker` (or a registered name built with its defaults).
    The returned documents are copies of the inputs with ``relevance_score`` and ``rerank_rank`` in metadata.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Any
    top_n: int | None = Field(default=5, ge=1)
    title_key: str = "title"

    def model_post_init(self, __context: Any) -> None:
        self.reranker = _reranker(self.reranker)

    def compress_documents(self, documents: Sequence[LCDocument], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[LCDocument]:
        if not documents:
            return []
        if not isinstance(query, str) or not query.strip():
            raise InputError("RerankitCompressor needs a non-empty query")
        n = len(documents)
        hits = tuple(Hit(Document(str(i), d.page_content, str(d.metadata.get(self.title_key, "") or "")),
                         float(n - i)) for i, d in enumerate(documents))
        ranked = self.reranker.rerank(Ranking(Query("q", query), hits)).top(self.top_n)
        out = []
        for r, h in enumerate(ranked.hits, 1):
            src = documents[int(h.doc.id)]
            meta = {**src.metadata, "relevance_score": float(h.score), "rerank_rank": r}
            out.append(LCDocument(page_content=src.page_content, metadata=meta, id=src.id))
        return out


class RerankitRetriever(BaseRetriever):
    """A LangChain retriever over a rerankit :class:`~rerankit.pipeline.Pipeline` (retrieve + rerank) or retriever.

    Returns the top `k` hits of the final ranking. With a generator in the pipeline, the answer is not used here
    (LangChain chains generate themselves); give a pipeline without one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pipeline: Any
    k: int = Field(default=10, ge=1)

    def model_post_init(self, __context: Any) -> None:
        if not isinstance(self.pipeline, (Pipeline, Retriever)):
            raise InputError(f"pipeline must be a rerankit Pipeline or Retriever, got {type(self.pipeline).__name__}")
        if isinstance(self.pipeline, Pipeline) and self.pipeline.retriever is None:
            raise InputError("RerankitRetriever needs a pipeline with a retriever")

    @classmethod
    def from_spec(cls, spec: Any, k: int = 10, **kwargs: Any) -> RerankitRetriever:
        """Build from a pipeline spec (a YAML/TOML path or a dict, as `rerankit serve` takes); generator ignored."""
        from rerankit.config import load_spec, pipeline_from_spec

        data = {key: v for key, v in load_spec(spec).items() if key != "generator"}
        return cls(pipeline=pipeline_from_spec(data), k=k, **kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        if isinstance(self.pipeline, Pipeline):
            if self.pipeline.generator is not None:
                pipe = Pipeline(self.pipeline.retriever, self.pipeline.rerankers, None, k=self.pipeline.k,
                                depth=self.pipeline.depth)
            else:
                pipe = self.pipeline
            ranking = pipe.run(query).ranking.top(self.k)
        else:
            ranking = self.pipeline.search(query, self.k)
        return [to_langchain(h, r) for r, h in enumerate(ranking.hits, 1)]
