"""Rank fusion of several retrievers as one retriever stage, with ranx's methods; ``hybrid`` is BM25 + dense.

Reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009) scores a document sum_r 1 / (k + rank_r(d))
over the runs that retrieved it (k = 60); score-based methods (``wsum``, ``sum``, ``mnz``, ``max``) first normalise
each run's scores (min-max by default). Those five are computed here with ranx's formulas; every other ranx method
goes through ``ranx.fuse``, whose numba compile costs tens of seconds per process.
"""

from __future__ import annotations

import inspect
import json
import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.checks import positive_int
from rerankit.errors import ConfigError, IndexMismatchError, InputError
from rerankit.registry import build
from rerankit.retrievers.base import IndexedRetriever, Retriever, check_corpus, check_queries
from rerankit.retrievers.index_io import MANIFEST, read_manifest, write_manifest
from rerankit.runs import trec_order
from rerankit.types import Document, Hit, Query, Ranking, Run

__all__ = ["FusionRetriever", "HybridRetriever", "fuse_runs", "METHODS", "NORMS"]

log = logging.getLogger(__name__)

_FORMAT = "rerankit-fusion/1"
METHODS = ("rrf", "wsum", "sum", "mnz", "max", "min", "med", "anz", "gmnz", "wmnz", "isr", "log_isr", "logn_isr",
           "rbc", "bordafuse", "condorcet")
"""Fusion methods of ranx that need no training data."""
NORMS = ("min-max", "max", "sum", "zmuv", "rank", "borda")
_WEIGHTED = ("wsum", "wmnz")
_SENTINEL = "\x00rerankit-no-hit"
_NATIVE = ("rrf", "wsum", "sum", "mnz", "max")
_RANK_BASED = ("rrf", "isr", "log_isr", "logn_isr", "rbc", "bordafuse", "condorcet")


def _check_fusion(method: str, norm: str | None, weights: Sequence[float] | None, n: int) -> str | None:
    if method not in METHODS:
        raise InputError(f"unknown fusion method {method!r}; choose one of {', '.join(METHODS)}")
    if norm == "auto":
        norm = None if method in _RANK_BASED else "min-max"
    if norm is not None and norm not in NORMS:
        raise InputError(f"unknown score normalisation {norm!r}; choose one of {', '.join(NORMS)} or None")
    if weights is not None and len(weights) != n:
        raise InputError(f"got {len(weights)} fusion weights for {n} retrievers")
    return norm


def fuse_runs(runs: Sequence[Run], method: str = "rrf", norm: str | None = "auto",
              weights: Sequence[float] | None = None, rrf_k: float = 60, k: int | None = None,
              backend: str = "auto") -> Run:
    """Fuse runs over the same queries into one (top `k` per query).

    Each input ranking's order is its rank order; fused ties are broken as trec_eval does (document id desc).
    ``backend="auto"`` computes rrf/wsum/sum/mnz/max here (ranx's formulas, without its numba compile, which costs
    tens of seconds in every new process) and hands the other methods to ``ranx.fuse``; "ranx" always uses ranx.
    """
    if len(runs) < 2:
        raise InputError(f"fusion needs at least two runs, got {len(runs)}")
    if backend not in ("auto", "ranx"):
        raise InputError(f"unknown fusion backend {backend!r}; choose 'auto' or 'ranx'")
    norm = _check_fusion(method, norm, weights, len(runs))
    qids = list(runs[0])
    for i, run in enumerate(runs[1:], 1):
        if set(run) != set(qids):
            raise InputError(f"run {i} covers other queries than run 0: fusion needs the same queries in every run")
    if method in _WEIGHTED:
        weights = list(weights) if weights is not None else [1.0 / len(runs)] * len(runs)
    elif weights is not None:
        raise InputError(f"fusion method {method!r} takes no weights; use 'wsum' or 'wmnz' for weighted fusion")
    # Every input is read in rank order (hits best first), as ranx reads a run from its dicts' insertion order.
    live = [q for q in qids if any(run[q].hits for run in runs)]
    per_run = [{q: {h.doc.id: float(h.score) for h in run[q].hits} for q in live} for run in runs]
    if backend == "auto" and method in _NATIVE and norm != "borda":
        fused = {q: _fuse_query([d[q] for d in per_run], method, norm, weights, rrf_k) for q in live}
    else:
        fused = _ranx_fuse(per_run, live, method, norm, weights, rrf_k)
    out: Run = {}
    for q in qids:
        docs: dict[str, Document] = {}
        for run in runs:
            for h in run[q].hits:
                docs.setdefault(h.doc.id, h.doc)
        scores = {d: v for d, v in fused.get(q, {}).items() if d != _SENTINEL}
        ordered = trec_order(scores)[:k] if k is not None else trec_order(scores)
        out[q] = Ranking(runs[0][q].query, tuple(Hit(docs[d], float(s)) for d, s in ordered),
                         {"fusion": method})
    return out


def _normalise(scores: dict[str, float], norm: str | None) -> dict[str, float]:
    """ranx's score normalisations for one query's results (same formulas and the same 1e-9 guards)."""
    if norm is None or not scores:
        return scores
    values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
    if norm == "rank":
        n = len(scores)
        return {d: 1 - i / n for i, d in enumerate(scores)}
    if norm == "min-max":
        lo, scale = values.min(), max(values.max() - values.min(), 1e-9)
    elif norm == "max":
        lo, scale = 0.0, max(values.max(), 1e-9)
    elif norm == "sum":
        lo = values.min()
        scale = max(values.sum() - lo * len(values), 1e-9)
    elif norm == "zmuv":
        lo, scale = values.mean(), max(values.std(), 1e-9)
    else:
        raise InputError(f"score normalisation {norm!r} is not computed here; use backend='ranx'")
    return {d: (s - lo) / scale for d, s in scores.items()}


def _fuse_query(results: list[dict[str, float]], method: str, norm: str | None,
                weights: Sequence[float] | None, rrf_k: float) -> dict[str, float]:
    if method == "rrf":  # 1 / (k + rank), ranks from 1 in each run's order
        results = [{d: 1.0 / (rrf_k + r) for r, d in enumerate(res, 1)} for res in results]
    else:
        results = [_normalise(res, norm) for res in results]
    fused: dict[str, float] = {}
    if method == "max":
        for res in results:
            for d, s in res.items():
                fused[d] = max(fused.get(d, s), s)
        return fused
    hits: dict[str, int] = {}
    for i, res in enumerate(results):
        w = weights[i] if method == "wsum" and weights is not None else 1.0
        for d, s in res.items():
            fused[d] = fused.get(d, 0.0) + w * s
            hits[d] = hits.get(d, 0) + 1
    if method == "mnz":
        return {d: s * hits[d] for d, s in fused.items()}
    return fused


def _ranx_fuse(per_run: list[dict[str, dict[str, float]]], live: list[str], method: str, norm: str | None,
               weights: Sequence[float] | None, rrf_k: float) -> dict[str, dict[str, float]]:
    from ranx import Run as RanxRun
    from ranx import fuse

    if not live:
        return {}
    params: dict[str, Any] = {"k": rrf_k} if method == "rrf" else {}
    if method in _WEIGHTED:
        params["weights"] = list(weights or [])
    # ranx cannot hold a run with no hit at all: such a run becomes one holding only a sentinel document, which
    # adds nothing to any real document's fused score.
    dicts = [d if any(d.values()) else {q: {_SENTINEL: 1.0} for q in live} for d in per_run]
    ranx_runs = [RanxRun(d, name=f"run{i}") for i, d in enumerate(dicts)]
    with warnings.catch_warnings():  # numba's note on ranx's internal integer casts is not the caller's concern
        warnings.filterwarnings("ignore", message=".*unsafe cast.*")
        return dict(fuse(ranx_runs, norm=norm, method=method, params=params).to_dict())


def _build_component(spec: Retriever | str | Mapping[str, Any], show_progress: bool) -> Retriever:
    if isinstance(spec, Retriever):
        return spec
    if isinstance(spec, str):
        return build("retriever", spec, **_accepted(spec, {"show_progress": show_progress}))
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        opts = {k: v for k, v in spec.items() if k != "name"}
        return build("retriever", spec["name"], **{**_accepted(spec["name"], {"show_progress": show_progress}),
                                                    **opts})
    raise InputError(f"a fused retriever must be a Retriever, a registered name or a mapping with 'name', "
                     f"got {spec!r}")


def _accepted(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `options` that the retriever class registered as `name` takes in its constructor."""
    from rerankit.registry import stage_class

    params = inspect.signature(stage_class("retriever", name).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


class FusionRetriever(IndexedRetriever):
    """Several retrievers fused into one ranking.

    Args:
        retrievers: two or more retrievers: objects, registered names ("bm25") or mappings
            ({"name": "dense", "model": ...}).
        method: a ranx fusion method (``METHODS``), "rrf" by default.
        norm: score normalisation before fusing ("auto": none for rank-based methods, min-max otherwise).
        weights: per-retriever weights for "wsum"/"wmnz" (equal when None).
        rrf_k: the k of reciprocal rank fusion. depth: how many hits each retriever contributes (at least k).
        backend: "auto" (rrf/wsum/sum/mnz/max computed here, the rest by ranx) or "ranx" (always ``ranx.fuse``).
    """

    name = "fusion"

    def __init__(self, retrievers: Sequence[Retriever | str | Mapping[str, Any]], method: str = "rrf",
                 norm: str | None = "auto", weights: Sequence[float] | None = None, rrf_k: float = 60,
                 depth: int = 1000, backend: str = "auto", show_progress: bool = True) -> None:
        if isinstance(retrievers, (str, Mapping)) or len(retrievers) < 2:
            raise InputError("fusion needs a list of at least two retrievers")
        if depth < 1 or rrf_k < 0:
            raise InputError(f"depth must be at least 1 and rrf_k non-negative, got {depth} and {rrf_k}")
        self.norm = _check_fusion(method, norm, weights, len(retrievers))
        self.method, self.weights = method, (list(map(float, weights)) if weights is not None else None)
        if backend not in ("auto", "ranx"):
            raise InputError(f"unknown fusion backend {backend!r}; choose 'auto' or 'ranx'")
        self.rrf_k, self.depth, self.backend, self.show_progress = float(rrf_k), int(depth), backend, show_progress
        self.retrievers: list[Retriever] = [_build_component(r, show_progress) for r in retrievers]

    def index(self, documents: Iterable[Document]) -> FusionRetriever:
        docs = check_corpus(documents)
        for r in self.retrievers:
            if isinstance(r, IndexedRetriever):
                r.index(docs)
            else:
                log.info("fusion: %s has no index of its own; it searches as it is", r.name)
        return self

    def search_many(self, queries: Sequence[Query | str], k: int = 100) -> Run:
        k = positive_int(k, "k")
        qs = check_queries(queries)
        depth = max(k, self.depth)
        runs = [r.search_many(qs, depth) for r in self.retrievers]
        fused = fuse_runs(runs, self.method, self.norm, self.weights, self.rrf_k, k, self.backend)
        return {q.id: fused[q.id] for q in qs}

    def _fusion_config(self) -> dict[str, Any]:
        return {"method": self.method, "norm": self.norm, "weights": self.weights, "rrf_k": self.rrf_k,
                "depth": self.depth, "backend": self.backend}

    def config(self) -> dict:
        return {"name": self.name, **self._fusion_config(), "retrievers": [r.config() for r in self.retrievers]}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        not_indexed = [r.name for r in self.retrievers if not isinstance(r, IndexedRetriever)]
        if not_indexed:
            raise InputError(f"cannot save a fusion whose retrievers {not_indexed} have no index to save")
        path.mkdir(parents=True, exist_ok=True)
        parts = []
        for i, r in enumerate(self.retrievers):
            part = f"{i}-{r.name}"
            r.save(path / part)  # type: ignore[union-attr]
            parts.append(part)
        write_manifest(path, _FORMAT, self.config(), [f"{p}/{MANIFEST}" for p in parts], components=parts,
                       fusion=self._fusion_config())

    @classmethod
    def load(cls, path: str | Path, verify: bool = True, **options: Any) -> FusionRetriever:
        """Load each saved retriever (runtime options go to those that take them) and fuse them again."""
        return cls._load(Path(path), verify, {}, options)

    @classmethod
    def _load(cls, path: Path, verify: bool, per_component: Mapping[str, Mapping[str, Any]],
              options: Mapping[str, Any]) -> FusionRetriever:
        from rerankit.registry import stage_class

        meta = read_manifest(path, _FORMAT, verify=verify)
        if meta["config"].get("name") != cls.name:
            raise IndexMismatchError(f"{path} holds a {meta['config'].get('name')!r} index, not {cls.name!r}")
        components = []
        for part in meta.get("components", []):
            try:
                name = json.loads((path / part / MANIFEST).read_text())["config"]["name"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise IndexMismatchError(f"{path / part} is not a rerankit index ({exc})") from None
            opts = {**_accepted(name, options), **per_component.get(name, {})}
            load = stage_class("retriever", name).load
            if "verify" in inspect.signature(load).parameters:
                opts["verify"] = verify
            components.append(load(path / part, **opts))
        if len(components) < 2:
            raise IndexMismatchError(f"{path}: a fusion index needs at least two saved retrievers")
        self = cls.__new__(cls)
        fusion = meta.get("fusion") or {}
        try:
            FusionRetriever.__init__(self, components, show_progress=options.get("show_progress", True), **fusion)
        except TypeError as exc:
            raise ConfigError(f"{path}: unreadable fusion settings {fusion} ({exc})") from None
        return self


class HybridRetriever(FusionRetriever):
    """BM25 + dense retrieval fused (RRF by default); `model` is the dense encoder.

    `bm25` and `dense` take extra options for each part (e.g. ``dense={"query_prefix": "query: "}``).
    """

    name = "hybrid"

    def __init__(self, model: str | None = None, method: str = "rrf", norm: str | None = "auto",
                 weights: Sequence[float] | None = None, rrf_k: float = 60, depth: int = 1000,
                 bm25: Mapping[str, Any] | None = None, dense: Mapping[str, Any] | None = None,
                 backend: str = "auto", show_progress: bool = True) -> None:
        dense = dict(dense or {})
        if model is not None and "model" in dense:
            raise InputError("give the dense encoder either as model= or in dense={'model': ...}, not both")
        if model is not None:
            dense["model"] = model
        super().__init__([{"name": "bm25", **(bm25 or {})}, {"name": "dense", **dense}], method, norm, weights,
                         rrf_k, depth, backend, show_progress)

    @property
    def model_name(self) -> str:
        return getattr(self.retrievers[1], "model_name", "")

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, verify: bool = True,
             **options: Any) -> HybridRetriever:
        """Load a saved hybrid index; `model` (the dense encoder) must embed as the one that built it."""
        per = {"dense": {"model": model}} if model is not None else {}
        return cls._load(Path(path), verify, per, options)  # type: ignore[return-value]
