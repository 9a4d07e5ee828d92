"""Composable Retriever -> Reranker(s) -> Generator pipelines."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from rerankit.cache import CachedRanking, StageCache, stage_key
from rerankit.checks import optional_depth, positive_int
from rerankit.errors import InputError
from rerankit.executors import Executor, LocalExecutor, get_executor
from rerankit.fingerprint import local_paths_fingerprint, ranking_digest
from rerankit.generators.base import Answer, Generator
from rerankit.progress import engine_progress
from rerankit.rerankers.base import Reranker
from rerankit.retrievers.base import Retriever, check_queries
from rerankit.types import Query, Ranking, Run

__all__ = ["Pipeline", "PipelineResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    """What one query produced: the final ranking, each stage's ranking, and the answer if a generator ran."""

    ranking: Ranking
    stages: dict[str, Ranking] = field(default_factory=dict)
    answer: Answer | None = None


class Pipeline:
    """``Pipeline(retriever, rerankers=[...], generator=None)``.

    The retriever fetches `k` candidates, each reranker reorders the top `depth` of them (its own depth if it
    has one), and the generator answers from the final ranking. Without a retriever, :meth:`rerank_run` takes
    first-stage candidates (e.g. the shipped TREC DL top-100).

    `executor` says where reranking batches (`chunk_size` queries each) run: in this process (None, default) or
    ``"ray"`` / a :class:`~rerankit.executors.ray.RayExecutor` (workers build their own copy of each stage; see
    docs/scaling.md). Finished batches are written to the stage cache as they arrive, whichever worker ran them.
    """

    def __init__(self, retriever: Retriever | None = None, rerankers: Sequence[Reranker] | Reranker = (),
                 generator: Generator | None = None, k: int = 100, depth: int | None = None,
                 cache_dir: str | Path | None = None, chunk_size: int = 16,
                 executor: str | Executor | None = None) -> None:
        if retriever is not None and not callable(getattr(retriever, "search_many", None)):
            raise InputError(f"Pipeline's retriever must be a Retriever object, got {retriever!r}; build one by name "
                             f"with rerankit.build('retriever', {retriever!r})" if isinstance(retriever, str) else
                             f"Pipeline's retriever must be a Retriever object, got {type(retriever).__name__}")
        if isinstance(rerankers, Reranker) or callable(getattr(rerankers, "rerank_many", None)):
            rerankers = [rerankers]
        if isinstance(rerankers, (str, bytes)) or not isinstance(rerankers, Sequence):
            raise InputError(f"rerankers must be a list of Reranker objects, got {type(rerankers).__name__}")
        bad = next((r for r in rerankers if not callable(getattr(r, "rerank_many", None))), None)
        if bad is not None:
            raise InputError(f"rerankers must be Reranker objects (build them with rerankit.build('reranker', name)), "
                             f"got {bad!r}")
        if generator is not None and not callable(getattr(generator, "generate_many", None)):
            raise InputError(f"the generator must be a Generator object, got {type(generator).__name__}")
        k = positive_int(k, "k")
        depth = optional_depth(depth)
        chunk_size = positive_int(chunk_size, "chunk_size")
        self.retriever = retriever
        self.rerankers = list(rerankers)
        self.generator = generator
        self.k = k
        self.depth = depth
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.chunk_size = chunk_size
        self.executor = get_executor(executor)
        self.last_timings: dict[str, float] = {}

    def stage_labels(self) -> list[str]:
        """Names of the reranker stages as they appear in results (a repeated name gets "#2", "#3")."""
        labels: list[str] = []
        for r in self.rerankers:
            label, n = r.name, 2
            while label in labels:
                label, n = f"{r.name}#{n}", n + 1
            labels.append(label)
        return labels

    def run(self, query: Query | str) -> PipelineResult:
        """Run one query (a string or a `Query`) through every stage."""
        return self.run_many([query])[0]

    def run_many(self, queries: Sequence[Query | str], progress: bool = False) -> list[PipelineResult]:
        """Run many queries; each stage sees all of them at once (that is where batching pays)."""
        if self.retriever is None:
            raise InputError("this pipeline has no retriever: use rerank_run(candidates) instead")
        qs = check_queries(queries)
        if not qs:
            return []
        first = self.retriever.search_many(qs, self.k)
        return self._finish([first[q.id] for q in qs], progress, self.retriever.config())

    def rerank_run(self, candidates: Run | Sequence[Ranking], progress: bool = False,
                   upstream: dict | None = None) -> list[PipelineResult]:
        """Run the reranker(s) and generator over given first-stage rankings.

        With a cache, each output is stored under the content of the ranking it came from (query text, candidate
        ids, texts, scores), so changed candidates are recomputed. `upstream` (e.g. the dataset and first stage)
        only groups cache files; it is not needed for correctness.
        """
        if isinstance(candidates, (str, bytes, Ranking)) or not isinstance(candidates, (dict, Sequence)):
            raise InputError(f"rerank_run takes a run (dict of query id -> Ranking) or a list of Rankings, got "
                             f"{type(candidates).__name__}")
        rankings = list(candidates.values()) if isinstance(candidates, dict) else list(candidates)
        bad = next((r for r in rankings if not isinstance(r, Ranking)), None)
        if bad is not None:
            raise InputError(f"rerank_run takes Ranking objects, got {type(bad).__name__}")
        return self._finish(rankings, progress, upstream or {})

    def final_run(self, results: Sequence[PipelineResult]) -> Run:
        """The final rankings as a run (query id -> ranking)."""
        return {r.ranking.query.id: r.ranking for r in results}

    def _finish(self, rankings: list[Ranking], progress: bool, upstream: dict) -> list[PipelineResult]:
        stages: list[dict[str, Ranking]] = [{"retriever": r} for r in rankings]
        current = rankings
        key = stage_key(upstream)
        self.last_timings = {}
        for reranker, label in zip(self.rerankers, self.stage_labels()):
            depth = reranker.depth or self.depth
            config = self.executor.config_of(reranker)
            key = stage_key({**config, "depth": depth, "local_files": local_paths_fingerprint(config)}, key)
            with engine_progress(reranker, progress):
                current, self.last_timings[label] = self._run_stage(reranker, depth, current, key, label, progress)
            for s, r in zip(stages, current):
                s[label] = r
        answers: list[Answer | None] = [None] * len(current)
        if self.generator is not None:
            with engine_progress(self.generator, progress):
                answers = list(self.generator.generate_many(current))
        return [PipelineResult(r, s, a) for r, s, a in zip(current, stages, answers)]

    def _run_stage(self, reranker: Reranker, depth: int | None, rankings: list[Ranking], key: str,
                   label: str, progress: bool) -> tuple[list[Ranking], float]:
        """Apply one stage in chunks, resuming from and appending to the cache when one is configured.

        Returns the outputs in input order and the stage's cost in seconds: the time its batches took, and for
        outputs read from the cache the cost stored when they were computed (not the time to read them).
        """
        cache = StageCache(self.cache_dir, key) if self.cache_dir else None
        # Outputs are found by the content of their input ranking; without a cache, position is enough.
        keys = [ranking_digest(r) for r in rankings] if cache else [str(i) for i in range(len(rankings))]
        stored = cache.load() if cache else {}
        done = {k: stored[k] for k in keys if k in stored}
        if done:
            log.info("stage %s: resuming, %d of %d queries already in %s", label, len(done), len(rankings),
                     cache.path if cache else "")
        todo = [(k, r) for k, r in zip(keys, rankings) if k not in done]
        seconds = sum(c.seconds for c in done.values())
        bar = tqdm(total=len(rankings), initial=len(rankings) - len(todo), desc=label, unit="q",
                   disable=not progress)
        size = self.chunk_size if cache or not isinstance(self.executor, LocalExecutor) else max(len(todo), 1)
        batches = [todo[start:start + size] for start in range(0, len(todo), size)]
        # Batches finish in any order on a distributed executor: each is written as it arrives, and its cost is the
        # wall time since the previous one finished (in one process: exactly its own time).
        t_last = time.perf_counter()
        for i, out in self.executor.imap(reranker, "rerank_many", [([r for _, r in b], depth) for b in batches]):
            batch = batches[i]
            now = time.perf_counter()
            cost, t_last = (now - t_last) / len(batch), now
            entries = [(k, r, cost) for (k, _), r in zip(batch, out)]
            if cache:
                cache.append(entries)
            done.update((k, CachedRanking(r, c)) for k, r, c in entries)
            seconds += cost * len(batch)
            bar.update(len(batch))
        bar.close()
        return [done[k].ranking for k in keys], seconds
