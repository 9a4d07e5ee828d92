"""Run an evaluation spec (dataset, first stage, rerankers) and collect every stage's run and time.

This is what `rerankit eval` and the eval/ scripts call; it knows nothing about terminals.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankit.cache import default_cache_dir, stage_key
from rerankit.checks import optional_depth, positive_int
from rerankit.errors import DataError
from rerankit.pipeline import Pipeline
from rerankit.registry import build
from rerankit.retrievers.base import Retriever
from rerankit.runs import Qrels
from rerankit.types import Ranking, Run

__all__ = ["EvalSpec", "EvalOutcome", "run_eval", "open_retriever", "build_rerankers"]

log = logging.getLogger(__name__)


@dataclass
class EvalSpec:
    """Everything `rerankit eval` takes. `model`, `engine` and `options` apply to the last stage named."""

    dataset: str
    data_dir: str | None = None
    retriever: str = "bm25"
    candidates: str | None = None
    rerankers: list[str] = field(default_factory=list)
    model: str | None = None
    engine: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    depth: int | None = None
    k: int = 100
    n_queries: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalOutcome:
    """Runs of every stage (first stage first), the qrels they are judged against, and seconds per stage."""

    dataset_id: str
    qrels: Qrels
    relevance_level: int
    stage_runs: dict[str, Run]
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)
    """Things the user should know about how the result was made (printed on stderr by the CLI)."""

    @property
    def final_stage(self) -> str:
        return list(self.stage_runs)[-1]

    @property
    def final_run(self) -> Run:
        return self.stage_runs[self.final_stage]


def open_retriever(ds: Any, name: str, options: dict[str, Any], cache_dir: str | None = None) -> Retriever:
    """The retriever `name` over dataset `ds`'s corpus, from the index store (built on first use)."""
    from rerankit.indexes import open_or_build_index

    root = Path(cache_dir) / "indexes" if cache_dir else None
    retriever, info = open_or_build_index(name, _LazyCorpus(ds), ds.id, root=root,
                                          corpus_fingerprint=ds.corpus_fingerprint(),
                                          **{k: v for k, v in options.items() if v is not None})
    log.info("%s index %s in %.1fs (%s)", name, "built" if info["built"] else "loaded", info["seconds"],
             info["path"])
    return retriever


class _LazyCorpus:
    """Iterates the corpus only if an index must be built (loading a stored index needs no corpus)."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds

    def __iter__(self):
        return iter(self.ds.corpus.values())


def build_rerankers(names: list[str], last_options: dict[str, Any], remote: bool = False) -> list[Any]:
    """Rerankers for `names` in order; `last_options` (model, engine, -o options) go to the last one only.
    `remote`: recipes only (:class:`~rerankit.executors.RemoteStage`), built by the executor's workers."""
    def make(name: str, opts: dict[str, Any]) -> Any:
        if remote:
            from rerankit.executors import RemoteStage

            return RemoteStage(name, **{k: v for k, v in opts.items() if v is not None})
        return build("reranker", name, **opts)

    return [make(name, last_options if i == len(names) - 1 else {}) for i, name in enumerate(names)]


def run_eval(spec: EvalSpec, progress: bool = True) -> EvalOutcome:
    """Load the dataset, run the first stage and each reranker, and return all stage runs."""
    from rerankit.data import load_dataset

    depth = optional_depth(spec.depth, "depth (--depth)")
    positive_int(spec.k, "k (-k)")
    if spec.n_queries is not None:
        positive_int(spec.n_queries, "the number of queries (--queries)")
    ds = load_dataset(spec.dataset, data_dir=spec.data_dir)
    queries = list(ds.queries.values())
    if spec.n_queries is not None:
        queries = queries[: spec.n_queries]
    if not queries:
        raise DataError(f"{ds.id} has no judged queries to evaluate")
    last_opts = {"model": spec.model, **spec.options}
    stage_runs: dict[str, Run] = {}
    seconds: dict[str, float] = {}
    notes: list[str] = []

    # Rerankers are built (models loaded, options checked) before the first stage runs: a bad option or model is
    # reported before any retrieval or indexing work.
    # With a distributed executor the workers build them, and the first worker's configuration answer (or error)
    # arrives here before any work too.
    from rerankit.executors import get_executor

    remote = spec.executor not in (None, "local")
    executor = get_executor(spec.executor if remote else None, **spec.executor_options)
    rerankers = build_rerankers(spec.rerankers, dict(last_opts, engine=spec.engine), remote=remote) \
        if spec.rerankers else []
    try:
        for stage in rerankers if remote else []:
            executor.config_of(stage)
    except BaseException:
        executor.close()
        raise
    t0 = time.perf_counter()
    if spec.candidates:
        shipped = _shipped_candidates(ds, spec.candidates, needs_text=bool(rerankers), notes=notes)
        missing = [q.id for q in queries if q.id not in shipped]
        if missing:
            log.warning("%d judged queries have no %s candidates (e.g. %s): they get empty rankings",
                        len(missing), spec.candidates, missing[:3])
        first = {q.id: shipped.get(q.id, Ranking(q, ())) for q in queries}
        first = {qid: r.top(spec.k) for qid, r in first.items()}
        first_name = f"{spec.candidates} (shipped)"
        upstream = {"dataset": ds.id, "candidates": spec.candidates, "k": spec.k}
    else:
        opts = last_opts if not spec.rerankers else {}
        retriever = open_retriever(ds, spec.retriever, opts, spec.cache_dir)
        t0 = time.perf_counter()  # search time only: index building is logged by open_retriever
        first = retriever.search_many(queries, spec.k)
        first_name = spec.retriever
        upstream = {"dataset": ds.id, "retriever": retriever.config(), "k": spec.k}
    stage_runs[first_name] = first
    seconds[first_name] = time.perf_counter() - t0

    if rerankers:
        cache_root = Path(spec.cache_dir or default_cache_dir()) / "stages" if spec.use_cache else None
        pipe = Pipeline(rerankers=rerankers, depth=depth, cache_dir=cache_root, executor=executor)
        t0 = time.perf_counter()
        try:
            results = pipe.rerank_run(first, progress=progress, upstream={"key": stage_key(upstream)})
        finally:
            executor.close()
        for label in pipe.stage_labels():
            stage_runs[label] = {r.ranking.query.id: r.stages[label] for r in results}
        seconds.update(pipe.last_timings)
    return EvalOutcome(ds.id, {q.id: ds.qrels[q.id] for q in queries}, ds.relevance_level, stage_runs, seconds,
                       notes)


def _shipped_candidates(ds: Any, name: str, needs_text: bool, notes: list[str]) -> Run:
    """A shipped run: with passage text when a reranker will read it; ids and scores suffice for scoring it."""
    if needs_text or name in ds.candidate_names:
        return ds.candidates(name)
    run = ds.candidates(name, with_text=False)
    notes.append(f"the {name!r} run of {ds.id} has document ids and scores but no text: it is scored as shipped; "
                 "reranking it needs the corpus (put corpus.jsonl in the dataset folder)")
    return run
