"""Request and response bodies of the HTTP service (pydantic models: validated, and documented in OpenAPI)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PassageIn", "SearchRequest", "RerankRequest", "RagRequest", "HitOut", "SearchResponse",
           "RerankResponse", "CitationOut", "RagResponse", "ErrorResponse", "HealthResponse", "ReadyResponse"]

MAX_QUERY_CHARS = 4096


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class _Strict(BaseModel):
    # Unknown fields are errors (a misspelt option must not be silently ignored); no str->int coercion games.
    model_config = ConfigDict(extra="forbid", strict=True)


class PassageIn(_Strict):
    """A caller-supplied passage to rerank."""

    id: str = Field(min_length=1, max_length=512, description="the caller's id for this passage")
    text: str = Field(min_length=1, description="passage text")
    title: str = Field("", max_length=2048, description="optional title (shown to the model before the text)")

    _text = field_validator("text")(_non_blank)


class SearchRequest(_Strict):
    """Retrieve with the configured retriever, then rerank with the configured rerankers."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the search query")
    k: int = Field(10, ge=1, description="how many hits to return (at most the server's max_candidates)")
    rerank: bool = Field(True, description="apply the configured rerankers (false: first stage only)")

    _query = field_validator("query")(_non_blank)


class RerankRequest(_Strict):
    """Rerank the caller's passages for a query with the configured rerankers."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    passages: list[PassageIn] = Field(min_length=1, description="candidates, in their first-stage order")
    top_n: int | None = Field(None, ge=1, description="return only the best top_n (default: all)")

    _query = field_validator("query")(_non_blank)

    @field_validator("passages")
    @classmethod
    def _unique_ids(cls, passages: list[PassageIn]) -> list[PassageIn]:
        seen: set[str] = set()
        for p in passages:
            if p.id in seen:
                raise ValueError(f"duplicate passage id {p.id!r}: ids must be unique within a request")
            seen.add(p.id)
        return passages


class RagRequest(_Strict):
    """Retrieve, rerank, and answer with citations to the retrieved documents."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(10, ge=1, description="hits to retrieve (and return) before answering")

    _query = field_validator("query")(_non_blank)


class HitOut(BaseModel):
    rank: int
    id: str
    score: float
    title: str = ""
    text: str = ""


class SearchResponse(BaseModel):
    query: str
    hits: list[HitOut]
    stages: list[str] = Field(description="stages applied, first stage first")
    seconds: float


class RerankResponse(BaseModel):
    query: str
    hits: list[HitOut]
    stages: list[str]
    seconds: float


class CitationOut(BaseModel):
    number: int = Field(description="the [number] used in the answer text")
    id: str
    title: str = ""


class RagResponse(BaseModel):
    query: str
    answer: str
    citations: list[CitationOut] = Field(description="cited passages, all of them among passages_used")
    passages_used: list[str] = Field(description="ids of the passages in the model's context, numbered from 1")
    dropped_citations: list[int] = Field(description="citation numbers in the text that match no passage")
    hits: list[HitOut]
    meta: dict
    seconds: float


class ErrorResponse(BaseModel):
    """The body of every error answer (4xx and 5xx)."""

    error: str = Field(description="what was wrong, in one line (no server paths or exception class names)")
    type: str = Field(description="short code: invalid_request, bad_input, body_too_large, not_found, "
                                  "method_not_allowed, not_enabled, not_ready, overloaded, shutting_down, internal")
    detail: list[dict] | None = Field(None, description="per-field problems for validation errors")


class HealthResponse(BaseModel):
    status: str = Field(description="ok, or failed once loading the pipeline failed (then 503)")
    error: str | None = None


class ReadyResponse(BaseModel):
    status: str = Field(description="ready, loading, failed or draining")
    error: str | None = None
    endpoints: dict[str, bool] = Field(default_factory=dict, description="which endpoints this config serves")
