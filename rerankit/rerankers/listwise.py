"""Listwise LLM reranking with RankGPT's sliding window: RankGPT, RankZephyr, RankVicuna and ReasonRank prompts.

A window of `window_size` passages slides from the bottom of the list to the top in steps of `stride` (windows
processed back to front, so strong passages bubble up); the model answers a permutation ("[2] > [1] > ...") that
reorders the window in place. Windows of one query run in sequence, but all queries' windows advance together and
each wave goes to the engine as one batch (:mod:`rerankit.rerankers.waves`). :class:`SlidingWindowReranker` is the
framework (FIRST reuses it); :class:`ListwiseReranker` generates and parses the permutation.
"""

from __future__ import annotations

import hashlib
import logging
from abc import abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rerankit.engines.base import Capability, Engine, GenerationParams, Prompt
from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.permutation import (
    RepairCounts,
    identifier,
    parse_permutation,
    parse_reference_permutation,
    total_repairs,
)
from rerankit.rerankers.waves import run_waves
from rerankit.rerankers.window_prompt import WindowPrompt
from rerankit.types import Hit, Query, Ranking

__all__ = ["window_schedule", "WindowRequest", "WindowResult", "SlidingWindowReranker", "ListwiseReranker"]

log = logging.getLogger(__name__)


def window_schedule(n: int, window_size: int, stride: int) -> list[tuple[int, int]]:
    """The (start, end) spans of one back-to-front pass over `n` items, as rank_llm's sliding_windows computes them.

    The first window is the last `window_size` items; each next one moves `stride` up, cut at 0; the pass ends with
    the window that starts at 0. (rank_llm's loop test ``start + stride != 0`` also skips *every* window when
    ``n == window_size - stride``, e.g. 10 candidates with window 20 and stride 10; here that case gets one window.)
    """
    if window_size < 1 or stride < 1:
        raise InputError(f"window_size and stride must be at least 1, got {window_size} and {stride}")
    spans: list[tuple[int, int]] = []
    end, start = n, n - window_size
    while end > 0:
        start = max(start, 0)
        spans.append((start, end))
        if start == 0:
            break
        end, start = end - stride, start - stride
    return spans


@dataclass(frozen=True)
class WindowRequest:
    """One window to rank: query index in the batch, the query, the window's hits in current order, its span."""

    qi: int
    query: Query
    hits: tuple[Hit, ...]
    span: tuple[int, int]
    pass_index: int


@dataclass(frozen=True)
class WindowResult:
    """A window's new order (positions into the window), the repairs it took and its history record."""

    permutation: list[int]
    repairs: RepairCounts
    record: Mapping[str, Any]


class SlidingWindowReranker(Reranker):
    """The sliding-window framework: options, engine, per-query programs advanced in batched waves.

    Subclasses set `required` (engine capabilities) and implement :meth:`_rank_windows`.
    """

    name = "sliding-window"
    required: tuple[Capability, ...] = ()
    default_template = "rankgpt"

    def __init__(self, model: str | None = None, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str | None = None,
                 depth: int | None = 100, window_size: int = 20, stride: int = 10, passes: int = 1,
                 max_passage_words: int | None = 300, keep_history: bool = False, batch_queries: bool = True,
                 progress: bool = True, context_size: int | None = None) -> None:
        super().__init__(depth)
        if window_size < 2:
            raise ConfigError(f"window_size must be at least 2, got {window_size}")
        if not 1 <= stride <= window_size:
            raise ConfigError(f"stride must be between 1 and window_size ({window_size}), got {stride}: a larger "
                              "stride would leave passages that no window sees")
        if passes < 1:
            raise ConfigError(f"passes must be at least 1, got {passes}")
        if max_passage_words is not None and max_passage_words < 1:
            raise ConfigError(f"max_passage_words must be at least 1 (or None for no limit), got {max_passage_words}")
        if context_size is not None and context_size < 1:
            raise ConfigError(f"context_size must be at least 1 (or None for the template's), got {context_size}")
        self.context_size = context_size
        self.prompt = WindowPrompt.load(template or self.default_template)
        if self.prompt.identifiers == "alpha" and window_size > 26:
            raise ConfigError(f"template {self.prompt.name!r} labels passages A-Z: window_size must be <= 26")
        from rerankit.engines import get_engine

        self.engine = get_engine(engine, model, needs=self.required, method=f"the {self.name} reranker",
                                 **dict(engine_options or {}))
        self.window_size, self.stride, self.passes = window_size, stride, passes
        self.max_passage_words = max_passage_words
        self.keep_history, self.batch_queries, self.progress = keep_history, batch_queries, progress
        self._estimates: dict[tuple[int, str], int] = {}  # answer-length estimates (deterministic)

    # ---- per-method part -----------------------------------------------------------------------------------
    @abstractmethod
    def _rank_windows(self, requests: list[WindowRequest]) -> list[WindowResult]:
        """Rank every window of one wave (one batched engine call where possible)."""

    # ---- framework ---------------------------------------------------------------------------------------------
    def _program(self, qi: int, ranking: Ranking, log_: list[dict], stats: RepairCounts
                 ) -> Generator[WindowRequest, WindowResult, list[int]]:
        order = list(range(len(ranking.hits)))
        for p in range(self.passes):
            for start, end in window_schedule(len(order), self.window_size, self.stride):
                if end - start < 2:
                    continue  # a single passage is already in order
                ids = order[start:end]
                res = yield WindowRequest(qi, ranking.query, tuple(ranking.hits[i] for i in ids), (start, end), p)
                if sorted(res.permutation) != list(range(len(ids))):
                    raise RuntimeError(f"{self.name}: window permutation {res.permutation} is not a permutation of "
                                       f"{len(ids)} positions")
                order[start:end] = [ids[j] for j in res.permutation]
                stats.add(res.repairs)
                if self.keep_history:
                    log_.append({"pass": p, "span": [start, end], "doc_ids": [ranking.hits[i].doc.id for i in ids],
                                 **res.record})
        return order

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        stats = [RepairCounts() for _ in rankings]
        history: list[list[dict]] = [[] for _ in rankings]
        programs = [self._program(i, r, history[i], stats[i]) for i, r in enumerate(rankings)]
        total = sum(self.passes * sum(1 for s, e in window_schedule(len(r.hits), self.window_size, self.stride)
                                      if e - s >= 2) for r in rankings)
        orders = run_waves(programs, self._rank_windows, batched=self.batch_queries, desc=self.name, total=total,
                           progress=self.progress)
        out = []
        for r, order, st, hist in zip(rankings, orders, stats, history):
            meta: dict[str, Any] = {"template": self.prompt.name, "repairs": st.as_dict()}
            if self.keep_history:
                meta["history"] = hist
            out.append(r.reordered(order, **{self.name: meta}))
        total = sum(stats, RepairCounts())  # local to this call: the instance keeps no counters
        log.info("%s (%s): %d queries, %d model outputs, %d clean, repairs %s", self.name, self.prompt.name,
                 len(rankings), total.outputs, total.clean,
                 {k: v for k, v in total.as_dict().items() if v and k not in ("outputs", "clean")})
        return out

    def repair_counts(self, rankings: Sequence[Ranking]) -> dict[str, int]:
        """Repairs summed over `rankings` (what one :meth:`rerank_many` call returned), from their meta.

        Each query's counts are in ``ranking.meta[name]["repairs"]``; nothing is kept on the instance, so
        concurrent calls on one reranker never mix their counts.
        """
        return total_repairs(rankings, self.name)

    def _texts(self, req: WindowRequest) -> list[str]:
        return [self.prompt.passage_text(h.doc) for h in req.hits]

    def _answer_estimate(self, size: int, kind: str) -> int:
        """rank_llm's answer length: tokens of "[1] > [2] > ... > [size]" as ``tokenizer.encode`` counts them,
        minus one (the BOS of Llama-family tokenizers)."""
        key = (size, kind)
        if key not in self._estimates:
            ids = " > ".join(f"[{identifier(i, kind)}]" for i in range(size))
            self._estimates[key] = max(1, self.engine.input_length(ids) - 1)
        return self._estimates[key]

    def config(self) -> dict:
        digest = hashlib.sha1(repr(self.prompt).encode("utf-8")).hexdigest()[:12]
        return {**super().config(), "engine": self.engine.config(), "template": self.prompt.name,
                "template_digest": digest, "window_size": self.window_size, "stride": self.stride,
                "passes": self.passes, "max_passage_words": self.max_passage_words, "keep_history": self.keep_history,
                "context_size": self.prompt.budget(self.engine, self.context_size)}


class ListwiseReranker(SlidingWindowReranker):
    """Generative listwise reranking: the model writes a permutation of each window's identifiers.

    `template` picks the prompt format (rankgpt, rankzephyr, rankzephyr-2025, rankvicuna, reasonrank, or a YAML
    path); `max_new_tokens` defaults to the length of "[1] > [2] > ... > [w]" (rank_llm's estimate) for permutation
    templates and to 3172 for reasoning templates (ReasonRank's reasoning_maxlen 3072 + 100). `context_size`
    overrides the template's token budget (rank_llm's 4096 for RankZephyr/RankVicuna; the model's maximum when the
    template names none); passages are shortened by rank_llm's rule until prompt + answer fit.
    """

    name = "listwise"
    required = (Capability.GENERATE,)
    default_template = "rankgpt"

    def __init__(self, model: str | None = None, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str | None = None,
                 depth: int | None = 100, window_size: int = 20, stride: int = 10, passes: int = 1,
                 max_passage_words: int | None = 300, max_new_tokens: int | None = None, keep_history: bool = False,
                 batch_queries: bool = True, progress: bool = True, context_size: int | None = None) -> None:
        super().__init__(model, engine, engine_options, template, depth, window_size, stride, passes,
                         max_passage_words, keep_history, batch_queries, progress, context_size)
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        self.max_new_tokens = max_new_tokens

    def _max_tokens(self, size: int) -> int:
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        if self.prompt.output == "think_answer":
            return 3172
        return self._answer_estimate(size, self.prompt.identifiers)

    def prompt_for(self, req: WindowRequest) -> Prompt:
        """The prompt for one window, as the model gets it (passages shortened to fit the budget)."""
        return self.prompt.build_fitting(self.engine, req.query.text, self._texts(req), self.max_passage_words,
                                         self._max_tokens(len(req.hits)), context_size=self.context_size)

    def _rank_windows(self, requests: list[WindowRequest]) -> list[WindowResult]:
        prompts = [self.prompt_for(r) for r in requests]
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(requests):  # same budget -> same call, so batching never changes an answer
            groups.setdefault(self._max_tokens(len(r.hits)), []).append(i)
        texts: list[Any] = [None] * len(requests)
        for budget, idx in groups.items():
            gens = self.engine.generate([prompts[i] for i in idx], GenerationParams(max_tokens=budget))
            for i, g in zip(idx, gens):
                texts[i] = g
        out = []
        for r, prompt, g in zip(requests, prompts, texts):
            if self.prompt.output == "permutation" and self.prompt.parser == "reference":
                perm, counts = parse_reference_permutation(g.text, len(r.hits), self.prompt.identifiers)
            else:
                perm, counts = parse_permutation(g.text, len(r.hits), self.prompt.identifiers,
                                                 answer_tags=self.prompt.output == "think_answer")
            counts.truncated = int(g.finish_reason == "length" and (counts.missing > 0 or counts.unparseable > 0))
            record = {"prompt": self.engine.render(prompt), "output": g.text, "permutation": perm,
                      "repairs": counts.as_dict()} if self.keep_history else {}
            out.append(WindowResult(perm, counts, record))
        return out

    def config(self) -> dict:
        return {**super().config(), "max_new_tokens": self.max_new_tokens}
