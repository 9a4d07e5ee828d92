"""ICR, in-context reranking (Chen et al., ICLR 2025): rank passages by the attention the query pays to them.

All candidates and the query share one prompt; one forward pass reads the attention from the query tokens to every
passage token (mean over query tokens, summed over all layers and heads), and a second pass with the content-free
query "N/A" measures the model's intrinsic bias towards each token. The default scoring, the paper's
``masked_NA_calibration``, subtracts the two per token, drops tokens whose calibrated score is below
mean − 2·std of the passage, and sums the rest. Two forward passes per query, whatever the number of passages.

Long lists: when the whole prompt does not fit ``max_prompt_tokens`` (default: the model's context), or when
``window_size`` is set, ICR falls back to the reference code's sliding window: windows of ``window_size`` passages
(default 20) moved from the end of the list to the front by ``window_stride`` (default half a window), each window
sorted by its ICR scores, so the best passages bubble to the top; that costs two passes per window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rerankit.engines import Capability, Engine, get_engine
from rerankit.engines.choice import pick_engine
from rerankit.errors import ConfigError, FormatError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.templates import PromptTemplate, load_template
from rerankit.types import Hit, Ranking

__all__ = ["ICRReranker", "ICRPrompt", "SCORINGS", "DEFAULT_ICR_MODEL"]

log = logging.getLogger(__name__)

DEFAULT_ICR_MODEL = "meta-llama/Llama-3.1-8B-Instruct"  # the paper's main model
SCORINGS = ("masked_na_calibration", "na_calibration", "query_last")
_TRANSFORMERS = ("transformers", "hf", "huggingface")


@dataclass(frozen=True)
class ICRPrompt:
    """A rendered ICR prompt: the text, each passage's character span, and where the query rows start."""

    text: str
    doc_spans: list[tuple[int, int]]
    query_start: int


class ICRReranker(Reranker):
    """In-context reranking from attention weights (needs the transformers engine).

    Args:
        model: an instruct causal LM (Hugging Face id or local path); ignored when `engine` is an Engine.
        engine: "transformers" or a TransformersEngine instance (the only engine that exposes attention).
        engine_options: passed to the engine (device, dtype, ...).
        task: "ie" (find relevant information: BEIR-style retrieval) or "qa" (answer a question), choosing the
            closing instruction as in the paper.
        scoring: "masked_na_calibration" (ICR, default), "na_calibration" (calibrated, no token masking) or
            "query_last" (no calibration: one pass per window).
        reverse_doc_order: put the first-stage top passage last, next to the query (the paper's BEIR setting).
        max_passage_words: cut passages to this many words (the paper follows RankGPT: 300); None keeps them whole.
        window_size, window_stride: force sliding windows (see the module docstring); None = one window when
            the prompt fits.
        max_prompt_tokens: the prompt budget that decides when to fall back to windows (default: context length).
        chat: render the prompt as one user turn of the model's chat template (paper: 'instruct'); False sends
            the raw text (for base models without a template).
    """

    name = "icr"

    def __init__(self, model: str | None = DEFAULT_ICR_MODEL, engine: str | Engine = "transformers",
                 engine_options: Mapping[str, Any] | None = None, depth: int | None = None, task: str = "ie",
                 scoring: str = "masked_na_calibration", reverse_doc_order: bool = True,
                 max_passage_words: int | None = 300, window_size: int | None = None,
                 window_stride: int | None = None, max_prompt_tokens: int | None = None, chat: bool = True,
                 template: str = "icr", progress: bool = True) -> None:
        super().__init__(depth)
        if scoring not in SCORINGS:
            raise ConfigError(f"unknown ICR scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
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
        opts = dict(engine_options or {})
        if isinstance(engine, str):  # "auto" is transformers here; vllm and others are refused before loading
            engine = pick_engine(engine, (Capability.ATTENTION,), "the icr reranker")
        if isinstance(engine, str) and engine.lower() in _TRANSFORMERS:
            opts.setdefault("attentions", True)
        if not isinstance(engine, Engine) and not model:
            raise ConfigError("the icr reranker needs a model (a Hugging Face id or a local path)")
        self.engine = get_engine(engine, model, **opts)
        self.engine.require(Capability.ATTENTION, method="the icr reranker")
        self.task = task
        self.late_instruction = str(lates[task])
        self.calibration_query = str(self.template.extra.get("calibration_query", "N/A"))
        self.scoring = scoring
        self.reverse_doc_order = reverse_doc_order
        self.max_passage_words = max_passage_words
        self.window_size = window_size
        self.window_stride = window_stride
        self.max_prompt_tokens = max_prompt_tokens
        self.chat = chat
        self.progress = progress
        self.forward_passes = 0  # running count of attention forward passes (for inspection)

    # ---- prompt ----------------------------------------------------------------------------------------------
    def _passage(self, hit: Hit) -> str:
        doc = hit.doc
        text = f"{doc.title}\n{doc.text}".strip() if doc.title else doc.text.strip()
        if self.max_passage_words is not None:
            text = " ".join(text.split(" ")[:self.max_passage_words])
        return text or "(empty)"

    def build_prompt(self, query: str, passages: Sequence[str]) -> ICRPrompt:
        """The prompt text for `passages` in prompt order, with each passage's character span in it."""
        fmt = str(self.template.extra.get("document_format", "[{index}] {text}"))
        sep = str(self.template.extra.get("document_separator", "\n\n"))
        parts, local, pos = [], [], 0
        for i, text in enumerate(passages, 1):
            piece = fmt.format(index=i, text=text)
            if parts:
                pos += len(sep)
            local.append((pos, pos + len(piece)))
            parts.append(piece)
            pos += len(piece)
        block = sep.join(parts)
        filled = self.template.fill(query=query.strip(), documents=block, late_instruction=self.late_instruction)
        content = filled if isinstance(filled, str) else filled[-1]["content"]
        rendered = self.engine.render(filled) if self.chat and not isinstance(filled, str) else content
        base = rendered.find(content)
        if base < 0:
            raise FormatError(f"the chat template of {self.engine.model} changed the ICR prompt text; use chat=False")
        start = content.find(block)
        late = content.rfind(self.late_instruction)
        if start < 0 or late < start + len(block):
            raise FormatError(f"ICR template {self.template.name!r} must hold the documents before the late "
                              "instruction")
        spans = [(base + start + a, base + start + b) for a, b in local]
        return ICRPrompt(rendered, spans, base + late)

    # ---- scoring ---------------------------------------------------------------------------------------------
    def _token_scores(self, prompt: ICRPrompt) -> tuple[np.ndarray, list[list[int]]]:
        """One forward pass: per-token attention from the query rows (mean over rows, sum over layers, heads)."""
        n_rows = self.engine.count_tokens(prompt.text[prompt.query_start:]) + 2  # a margin, filtered below
        att = self.engine.forward_attentions(prompt.text, rows=list(range(-n_rows, 0)))
        self.forward_passes += 1
        keep = [r for r, pos in enumerate(att.rows) if att.offsets[pos][0] >= prompt.query_start
                or (att.offsets[pos] == (0, 0) and pos > 0)]
        if not keep:
            raise FormatError("no query tokens found in the ICR prompt (tokenizer offsets missing?)")
        per_token = att.weights[:, :, keep, :].mean(axis=2).sum(axis=(0, 1))
        spans = [att.token_span(a, b) for a, b in prompt.doc_spans]
        return per_token, spans

    def score_passages(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """ICR scores of `passages` (in prompt order) for `query`: 1 or 2 forward passes."""
        prompt = self.build_prompt(query, passages)
        q_tok, q_spans = self._token_scores(prompt)
        if self.scoring == "query_last":
            return np.array([float(q_tok[s].sum()) for s in q_spans])
        cal = self.build_prompt(self.calibration_query, passages)
        c_tok, c_spans = self._token_scores(cal)
        scores = []
        for qs, cs in zip(q_spans, c_spans):
            if len(qs) != len(cs):
                raise FormatError("passage token spans differ between the query and calibration prompts")
            diff = q_tok[qs] - c_tok[cs]
            if self.scoring == "masked_na_calibration" and len(diff) > 1:
                diff = diff * (diff > diff.mean() - 2 * diff.std(ddof=1))
            scores.append(float(diff.sum()))
        return np.array(scores)

    def _window_scores(self, query: str, passages: list[str]) -> np.ndarray:
        """Scores for passages given best-first; the prompt order follows `reverse_doc_order`."""
        order = list(range(len(passages)))[::-1] if self.reverse_doc_order else list(range(len(passages)))
        s = self.score_passages(query, [passages[i] for i in order])
        out = np.empty(len(passages))
        out[order] = s
        return out

    def _fits(self, query: str, passages: list[str]) -> bool:
        budget = self.max_prompt_tokens or self.engine.context_length
        return self.engine.count_tokens(self.build_prompt(query, passages).text) + 1 <= budget

    def _rerank_one(self, ranking: Ranking) -> Ranking:
        query = ranking.query.text
        passages = [self._passage(h) for h in ranking.hits]
        before = self.forward_passes
        if self.window_size is None and self._fits(query, passages):
            scores = self._window_scores(query, passages)
            metas = [{**h.meta, "icr_score": float(s)} for h, s in zip(ranking.hits, scores)]
            return ranking.sorted_by(list(scores), metas, reranker=self.name,
                                     icr_passes=self.forward_passes - before, icr_windows=1)
        size = self.window_size or 20
        stride = self.window_stride or max(1, size // 2)
        if self.window_size is None:
            log.warning("icr: %d passages do not fit the prompt budget of %s; using sliding windows of %d "
                        "(stride %d)", len(passages), self.engine.model, size, stride)
        order = list(range(len(passages)))
        end, windows = len(order), 0
        while True:
            start = max(0, end - size)
            idx = order[start:end]
            s = self._window_scores(query, [passages[i] for i in idx])
            order[start:end] = [idx[j] for j in np.argsort(-s, kind="stable")]
            windows += 1
            if start == 0:
                break
            end -= stride
        return ranking.reordered(order, icr_passes=self.forward_passes - before, icr_windows=windows,
                                 reranker=self.name)

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        bar = tqdm(rankings, desc="icr", disable=not self.progress or len(rankings) < 2, leave=False)
        return [self._rerank_one(r) for r in bar]

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "task": self.task, "scoring": self.scoring, "reverse_doc_order": self.reverse_doc_order,
                "max_passage_words": self.max_passage_words, "window_size": self.window_size,
                "window_stride": self.window_stride, "max_prompt_tokens": self.max_prompt_tokens,
                "chat": self.chat, "calibration_query": self.calibration_query}
