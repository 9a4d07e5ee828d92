"""The ranx side of evaluation: a writable numba cache, exact array conversion, and one call per metric.

ranx's metrics are numba functions compiled on first use (``cache=True``); compiling them costs seconds, so the
compiled code must land in a writable cache or every process pays again. Arrays are built here rather than by ranx
so documents are matched by exact integer ids (ranx hashes ids to floats) and ranked in trec_eval's order.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

from rerankit.evaluation.metrics import Metric

__all__ = ["ensure_numba_cache", "ranx_scores"]

log = logging.getLogger(__name__)

FALLBACK_CACHE = Path.home() / ".cache" / "rerankit" / "numba"
_cache_checked = False


def _ranx_dir_writable() -> bool:
    spec = importlib.util.find_spec("ranx")
    if spec is None or not spec.submodule_search_locations:
        return True  # not installed: nothing to decide here, the import error comes later
    root = Path(next(iter(spec.submodule_search_locations)))
    for folder in (root, root / "metrics"):
        cache = folder / "__pycache__"
        target = cache if cache.exists() else folder
        if not os.access(target, os.W_OK):
            return False
    return True


def ensure_numba_cache() -> str | None:
    """Make sure ranx's compiled numba code can be cached; returns the cache dir chosen (None: numba's default).

    Honours ``NUMBA_CACHE_DIR``; otherwise numba caches next to ranx, and when site-packages is read-only this
    points numba at ``~/.cache/rerankit/numba`` instead. Must run before ranx is first imported to take effect.
    """
    global _cache_checked
    if _cache_checked:
        return os.environ.get("NUMBA_CACHE_DIR")
    _cache_checked = True
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if _ranx_dir_writable():
        return None
    try:
        FALLBACK_CACHE.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot create the numba cache %s (%s): ranx will recompile in every process", FALLBACK_CACHE, exc)
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(FALLBACK_CACHE)
    if "numba" in sys.modules:  # numba reads its config at import; update the live value too
        sys.modules["numba"].config.CACHE_DIR = str(FALLBACK_CACHE)
    if "ranx" in sys.modules:
        log.warning("ranx was imported before rerankit set the numba cache; its compiled code may not be cached")
    log.debug("ranx is in a read-only folder: numba cache set to %s", FALLBACK_CACHE)
    return str(FALLBACK_CACHE)


def _to_arrays(ranked: Sequence[Sequence[str]], qrels: Sequence[Mapping[str, int]],
               ranks: Sequence[Mapping[str, int] | None] | None = None) -> tuple[Any, Any]:
    """Per-query (run, qrels) arrays of ``[doc_index, value]`` rows in the order ranx's metrics expect.

    Run rows follow the given order (already trec_eval's) with strictly decreasing scores; qrels rows are sorted
    by grade, highest first (ranx's ideal DCG reads them in that order). Document indices are per query (a metric
    only matches a query's run against its own judgements): judged documents are 0..m-1, each other document a
    distinct negative number (-1 - its position in the flat run). Python only finds the judged documents in each
    run, hashing each document id once: through `ranks` (a query's document id -> rank dict, when the caller has
    one) when the query has fewer judgements than documents, else through the judgements. Numpy fills the rest
    and one compiled loop cuts the flat arrays into numba lists.
    """
    import numpy as np

    run_starts = _starts([len(docs) for docs in ranked])
    index = -1.0 - np.arange(int(run_starts[-1]), dtype=np.float64)  # every document unjudged to begin with
    where: list[int] = []
    which: list[int] = []
    grades: list[int] = []
    rel_lengths: list[int] = []
    for start, docs, judged, rank in zip(run_starts.tolist(), ranked, qrels, ranks or repeat(None)):
        if rank is not None and len(judged) <= len(docs):
            for j, docid in enumerate(judged):
                at = rank.get(docid)
                if at is not None:
                    where.append(start + at)
                    which.append(j)
        elif judged:
            position = dict(zip(judged, range(len(judged))))
            for at, j in enumerate(map(position.get, docs), start):
                if j is not None:
                    where.append(at)
                    which.append(j)
        grades.extend(judged.values())
        rel_lengths.append(len(judged))
    index[where] = which
    return _compiled_rows()(index, run_starts, np.asarray(grades, dtype=np.float64), _starts(rel_lengths))


def _starts(lengths: list[int]) -> Any:
    import numpy as np

    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts


_COMPILED: list[Any] = []


def _compiled_rows() -> Any:
    """The compiled loop building ranx's typed lists: run rows ``[doc_index, n - rank]`` per query, and qrels rows
    ``[j, grade]`` (j: the judgement's position in the query's qrels) sorted by grade, highest first, stably."""
    if not _COMPILED:
        ensure_numba_cache()
        import numpy as np
        from numba import njit
        from numba.typed import List as TypedList

        @njit(cache=True)
        def rows(index, run_starts, grades, rel_starts):  # pragma: no cover - compiled
            runs = TypedList()
            rels = TypedList()
            for q in range(len(run_starts) - 1):
                lo, hi = run_starts[q], run_starts[q + 1]
                run = np.empty((hi - lo, 2), dtype=np.float64)
                for i in range(hi - lo):
                    run[i, 0] = index[lo + i]
                    run[i, 1] = hi - lo - i
                runs.append(run)
                lo, hi = rel_starts[q], rel_starts[q + 1]
                order = np.argsort(-grades[lo:hi], kind="mergesort")
                rel = np.empty((hi - lo, 2), dtype=np.float64)
                for i in range(hi - lo):
                    rel[i, 0] = order[i]
                    rel[i, 1] = grades[lo + order[i]]
                rels.append(rel)
            return runs, rels

        _COMPILED.append(rows)
    return _COMPILED[0]


def ranx_scores(ranked: Sequence[Sequence[str]], qrels: Sequence[Mapping[str, int]], metrics: Sequence[Metric],
                relevance_level: int, ranks: Sequence[Mapping[str, int] | None] | None = None
                ) -> dict[str, list[float]]:
    """Per-query values (aligned with the inputs) of every ranx-backed metric; only those families compile.
    `ranks` optionally gives each query's document id -> rank dict (saves hashing every document again)."""
    ensure_numba_cache()
    from ranx import metrics as rm

    functions = {"ndcg": rm.ndcg, "map": rm.average_precision, "mrr": rm.reciprocal_rank,
                 "recall": rm.recall, "p": rm.precision}
    from numba.core.errors import NumbaTypeSafetyWarning

    runs, rels = _to_arrays(ranked, qrels, ranks)
    out: dict[str, list[float]] = {}
    for metric in metrics:
        if metric.ranx_name is None:
            continue
        # nDCG takes the graded judgements (grades below 1 carry no gain); binary metrics use the level.
        level = relevance_level if metric.binary else 1
        with warnings.catch_warnings():
            # ranx's prange loops cast their uint64 index to int64 (harmless for any real number of queries)
            warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
            values = functions[metric.family](rels, runs, metric.k, level)
        out[metric.name] = [float(v) for v in values]
    return out
