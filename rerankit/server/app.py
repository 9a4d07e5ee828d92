"""The FastAPI application: /search, /rerank, /rag, /health, /ready, /stats (OpenAPI at /docs and /openapi.json),
and the Cohere/Jina-compatible /v1/rerank and /v2/rerank (:mod:`rerankit.server.compat`).

Every error, 4xx or 5xx, is one JSON schema, ``{"error": "...", "type": "<code>", "detail": [...] | null}``
(:mod:`rerankit.server.errors`), with no server paths or exception class names (those go to the log). Models
load in the background after startup: /health answers at once, /ready says when models are in; a failed load is
reported on both (and `rerankit serve` exits). At most ``max_queue`` requests are queued or running; more get 503
with Retry-After. A request whose client disconnects is cancelled, and dropped from the queue if not yet computed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rerankit.errors import InputError, RerankitError
from rerankit.pipeline import Pipeline
from rerankit.server.admission import ClientGone, Overloaded, until_disconnect
from rerankit.server.batcher import ShuttingDown
from rerankit.server.compat import PIPELINE_MODEL, CompatRerankRequest, CompatRerankResponse, CompatResult
from rerankit.server.errors import error_body, new_error_id, public_message
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

T = TypeVar("T")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 422, 500, 501, 503)}


class ApiError(Exception):
    """An error with an HTTP status, a short type code and a one-line message for the client."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_


def _error(status: int, type_: str, message: str, detail: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(type_, message, detail), status_code=status, headers=headers)


def _load_error_message(exc: BaseException) -> str:
    """What clients may read about a failed load: a rerankit error's own message (paths removed), else a pointer."""
    if isinstance(exc, RerankitError):
        return public_message(str(exc))
    return "the pipeline failed to load because of an unexpected error; the server log has the details"


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
            except Exception as exc:  # reported on /health and /ready; `rerankit serve` then exits non-zero
                service.status, service.error, service.load_exception = "failed", _load_error_message(exc), exc
                log.error("rerankit service failed to load: %s: %s", type(exc).__name__, exc,
                          exc_info=not isinstance(exc, RerankitError))
                on_failure = getattr(app.state, "on_load_failure", None)
                if callable(on_failure):
                    on_failure()

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
        return _error(422, "invalid_request", message, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            return _error(404, "not_found", f"no such endpoint: {where}; see GET /docs for the endpoints",
                          headers=exc.headers)
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow") or ""
            return _error(405, "method_not_allowed", f"method not allowed: {where}" +
                          (f"; this endpoint takes {allowed}" if allowed else ""), headers=exc.headers)
        if exc.status_code == 400:  # the body could not be read (e.g. bytes that are not UTF-8)
            return _error(400, "invalid_request", f"invalid request body for {where}: {exc.detail}; send a UTF-8 "
                                                  "JSON object", headers=exc.headers)
        kind = "internal" if exc.status_code >= 500 else "invalid_request"
        return _error(exc.status_code, kind, f"{where}: {exc.detail}", headers=exc.headers)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.type, exc.message)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return _error(400, "bad_input", str(exc))

    @app.exception_handler(ShuttingDown)
    async def _draining(_: Request, exc: ShuttingDown) -> JSONResponse:
        return _error(503, "shutting_down", str(exc))

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return _error(503, "overloaded", str(exc), headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ClientGone)
    async def _client_gone(_: Request, exc: ClientGone) -> JSONResponse:
        return _error(499, "client_closed", "the client disconnected before the answer was ready")

    @app.exception_handler(RerankitError)
    async def _rerankit_error(request: Request, exc: RerankitError) -> JSONResponse:
        eid = new_error_id()
        log.error("request %s %s failed (error id %s): %s: %s", request.method, request.url.path, eid,
                  type(exc).__name__, exc)
        return _error(500, "internal", f"the server could not answer: {exc} (error id {eid})")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        eid = new_error_id()
        log.error("request %s %s failed (error id %s): %s: %s", request.method, request.url.path, eid,
                  type(exc).__name__, exc, exc_info=exc)
        return _error(500, "internal", f"internal server error (error id {eid}); the server log has the details")

    def _require(endpoint: str) -> None:
        if service.status != "ready":
            why = f": {service.error}" if service.error else ""
            raise ApiError(503, f"the service is {service.status}{why}; poll GET /ready until it says ready",
                           "not_ready")
        if not service.endpoints()[endpoint]:
            need = {"search": "a retriever", "rerank": "at least one reranker",
                    "rag": "a retriever and a generator"}[endpoint]
            raise ApiError(501, f"/{endpoint} is not enabled: it needs {need} in the server's pipeline config",
                           "not_enabled")

    def _check_k(k: int) -> None:
        if k > settings.max_candidates:
            raise ApiError(422, f"invalid request: k: {k} is above this server's max_candidates "
                                f"({settings.max_candidates})")

    async def _admitted(request: Request, work: Callable[[], Awaitable[T]]) -> T:
        """Run one model request under the queue bound, cancelled if its client disconnects."""
        admission = service.admission
        ticket = admission.enter()  # Overloaded -> 503 with Retry-After
        outcome = "failed"
        try:
            result = await until_disconnect(request.receive, work())
            outcome = "completed"
            return result
        except ClientGone:
            outcome = "disconnected"
            log.debug("%s: client disconnected; its request was cancelled", request.url.path)
            raise
        finally:
            admission.leave(ticket, outcome)

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}},
             tags=["service"])
    async def health() -> JSONResponse:
        """Liveness: 200 while the process can serve (models may still be loading, see /ready); 503 with the
        error once loading failed."""
        if service.status == "failed":
            body = HealthResponse(status="failed", error=service.error)
            return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
        return JSONResponse(HealthResponse(status="ok").model_dump(exclude_none=True))

    @app.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}}, tags=["service"])
    async def ready() -> JSONResponse:
        """Readiness: 200 once every model is loaded and warmed up, 503 while loading, failed or draining."""
        body = ReadyResponse(status=service.status, error=service.error,
                             endpoints=service.endpoints() if service.status == "ready" else {})
        return JSONResponse(body.model_dump(), status_code=200 if service.status == "ready" else 503)

    @app.get("/stats", tags=["service"])
    async def stats() -> dict[str, Any]:
        """Request counters (admitted, shed, disconnected, not computed) and per-stage micro-batching counters."""
        return {"status": service.status, "requests": service.request_stats(), "stages": service.stats(),
                "settings": settings.__dict__}

    @app.post("/search", response_model=SearchResponse, responses=_ERRORS, tags=["ranking"])
    async def search(req: SearchRequest, request: Request) -> SearchResponse:
        """Retrieve `k` hits for a query and rerank them with the configured rerankers."""
        _require("search")
        _check_k(req.k)
        t0 = time.perf_counter()
        ranking = await _admitted(request, lambda: service.search(req.query, req.k, req.rerank))
        return SearchResponse(query=req.query, hits=_hits(ranking, settings.include_text),
                              stages=service.stage_names(req.rerank), seconds=time.perf_counter() - t0)

    @app.post("/rerank", response_model=RerankResponse, responses=_ERRORS, tags=["ranking"])
    async def rerank(req: RerankRequest, request: Request) -> RerankResponse:
        """Rerank caller-supplied passages (in their first-stage order) for a query."""
        _require("rerank")
        if len(req.passages) > settings.max_candidates:
            raise ApiError(422, f"invalid request: passages: {len(req.passages)} passages, more than this "
                                f"server's max_candidates ({settings.max_candidates})")
        t0 = time.perf_counter()
        docs = [Document(p.id, p.text, p.title) for p in req.passages]
        ranking = (await _admitted(request, lambda: service.rerank(req.query, docs))).top(req.top_n)
        return RerankResponse(query=req.query, hits=_hits(ranking, settings.include_text),
                              stages=service.stage_names(first_stage=False), seconds=time.perf_counter() - t0)

    async def compat_rerank(req: CompatRerankRequest, request: Request, version: str) -> JSONResponse:
        _require("rerank")
        models = service.rerank_models()
        name = req.model if req.model is not None else (
            PIPELINE_MODEL if PIPELINE_MODEL in models else next(iter(models)))
        if name not in models:
            raise ApiError(422, f"invalid request: model: {name!r} is not a reranker of this server; it serves "
                                f"{', '.join(repr(m) for m in models)} (names from its pipeline config)")
        if len(req.documents) > settings.max_candidates:
            raise ApiError(422, f"invalid request: documents: {len(req.documents)} documents, more than this "
                                f"server's max_candidates ({settings.max_candidates})")
        t0 = time.perf_counter()
        docs = [Document(str(i), text) for i, text in enumerate(req.texts())]
        ranking = await _admitted(request, lambda: service.rerank(req.query, docs, models[name]))
        results = []
        for hit in ranking.top(req.top_n).hits:
            index = int(hit.doc.id)
            results.append(CompatResult(index=index, relevance_score=float(hit.score),
                                        document=req.document_out(index) if req.return_documents else None))
        body = CompatRerankResponse(id=uuid.uuid4().hex, model=name, results=results,
                                    meta={"api_version": {"version": version}, "seconds": time.perf_counter() - t0})
        return JSONResponse(body.model_dump(exclude_none=True))

    @app.post("/v1/rerank", response_model=CompatRerankResponse, responses=_ERRORS, tags=["compatible"])
    async def rerank_v1(req: CompatRerankRequest, request: Request) -> JSONResponse:
        """Cohere v1 / Jina rerank API: ``{model, query, documents, top_n, return_documents}`` in,
        ``{id, model, results: [{index, relevance_score, document}], meta}`` out, best first."""
        return await compat_rerank(req, request, "1")

    @app.post("/v2/rerank", response_model=CompatRerankResponse, responses=_ERRORS, tags=["compatible"])
    async def rerank_v2(req: CompatRerankRequest, request: Request) -> JSONResponse:
        """Cohere v2 rerank API (``cohere.ClientV2(base_url=...).rerank``): the same as /v1/rerank."""
        return await compat_rerank(req, request, "2")

    @app.post("/rag", response_model=RagResponse, responses=_ERRORS, tags=["rag"])
    async def rag(req: RagRequest, request: Request) -> RagResponse:
        """Retrieve, rerank and answer with numbered citations; every citation is a passage in the context."""
        _require("rag")
        _check_k(req.k)
        t0 = time.perf_counter()
        ranking, answer = await _admitted(request, lambda: service.rag(req.query, req.k))
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
