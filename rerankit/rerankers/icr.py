"""ICR, in-context reranking (Chen et al., ICLR 2025): rank passages by the attention the query pays to them.

All candidates and the query share one prompt, the reference's raw string (:mod:`icr_prompt`); one forward pass
reads the attention from the query rows to every passage token (mean over query rows, summed over all layers and
heads), and a second pass with the content-free query "N/A" measures the model's intrinsic bias towards each token.
The default scoring, the paper's ``masked_NA_calibration``, subtracts the two per token, drops tokens whose
calibrated score is not above mean − 2·std of the passage, and sums the rest. The two prompts differ only after the
passages, so the second pass reuses the first one's key/value cache (as the reference does) and computes only the
closing instruction and query. The attention rows are recomputed layer by layer on SDPA (engine
``query_attention``): memory grows linearly with the prompt. ``attention="eager"`` reads full eager attention
matrices instead (small inputs only; the check for the row path).

Long lists: when the whole prompt does not fit ``max_prompt_tokens`` (default: the model's context), or when
``window_size`` is set, ICR falls back to the reference code's sliding window: windows of ``window_size`` passages
(default 20) moved from the end of the list to the front by ``window_stride`` (default half a window), each window
sorted by its ICR scores, so the best passages bubble to the top; that costs two passes per window.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rerankit.engines import Capability, Engine, get_engine
from rerankit.engines.choice import pick_engine
from rerankit.errors import ConfigError, FormatError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.icr_prompt import ICRPrompt, build_icr_prompt, choose_markers
from rerankit.rerankers.templates import PromptTemplate, load_template
from rerankit.types import Hit, Ranking

__all__ = ["ICRReranker", "ICRPrompt", "SCORINGS", "DEFAULT_ICR_MODEL", "calibrated_scores"]

log = logging.getLogger(__name__)

DEFAULT_ICR_MODEL = "meta-llama/Llama-3.1-8B-Instruct"  # the paper's main model
SCORINGS = ("masked_na_calibration", "na_calibration", "query_last")
ATTENTIONS = ("rows", "eager")


def calibrated_scores(query_tokens: Sequence[np.ndarray], calib_tokens: Sequence[np.ndarray],
                      masked: bool = True) -> np.ndarray:
    """Per-passage scores from per-token attention with the query and with the calibration query.

    Masked (the reference's ``masked_NA_calibration``): tokens whose calibrated score ``q - c`` is not above
    ``mean - 2 * std`` (sample std) are dropped, then ``sum(q * mask - c * mask)``; a passage of one token has an
    undefined std and scores 0, as in the reference. Unmasked: ``sum(q - c)``.
    """
    out = np.zeros(len(query_tokens))
    for i, (q, c) in enumerate(zip(query_tokens, calib_tokens)):
        q, c = np.asarray(q, dtype=np.float64), np.asarray(c, dtype=np.float64)
        if q.shape != c.shape:
            raise FormatError("passage token spans differ between the query and calibration prompts")
        if not masked:
            out[i] = float((q - c).sum())
            continue
        diff = q - c
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            threshold = diff.mean() - 2 * diff.std(ddof=1) if len(diff) else np.nan
        keep = diff > threshold
        out[i] = float((q * keep - c * keep).sum())
    return out


class ICRReranker(Reranker):
    """In-context reranking from attention weights (needs the transformers engine).

    Args:
        model: an instruct causal LM (Hugging Face id or local path); ignored when `engine` is an Engine.
        engine: "transformers" or a TransformersEngine instance (the only engine that exposes attention).
        engine_options: passed to the engine (device, dtype, ...).
        task: "ie" (find relevant information: BEIR-style retrieval) or "qa" (answer a question), choosing the
            closing instruction as in the paper.
        scoring: "masked_na_calibration" (ICR, default), "na_calibration" (calibrated, no token masking; not in the
            reference) or "query_last" (no calibration: one pass per window).
        reverse_doc_order: put the first-stage top passage last, next to the query (the paper's BEIR setting).
        max_passage_words: cut each passage's text (not its title) to this many space-separated words before the
            title is prepended, as the reference's --truncate_by_space (300 on BEIR); None keeps them whole.
        window_size, window_stride: force sliding windows (see the module docstring); None = one window when
            the prompt fits.
        max_prompt_tokens: the prompt budget that decides when to fall back to windows (default: context length).
        turn_markers: "auto" (default: the reference's markers for Llama-3 / Mistral tokenizers, a bare ChatML user
            turn for ChatML tokenizers, else the model's chat template around the prompt), a marker set of the
            template ("llama3", "mistral", "chatml"), "chat_template" or "none".
        attention: "rows" (default: query rows recomputed on SDPA, linear memory) or "eager" (full eager attention
            matrices; quadratic memory, for checking).
        reuse_cache: compute the passages once for the query and the calibration prompt (default True).
    """

    name = "icr"

    def __init__(self, model: str | None = DEFAULT_ICR_MODEL, engine: str | Engine = "transformers",
                 engine_options: Mapping[str, Any] | None = None, depth: int | None = None, task: str = "ie",
                 scoring: str = "masked_na_calibration", reverse_doc_order: bool = True,
                 max_passage_words: int | None = 300, window_size: int | None = None,
                 window_stride: int | None = None, max_prompt_tokens: int | None = None,
                 turn_markers: str = "auto", attention: str = "rows", reuse_cache: bool = True,
                 template: str = "icr", progress: bool = True) -> None:
        super().__init__(depth)
        if scoring not in SCORINGS:
            raise ConfigError(f"unknown ICR scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
        if attention not in ATTENTIONS:
            raise ConfigError(f"unknown ICR attention {attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if window_size is not None and window_size < 2:
            raise InputError(f"window_size must be at least 2, got {window_size}")
        if window_stride is not None and window_stride < 1:
            raise InputError(f"window_stride must be at least 1, got {window_stride}")
        if max_passage_words is not None and max_passage_words < 1:
            raise InputError(f"max_passage_words must be at least 1 (or None), got {max_passage_words}")
        self.template: PromptTemplate = load_template(template)
        lates = self.template.extra.get("late_instructions", {})
        if task not in lates:
            raise ConfigError(f"unknown ICR task {task!r}; the template {self.template.name!r} knows "
                              f"{', '.join(sorted(lates))}")
        if isinstance(engine, str):  # "auto" is transformers here; vllm and others are refused before loading
            engine = pick_engine(engine, (Capability.ATTENTION,), "the icr reranker")
        if not isinstance(engine, Engine) and not model:
            raise ConfigError("the icr reranker needs a model (a Hugging Face id or a local path)")
        self.engine = get_engine(engine, model, **dict(engine_options or {}))
        self.engine.require(Capability.ATTENTION, method="the icr reranker")
        self.markers = choose_markers(self.template, getattr(self.engine, "tokenizer", None), turn_markers)
        self.task = task
        self.late_instruction = str(lates[task])
        self.calibration_query = str(self.template.extra.get("calibration_query", "N/A"))
        self.scoring = scoring
        self.reverse_doc_order = reverse_doc_order
        self.max_passage_words = max_passage_words
        self.window_size = window_size
        self.window_stride = window_stride
        self.max_prompt_tokens = max_prompt_tokens
        self.attention = attention
        self.reuse_cache = reuse_cache
        self.progress = progress

    # ---- prompt ----------------------------------------------------------------------------------------------
    def _passage(self, hit: Hit) -> str:
        """The reference's passage: text cut to `max_passage_words` words, then title, newline and text, stripped."""
        doc = hit.doc
        text = doc.text
        if self.max_passage_words is not None:
            text = " ".join(text.split(" ")[:self.max_passage_words])
        return f"{doc.title}\n{text}".strip() if doc.title else text.strip()

    def build_prompt(self, query: str, passages: Sequence[str]) -> ICRPrompt:
        """The prompt text for `passages` in prompt order, with each passage's character span in it."""
        return build_icr_prompt(self.template, self.markers, query, passages, self.late_instruction)

    # ---- scoring ---------------------------------------------------------------------------------------------
    def _eager_tokens(self, prompt: ICRPrompt) -> tuple[np.ndarray, list[list[int]]]:
        """Per-token attention of the query rows from full eager attention matrices (the check path)."""
        n_rows = self.engine.count_tokens(prompt.text[prompt.query_start:]) + 2  # a margin, filtered below
        att = self.engine.forward_attentions(prompt.text, rows=list(range(-n_rows, 0)))
        keep = [r for r, pos in enumerate(att.rows) if att.offsets[pos][0] >= prompt.query_start
                and att.offsets[pos][1] > att.offsets[pos][0] and pos > 0]
        if not keep:
            raise FormatError("no query tokens found in the ICR prompt (tokenizer offsets missing?)")
        per_token = att.weights[:, :, keep, :].astype(np.float64).mean(axis=2).sum(axis=(0, 1))
        return per_token, [att.token_span(a, b) for a, b in prompt.doc_spans]

    def _token_scores(self, prompts: list[ICRPrompt]) -> tuple[list[tuple[np.ndarray, list[list[int]]]], int]:
        """Per-token query-row attention and passage token spans for each prompt, and the tokens reused."""
        if self.attention == "eager":
            return [self._eager_tokens(p) for p in prompts], 0
        res = self.engine.query_attention([p.text for p in prompts], [p.query_start for p in prompts],
                                          reuse_cache=self.reuse_cache)
        out = [(r.scores, [r.token_span(a, b) for a, b in p.doc_spans]) for r, p in zip(res, prompts)]
        return out, sum(r.reused_tokens for r in res)

    def _score(self, query: str, passages: Sequence[str]) -> tuple[np.ndarray, int, int]:
        """Scores of `passages` (prompt order), forward passes made, tokens reused from the first pass."""
        prompts = [self.build_prompt(query, passages)]
        if self.scoring != "query_last":
            prompts.append(self.build_prompt(self.calibration_query, passages))
        per_prompt, reused = self._token_scores(prompts)
        q_tok, q_spans = per_prompt[0]
        if self.scoring == "query_last":
            return np.array([float(q_tok[s].sum()) for s in q_spans]), 1, reused
        c_tok, c_spans = per_prompt[1]
        scores = calibrated_scores([q_tok[s] for s in q_spans], [c_tok[s] for s in c_spans],
                                   masked=self.scoring == "masked_na_calibration")
        return scores, 2, reused

    def score_passages(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """ICR scores of `passages` (in prompt order) for `query`: 1 or 2 forward passes."""
        return self._score(query, passages)[0]

    def _window_scores(self, query: str, passages: list[str]) -> tuple[np.ndarray, int, int]:
        """Scores for passages given best-first (the prompt order follows `reverse_doc_order`), passes, reuse."""
        order = list(range(len(passages)))[::-1] if self.reverse_doc_order else list(range(len(passages)))
        s, passes, reused = self._score(query, [passages[i] for i in order])
        out = np.empty(len(passages))
        out[order] = s
        return out, passes, reused

    def _fits(self, query: str, passages: list[str]) -> bool:
        budget = self.max_prompt_tokens or self.engine.context_length
        return self.engine.count_tokens(self.build_prompt(query, passages).text) + 1 <= budget

    def _rerank_one(self, ranking: Ranking) -> Ranking:
        query = ranking.query.text
        passages = [self._passage(h) for h in ranking.hits]
        if self.window_size is None and self._fits(query, passages):
            scores, passes, reused = self._window_scores(query, passages)
            metas = [{**h.meta, "icr_score": float(s)} for h, s in zip(ranking.hits, scores)]
            return ranking.sorted_by(list(scores), metas, reranker=self.name, icr_passes=passes, icr_windows=1,
                                     icr_reused_tokens=reused)
        size = self.window_size or 20
        stride = self.window_stride or max(1, size // 2)
        if self.window_size is None:
            log.warning("icr: %d passages do not fit the prompt budget of %s; using sliding windows of %d "
                        "(stride %d)", len(passages), self.engine.model, size, stride)
        order = list(range(len(passages)))
        end, windows, passes, reused = len(order), 0, 0, 0
        while True:
            start = max(0, end - size)
            idx = order[start:end]
            s, p, r = self._window_scores(query, [passages[i] for i in idx])
            order[start:end] = [idx[j] for j in np.argsort(-s, kind="stable")]
            windows, passes, reused = windows + 1, passes + p, reused + r
            if start == 0:
                break
            end -= stride
        return ranking.reordered(order, icr_passes=passes, icr_windows=windows, icr_reused_tokens=reused,
                                 reranker=self.name)

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        bar = tqdm(rankings, desc="icr", disable=not self.progress or len(rankings) < 2, leave=False)
        return [self._rerank_one(r) for r in bar]

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "task": self.task, "scoring": self.scoring, "reverse_doc_order": self.reverse_doc_order,
                "max_passage_words": self.max_passage_words, "window_size": self.window_size,
                "window_stride": self.window_stride, "max_prompt_tokens": self.max_prompt_tokens,
                "turn_markers": self.markers.name, "attention": self.attention, "reuse_cache": self.reuse_cache,
                "calibration_query": self.calibration_query}
