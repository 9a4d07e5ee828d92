"""Hosted-rerank-API compatible bodies: ``POST /v1/rerank`` (Cohere v1 and Jina) and ``POST /v2/rerank`` (Cohere v2).

Clients built for those services (the ``cohere`` SDK, LangChain's ``CohereRerank``, LlamaIndex's Cohere and Jina
postprocessors, Haystack) send ``{model, query, documents, top_n, return_documents}`` and read
``{id, results: [{index, relevance_score, document}], meta}``. ``model`` names one of the rerankers configured in
the server's pipeline spec (never a path: the request cannot load anything). Options of those services that this
server cannot honour (``max_tokens_per_doc``, ``rank_fields`` other than ``["text"]``, ...) are refused with a
422 naming them, never silently ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rerankit.server.schemas import MAX_QUERY_CHARS

__all__ = ["CompatRerankRequest", "CompatResult", "CompatRerankResponse", "PIPELINE_MODEL"]

PIPELINE_MODEL = "pipeline"  # every configured reranker in order, as POST /rerank applies them

# Options of the hosted APIs that change what they compute; accepted only when absent or null.
_UNSUPPORTED = ("max_chunks_per_doc", "max_tokens_per_doc", "relevant_spans", "truncation")


class CompatRerankRequest(BaseModel):
    """A Cohere/Jina rerank request."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(None, max_length=256, description="a reranker configured in the server's spec (see "
                              "the 422 answer to an unknown name for the list); omitted: every configured reranker")
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    documents: list[Any] = Field(min_length=1, description="strings, or objects with a string 'text' field "
                                 "(other string fields are returned unchanged); in their first-stage order")
    top_n: int | None = Field(None, ge=1, description="return the best top_n (default all); a top_n above the "
                              "number of documents returns them all, as Cohere and Jina do (LangChain's "
                              "CohereRerank sends top_n=3 whatever the list length)")
    return_documents: bool = Field(True, description="include each document in its result (Jina's default)")
    rank_fields: list[str] | None = Field(None, description="Cohere v1: only ['text'] is supported")
    priority: int | None = Field(None, description="Cohere v2 scheduling hint; accepted and not used")
    max_chunks_per_doc: int | None = None
    max_tokens_per_doc: int | None = None
    relevant_spans: Any = None
    truncation: bool | None = None

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty or only whitespace")
        return value

    @field_validator("documents")
    @classmethod
    def _documents(cls, docs: list[Any]) -> list[Any]:
        for i, doc in enumerate(docs):
            text = doc.get("text") if isinstance(doc, dict) else doc
            if isinstance(doc, dict) and "text" not in doc:
                raise ValueError(f"document {i} is an object without a 'text' field; send a string or "
                                 "{\"text\": \"...\"}")
            if not isinstance(text, str):
                raise ValueError(f"document {i} must be a string or an object with a string 'text' field, "
                                 f"got {type(text).__name__}")
            if not text.strip():
                raise ValueError(f"document {i} is empty or only whitespace; remove it or give it text")
        return docs

    @field_validator("rank_fields")
    @classmethod
    def _rank_fields(cls, fields: list[str] | None) -> list[str] | None:
        if fields is not None and fields != ["text"]:
            raise ValueError(f"only ['text'] is supported (the document text is ranked), got {fields}")
        return fields

    @model_validator(mode="after")
    def _supported(self) -> CompatRerankRequest:
        given = [name for name in _UNSUPPORTED if getattr(self, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: not supported by this server (documents are ranked whole, "
                             "truncated only as the configured reranker truncates); leave it out")
        return self

    def texts(self) -> list[str]:
        return [d["text"] if isinstance(d, dict) else d for d in self.documents]

    def document_out(self, index: int) -> dict[str, Any]:
        doc = self.documents[index]
        return dict(doc) if isinstance(doc, dict) else {"text": doc}


class CompatResult(BaseModel):
    index: int = Field(description="position of the document in the request")
    relevance_score: float = Field(description="the reranker's own score (not rescaled to [0, 1]); the order of "
                                   "results is the reranker's order")
    document: dict[str, Any] | None = Field(None, description="the document, when return_documents is true")


class CompatRerankResponse(BaseModel):
    id: str
    model: str = Field(description="the configured reranker (or 'pipeline') that ranked")
    results: list[CompatResult] = Field(description="best first, in the reranker's order")
    meta: dict[str, Any]
