"""FIRST: listwise reranking from one forward pass per window (no generation).

The model is prompted for a ranking of the window's passages, primed with the answer's opening "[", and the
passages are ordered by the logits of the first identifier token at that position (Reddy et al. 2024). It reuses
the sliding-window framework of :mod:`rerankit.rerankers.listwise`, so windows, stride, passes and batched waves
are the same as for generative listwise reranking; only the per-window step differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rerankit.engines.base import Capability, Engine, Prompt
from rerankit.engines.tokens import candidate_token_ids
from rerankit.errors import ConfigError
from rerankit.rerankers.listwise import SlidingWindowReranker, WindowRequest, WindowResult
from rerankit.rerankers.permutation import RepairCounts, identifier

__all__ = ["FirstReranker"]


class FirstReranker(SlidingWindowReranker):
    """Single-token listwise reranking (FIRST): rank each window by next-token log-probabilities of its labels.

    Needs the engine's LOGPROBS capability. Labels must start with distinct tokens (FIRST uses A, B, C, ...;
    numeric labels work only up to 9 passages per window, as in the FIRST code).
    """

    name = "first"
    required = (Capability.LOGPROBS,)
    default_template = "first"

    def __init__(self, model: str | None = None, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str | None = None,
                 depth: int | None = 100, window_size: int = 20, stride: int = 10, passes: int = 1,
                 max_passage_words: int | None = 300, keep_history: bool = False, batch_queries: bool = True,
                 progress: bool = True, context_size: int | None = None) -> None:
        super().__init__(model, engine, engine_options, template, depth, window_size, stride, passes,
                         max_passage_words, keep_history, batch_queries, progress, context_size)
        if not self.prompt.answer_prefix:
            raise ConfigError(f"FIRST reads identifier logits right after the answer's opening bracket; template "
                              f"{self.prompt.name!r} has no answer_prefix (e.g. answer_prefix: \"[\")")
        labels = [identifier(i, self.prompt.identifiers) for i in range(window_size)]
        first = candidate_token_ids(self.engine.tokenize, labels)  # the tokens the engine will score
        clash = [lab for lab, f in zip(labels, first) if first.count(f) > 1]
        if clash:
            raise ConfigError(f"FIRST needs labels whose first tokens differ, but with window_size {window_size} the "
                              f"labels {clash} share a first token in this tokenizer; use alphabetical identifiers "
                              "(the 'first' template) or a window of at most 9 numeric labels")

    def prompt_for(self, req: WindowRequest) -> Prompt:
        """The prompt for one window, primed with the answer prefix, passages shortened to fit the budget."""
        # FIRST's create_prompt reserves room for a numeric "[1] > ... > [window_size]" answer, though it reads one
        # token (num_output_tokens(window) lands in its use_alpha argument, so the configured window size is used)
        return self.prompt.build_fitting(self.engine, req.query.text, self._texts(req), self.max_passage_words,
                                         self._answer_estimate(self.window_size, "numeric"), answer_prefix=True,
                                         context_size=self.context_size)

    def _rank_windows(self, requests: list[WindowRequest]) -> list[WindowResult]:
        prompts = [self.prompt_for(r) for r in requests]
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(requests):  # the label set depends on the window's size
            groups.setdefault(len(r.hits), []).append(i)
        scores: list[dict[str, float]] = [{} for _ in requests]
        for size, idx in groups.items():
            labels = [identifier(k, self.prompt.identifiers) for k in range(size)]
            for i, lp in zip(idx, self.engine.next_token_logprobs([prompts[i] for i in idx], labels)):
                scores[i] = lp
        out = []
        for r, prompt, lp in zip(requests, prompts, scores):
            labels = [identifier(k, self.prompt.identifiers) for k in range(len(r.hits))]
            perm = sorted(range(len(labels)), key=lambda k: -lp[labels[k]])  # stable: ties keep window order
            record = {"prompt": self.engine.render(prompt), "logprobs": dict(lp), "permutation": perm} \
                if self.keep_history else {}
            out.append(WindowResult(perm, RepairCounts(outputs=1, clean=1), record))
        return out
