"""LlamaIndex adapter: a node postprocessor that reranks retrieved nodes with a rerankit reranker.

``index.as_query_engine(node_postprocessors=[RerankitNodePostprocessor(reranker=..., top_n=3)])``.
"""

from __future__ import annotations

from typing import Any

from rerankit.errors import InputError, MissingDependencyError

try:
    from llama_index.core.bridge.pydantic import Field
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("llama-index-core", "llamaindex", "rerankit.integrations.llamaindex") from exc

from rerankit.rerankers.base import Reranker
from rerankit.types import Document, Hit, Query, Ranking

__all__ = ["RerankitNodePostprocessor"]


class RerankitNodePostprocessor(BaseNodePostprocessor):
    """Reranks nodes for the query with a rerankit reranker; returns the best `top_n` with the reranker's scores.

    `reranker`: a :class:`~rerankit.rerankers.base.Reranker` or a registered name (built with its defaults).
    Node text is read without metadata (``MetadataMode.NONE``) unless `metadata_mode` says otherwise; the
    metadata field `title_key` (default "title"), when present, is passed as the document title.
    """

    reranker: Any = Field(description="a rerankit Reranker")
    top_n: int | None = Field(default=5, ge=1)
    metadata_mode: MetadataMode = Field(default=MetadataMode.NONE)
    title_key: str | None = Field(default="title", description="node metadata key shown to the model as the title")

    def model_post_init(self, __context: Any) -> None:
        if isinstance(self.reranker, str):
            from rerankit.registry import build

            self.reranker = build("reranker", self.reranker)
        if not isinstance(self.reranker, Reranker):
            raise InputError(f"reranker must be a rerankit Reranker or a registered name, got "
                             f"{type(self.reranker).__name__}")

    def _title(self, nws: NodeWithScore) -> str:
        if not self.title_key:
            return ""
        return str((nws.node.metadata or {}).get(self.title_key, "") or "")

    @classmethod
    def class_name(cls) -> str:
        return "RerankitNodePostprocessor"

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if not nodes:
            return []
        if query_bundle is None or not query_bundle.query_str.strip():
            raise InputError("RerankitNodePostprocessor needs the query (pass query_bundle or query_str)")
        n = len(nodes)
        hits = tuple(Hit(Document(str(i), nws.node.get_content(metadata_mode=self.metadata_mode), self._title(nws)),
                         float(n - i)) for i, nws in enumerate(nodes))
        ranked = self.reranker.rerank(Ranking(Query("q", query_bundle.query_str), hits)).top(self.top_n)
        return [NodeWithScore(node=nodes[int(h.doc.id)].node, score=float(h.score)) for h in ranked.hits]
