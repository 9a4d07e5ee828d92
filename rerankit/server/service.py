"""The model side of the HTTP service: a pipeline behind one micro-batching queue per stage.

Concurrent requests meet in the queues, so the retriever sees many queries in one ``search_many`` call, the
rerankers many rankings in one ``rerank_many`` call and the generator many prompts in one ``generate_many`` call.
Stages whose models share one engine instance (a reranker and the generator on the same model) share one worker
thread, so that engine never runs two calls at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rerankit.errors import InputError
from rerankit.generators.base import Answer
from rerankit.pipeline import Pipeline
from rerankit.server.admission import Admission
from rerankit.server.batcher import MicroBatcher
from rerankit.server.compat import PIPELINE_MODEL
from rerankit.types import Document, Hit, Query, Ranking

__all__ = ["ServerSettings", "PipelineService", "RerankJob"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSettings:
    """Limits and batching of the service.

    max_body_bytes: largest request body (413 above). max_candidates: most passages in a /rerank request and the
    largest k of /search and /rag (422 above). max_batch / max_wait_ms: micro-batching of each stage.
    max_queue: most /search, /rerank and /rag requests queued or running at once; one more gets 503 with
    Retry-After. warmup: run one tiny request through each model before reporting ready. include_text: return
    passage texts. shutdown_timeout_s: how long in-flight requests get to finish on SIGTERM.
    """

    max_body_bytes: int = 1_048_576
    max_candidates: int = 100
    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 256
    warmup: bool = True
    include_text: bool = True
    shutdown_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise InputError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.max_candidates < 1:
            raise InputError(f"max_candidates must be at least 1, got {self.max_candidates}")
        if self.max_batch < 1:
            raise InputError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.max_queue < 1:
            raise InputError(f"max_queue must be at least 1, got {self.max_queue}")
        if self.max_wait_ms < 0:
            raise InputError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")


class PipelineService:
    """Owns the pipeline (built from a factory in the background, or given), its batchers and its lifecycle."""

    def __init__(self, pipeline: Pipeline | Callable[[], Pipeline], settings: ServerSettings) -> None:
        self.settings = settings
        self._factory = pipeline if callable(pipeline) and not isinstance(pipeline, Pipeline) else None
        self.pipeline: Pipeline | None = pipeline if isinstance(pipeline, Pipeline) else None
        self.status = "loading"
        self.error: str | None = None  # the load failure, as clients may see it (no paths, no class names)
        self.load_exception: BaseException | None = None  # the full failure, for the log and `rerankit serve`
        self.admission = Admission(settings.max_queue)
        self._executors: list[ThreadPoolExecutor] = []
        self._ids = itertools.count()
        self._id_lock = threading.Lock()
        self.retrieve_q: MicroBatcher | None = None
        self.rerank_q: MicroBatcher | None = None
        self.generate_q: MicroBatcher | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Build the pipeline (if from a factory) and load every model; runs in a worker thread."""
        if self.pipeline is None:
            assert self._factory is not None
            self.pipeline = self._factory()
        if self.settings.warmup:
            self._warmup(self.pipeline)

    @staticmethod
    def _warmup(p: Pipeline) -> None:
        probe = Ranking(Query("warmup", "warm up"), (Hit(Document("warmup", "a short warm-up passage"), 0.0),))
        for reranker in p.rerankers:
            reranker.rerank_many([probe])
        if p.generator is not None:
            load = getattr(p.generator, "load", None)
            if callable(load):
                load()
        if p.retriever is not None:
            p.retriever.search_many([Query("warmup", "warm up")], 1)
        log.info("warm-up done: %d reranker(s), generator=%s", len(p.rerankers), p.generator is not None)

    async def start(self) -> None:
        """Create and start the batchers (after load)."""
        s = self.settings
        rerank_x, generate_x = self._model_threads()
        self.retrieve_q = MicroBatcher(self._retrieve_batch, "retrieve", s.max_batch, s.max_wait_ms)
        self.rerank_q = MicroBatcher(self._rerank_batch, "rerank", s.max_batch, s.max_wait_ms, rerank_x)
        self.generate_q = MicroBatcher(self._generate_batch, "generate", s.max_batch, s.max_wait_ms, generate_x)
        for q in (self.retrieve_q, self.rerank_q, self.generate_q):
            await q.start()

    def _model_threads(self) -> tuple[ThreadPoolExecutor | None, ThreadPoolExecutor | None]:
        """Worker threads of the rerank and generate stages: one shared thread if they share an engine instance."""
        p = self.pipeline
        if p is None or p.generator is None:
            return None, None
        gen_engine = _engine_of(p.generator)
        if gen_engine is None or not any(_engine_of(r) is gen_engine for r in p.rerankers):
            return None, None
        shared = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerankit-shared-engine")
        self._executors.append(shared)
        log.info("the reranker and the generator share one engine (%s): their batches take turns on one thread",
                 getattr(gen_engine, "model", "?"))
        return shared, shared

    async def stop(self) -> None:
        """Drain: finish queued work, stop the batchers, release models (a failed load stays reported)."""
        if self.status != "failed":
            self.status = "draining"
        for q in (self.retrieve_q, self.rerank_q, self.generate_q):
            if q is not None:
                await q.stop()
        for executor in self._executors:
            executor.shutdown(wait=True)
        p = self.pipeline
        if p is not None and p.generator is not None and callable(getattr(p.generator, "close", None)):
            p.generator.close()
        log.info("service stopped")

    # ---- capabilities ----------------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, bool]:
        p = self.pipeline
        return {"search": bool(p and p.retriever), "rerank": bool(p and p.rerankers),
                "rag": bool(p and p.retriever and p.generator)}

    def stage_names(self, rerank: bool = True, first_stage: bool = True) -> list[str]:
        p = self.pipeline
        assert p is not None
        first = [p.retriever.name] if p.retriever is not None and first_stage else []
        return first + (p.stage_labels() if rerank else [])

    def new_query(self, text: str) -> Query:
        with self._id_lock:
            return Query(f"r{next(self._ids)}", text)

    def stats(self) -> dict[str, Any]:
        return {q.name: {**q.stats.as_dict(), "pending": q.pending}
                for q in (self.retrieve_q, self.rerank_q, self.generate_q) if q is not None}

    def request_stats(self) -> dict[str, Any]:
        """Request counters: admitted, completed, failed, shed (503, queue full), disconnected (client went away);
        ``not_computed``: items dropped from a stage queue because their client disconnected first."""
        a = self.admission
        dropped = sum(q.stats.dropped_items for q in (self.retrieve_q, self.rerank_q, self.generate_q)
                      if q is not None)
        return {**a.stats.as_dict(), "in_flight": a.in_flight, "max_queue": a.max_queue, "not_computed": dropped}

    # ---- batch functions (run in worker threads) -------------------------------------------------------------
    def _retrieve_batch(self, items: list[tuple[Query, int]]) -> list[Ranking]:
        p = self.pipeline
        assert p is not None and p.retriever is not None
        k = max(n for _, n in items)
        run = p.retriever.search_many([q for q, _ in items], k)
        return [run[q.id].top(n) for q, n in items]

    def _rerank_batch(self, items: list[Ranking | RerankJob]) -> list[Ranking]:
        """Rerank a batch; jobs naming one stage (``/v1/rerank`` with a model) go through that stage only.

        Items wanting the same stages are reranked together in one ``rerank_many`` call per stage, all on this
        one worker thread, so no engine ever serves two calls at once.
        """
        p = self.pipeline
        assert p is not None
        groups: dict[tuple[int, ...], list[int]] = {}
        everything = tuple(range(len(p.rerankers)))
        for i, item in enumerate(items):
            stages = item.stages if isinstance(item, RerankJob) and item.stages is not None else everything
            groups.setdefault(stages, []).append(i)
        out: list[Ranking | None] = [None] * len(items)
        for stages, members in groups.items():
            current = [_ranking_of(items[i]) for i in members]
            for s in stages:
                reranker = p.rerankers[s]
                current = reranker.rerank_many(current, reranker.depth or p.depth)
            for i, ranking in zip(members, current):
                out[i] = ranking
        return [r for r in out if r is not None]

    def _generate_batch(self, rankings: list[Ranking]) -> list[Answer]:
        p = self.pipeline
        assert p is not None and p.generator is not None
        return p.generator.generate_many(rankings)

    # ---- request flows ---------------------------------------------------------------------------------------
    def first_stage_k(self, k: int, rerank: bool) -> int:
        """Candidates to retrieve for a request wanting `k` hits: the pipeline's k when reranking."""
        p = self.pipeline
        assert p is not None
        return max(k, p.k) if rerank and p.rerankers else k

    async def search(self, text: str, k: int, rerank: bool) -> Ranking:
        assert self.retrieve_q is not None and self.rerank_q is not None
        ranking = await self.retrieve_q.submit((self.new_query(text), self.first_stage_k(k, rerank)))
        if rerank and self.pipeline is not None and self.pipeline.rerankers and ranking.hits:
            ranking = await self.rerank_q.submit(ranking)
        return ranking.top(k)

    def rerank_models(self) -> dict[str, tuple[int, ...]]:
        """Names a ``/v1/rerank`` request may give as ``model``: each stage's label (that stage alone), and
        ``pipeline`` (every stage in order) when there are several."""
        p = self.pipeline
        assert p is not None
        names = {label: (i,) for i, label in enumerate(self.stage_names(first_stage=False))}
        if len(p.rerankers) > 1:
            names.setdefault(PIPELINE_MODEL, tuple(range(len(p.rerankers))))
        return names

    async def rerank(self, text: str, docs: list[Document], stages: tuple[int, ...] | None = None) -> Ranking:
        """Rerank the caller's documents (in their given order) with every stage, or with `stages` only."""
        assert self.rerank_q is not None
        n = len(docs)
        ranking = Ranking(self.new_query(text), tuple(Hit(d, float(n - i)) for i, d in enumerate(docs)))
        return await self.rerank_q.submit(RerankJob(ranking, stages))

    async def rag(self, text: str, k: int) -> tuple[Ranking, Answer]:
        assert self.generate_q is not None
        ranking = await self.search(text, k, rerank=True)
        answer = await self.generate_q.submit(ranking)
        return ranking, answer


@dataclass(frozen=True)
class RerankJob:
    """One ranking for the rerank queue, and the reranker stages (indexes) it goes through; None: all of them."""

    ranking: Ranking
    stages: tuple[int, ...] | None = None


def _ranking_of(item: Ranking | RerankJob) -> Ranking:
    return item.ranking if isinstance(item, RerankJob) else item


def _engine_of(stage: Any) -> Any:
    """The engine instance a reranker or generator holds (None if it has none or has not built it yet)."""
    attrs = getattr(stage, "__dict__", {})
    engine = attrs.get("engine")
    return engine if engine is not None else attrs.get("_engine")
