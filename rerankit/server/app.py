"""The FastAPI application: /search, /rerank, /rag, /health, /ready, /stats (OpenAPI at /docs and /openapi.json).

Bad requests get a 4xx JSON body ``{"error": "...", "detail": [...]}`` that names the problem; the service keeps
serving. Models load in the background after startup: /health answers at once, /ready says when models are in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rerankit.errors import InputError, RerankitError
from rerankit.pipeline import Pipeline
from rerankit.server.batcher import ShuttingDown
from rerankit.server.limits import BodySizeLimit
from rerankit.server.schemas import (
    CitationOut,
    ErrorResponse,
    HealthResponse,
    HitOut,
    RagRequest,
    RagResponse,
    ReadyResponse,
    RerankRequest,
    RerankResponse,
    SearchRequest,
    SearchResponse,
)
from rerankit.server.service import PipelineService, ServerSettings
from rerankit.types import Document, Ranking

__all__ = ["create_app", "ApiError"]

log = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 422, 501, 503)}


class ApiError(Exception):
    """An error with an HTTP status and a one-line message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    detail = []
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        where = ".".join(loc) or "body"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "json_invalid":
            where, msg = "body", f"is not valid JSON ({e.get('ctx', {}).get('error', msg)})"
        parts.append(f"{where}: {msg}")
        detail.append({"field": where, "message": msg, "type": str(e.get("type", ""))})
    return "invalid request: " + "; ".join(parts), detail


def _hits(ranking: Ranking, include_text: bool) -> list[HitOut]:
    return [HitOut(rank=r, id=h.doc.id, score=float(h.score), title=h.doc.title,
                   text=h.doc.text if include_text else "") for r, h in enumerate(ranking.hits, 1)]


def create_app(pipeline: Pipeline | Callable[[], Pipeline], settings: ServerSettings | None = None) -> FastAPI:
    """An ASGI app serving `pipeline` (or the pipeline a factory builds in the background at startup)."""
    settings = settings or ServerSettings()
    service = PipelineService(pipeline, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def load() -> None:
            try:
                await asyncio.to_thread(service.load)
                await service.start()
                service.status = "ready"
                log.info("rerankit service ready: %s", service.endpoints())
            except Exception as exc:  # reported on /ready; the process stays up so the error can be read
                service.status, service.error = "failed", f"{type(exc).__name__}: {exc}"
                log.error("rerankit service failed to load: %s", service.error)

        loader = asyncio.create_task(load())
        yield
        if not loader.done():
            service.status = "draining"
            await loader
        await service.stop()

    app = FastAPI(title="rerankit", version=_version(), lifespan=lifespan,
                  description="Retrieval, reranking and RAG answers with citations.")
    app.state.service = service
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, detail = _validation_message(list(exc.errors()))
        return JSONResponse({"error": message, "detail": detail}, status_code=422)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "detail": None}, status_code=exc.status)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc), "detail": None}, status_code=400)

    @app.exception_handler(ShuttingDown)
    async def _draining(_: Request, exc: ShuttingDown) -> JSONResponse:
        return JSONResponse({"error": str(exc), "detail": None}, status_code=503)

    @app.exception_handler(RerankitError)
    async def _rerankit_error(_: Request, exc: RerankitError) -> JSONResponse:
        log.error("request failed: %s", exc)
        return JSONResponse({"error": f"{type(exc).__name__}: {exc}", "detail": None}, status_code=500)

    def _require(endpoint: str) -> None:
        if service.status != "ready":
            why = f": {service.error}" if service.error else ""
            raise ApiError(503, f"the service is {service.status}{why}; poll GET /ready until it says ready")
        if not service.endpoints()[endpoint]:
            need = {"search": "a retriever", "rerank": "at least one reranker",
                    "rag": "a retriever and a generator"}[endpoint]
            raise ApiError(501, f"/{endpoint} is not enabled: it needs {need} in the server's pipeline config")

    def _check_k(k: int) -> None:
        if k > settings.max_candidates:
            raise ApiError(422, f"invalid request: k: {k} is above this server's max_candidates "
                                f"({settings.max_candidates})")

    @app.get("/health", response_model=HealthResponse, tags=["service"])
    async def health() -> HealthResponse:
        """Liveness: the process answers (models may still be loading; see /ready)."""
        return HealthResponse(status="ok")

    @app.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}}, tags=["service"])
    async def ready() -> JSONResponse:
        """Readiness: 200 once every model is loaded and warmed up, 503 while loading, failed or draining."""
        body = ReadyResponse(status=service.status, error=service.error,
                             endpoints=service.endpoints() if service.status == "ready" else {})
        return JSONResponse(body.model_dump(), status_code=200 if service.status == "ready" else 503)

    @app.get("/stats", tags=["service"])
    async def stats() -> dict[str, Any]:
        """Per-stage micro-batching counters (items, batches, mean and largest batch, queue length)."""
        return {"status": service.status, "stages": service.stats(), "settings": settings.__dict__}

    @app.post("/search", response_model=SearchResponse, responses=_ERRORS, tags=["ranking"])
    async def search(req: SearchRequest) -> SearchResponse:
        """Retrieve `k` hits for a query and rerank them with the configured rerankers."""
        _require("search")
        _check_k(req.k)
        t0 = time.perf_counter()
        ranking = await service.search(req.query, req.k, req.rerank)
        return SearchResponse(query=req.query, hits=_hits(ranking, settings.include_text),
                              stages=service.stage_names(req.rerank), seconds=time.perf_counter() - t0)

    @app.post("/rerank", response_model=RerankResponse, responses=_ERRORS, tags=["ranking"])
    async def rerank(req: RerankRequest) -> RerankResponse:
        """Rerank caller-supplied passages (in their first-stage order) for a query."""
        _require("rerank")
        if len(req.passages) > settings.max_candidates:
            raise ApiError(422, f"invalid request: passages: {len(req.passages)} passages, more than this "
                                f"server's max_candidates ({settings.max_candidates})")
        t0 = time.perf_counter()
        docs = [Document(p.id, p.text, p.title) for p in req.passages]
        ranking = (await service.rerank(req.query, docs)).top(req.top_n)
        return RerankResponse(query=req.query, hits=_hits(ranking, settings.include_text),
                              stages=service.stage_names(first_stage=False), seconds=time.perf_counter() - t0)

    @app.post("/rag", response_model=RagResponse, responses=_ERRORS, tags=["rag"])
    async def rag(req: RagRequest) -> RagResponse:
        """Retrieve, rerank and answer with numbered citations; every citation is a passage in the context."""
        _require("rag")
        _check_k(req.k)
        t0 = time.perf_counter()
        ranking, answer = await service.rag(req.query, req.k)
        numbers = answer.meta.get("citation_numbers", [])
        titles = {d.id: d.title for d in answer.passages_used}
        used = [d.id for d in answer.passages_used]
        cites = [CitationOut(number=n, id=used[n - 1], title=titles.get(used[n - 1], "")) for n in numbers]
        return RagResponse(query=req.query, answer=answer.text, citations=cites, passages_used=used,
                           dropped_citations=list(answer.meta.get("dropped_citations", [])),
                           hits=_hits(ranking, settings.include_text),
                           meta={k: v for k, v in answer.meta.items() if k != "citation_map"},
                           seconds=time.perf_counter() - t0)

    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rerankit")
    except Exception:  # not installed (running from a source tree)
        return "0"
