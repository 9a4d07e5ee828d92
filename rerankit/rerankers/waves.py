"""Run many queries' sequential ranking programs in lockstep, sending each wave of model calls as one batch.

A listwise sliding window or a setwise sort is sequential within a query but independent across queries. Each
query's algorithm is written as a generator that *yields* a request (a window, a set to compare) and receives the
model's answer; :func:`run_waves` advances all generators together, so every wave is one engine call (what makes
vLLM and batched transformers fast). ``batched=False`` runs one query after another, one request per call: the
per-query loop that batching is measured against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from typing import Any

__all__ = ["Program", "run_waves"]

log = logging.getLogger(__name__)

Program = Generator[Any, Any, Any]


def run_waves(programs: Sequence[Program], step: Callable[[list[Any]], list[Any]], batched: bool = True,
              desc: str = "rerank", total: int | None = None, progress: bool = True) -> list[Any]:
    """Drive `programs` to completion; `step` maps a list of requests to the list of answers, in order.

    Returns each program's return value. `total` (the number of requests, when known) sizes the progress bar.
    """
    from tqdm.auto import tqdm

    results: list[Any] = [None] * len(programs)
    bar = tqdm(total=total, desc=desc, unit="call", disable=not progress, leave=False)
    waves = 0
    try:
        if batched:
            pending = {}
            for i, prog in enumerate(programs):
                _advance(prog, None, i, pending, results, first=True)
            while pending:
                idx = list(pending)
                answers = _checked(step([pending[i] for i in idx]), len(idx))
                waves += 1
                bar.update(len(idx))
                for i, ans in zip(idx, answers):
                    _advance(programs[i], ans, i, pending, results)
        else:
            for i, prog in enumerate(programs):
                pending = {}
                _advance(prog, None, i, pending, results, first=True)
                while pending:
                    ans = _checked(step([pending[i]]), 1)[0]
                    waves += 1
                    bar.update(1)
                    _advance(prog, ans, i, pending, results)
    finally:
        bar.close()
    log.debug("%s: %d engine calls for %d queries (batched=%s)", desc, waves, len(programs), batched)
    return results


def _advance(prog: Program, answer: Any, i: int, pending: dict[int, Any], results: list[Any],
             first: bool = False) -> None:
    """Send `answer` to program `i` (or start it) and record its next request or its result."""
    try:
        pending[i] = next(prog) if first else prog.send(answer)
    except StopIteration as stop:
        pending.pop(i, None)
        results[i] = stop.value


def _checked(answers: list[Any], n: int) -> list[Any]:
    if len(answers) != n:
        raise RuntimeError(f"a wave step returned {len(answers)} answers for {n} requests")
    return answers
