"""ReasonRank (Liu et al., 2025): a reasoning listwise reranker, with the prompt and parsing of its reference code.

Reference: 8421BCD/ReasonRank (``rerank/rank_listwise_os_llm.py`` ``create_prompt``, ``utils.py``,
``rerank/rankllm.py`` ``receive_permutation``), prompt mode ``rank_GPT_reasoning``:

- a passage is ``"Title: <title> Content: <text>"`` (or the text alone), stripped, repaired with ftfy's
  ``fix_text``, cut to ``max_passage_tokens`` *tokens* of the model's tokenizer (the reference's table gives 100
  for TREC DL and BEIR and 512 for BRIGHT and R2MED; rerankit defaults to 100: pass 512 on BRIGHT), with "[3]"
  rewritten "(3)"; the whole rendered chat prompt goes through ``fix_text`` again;
- the window ranking is read from ``<think>...</think> <answer>...</answer>`` (case-insensitive); failing that,
  from after the last ``<answer>``; failing that (reasoning cut off inside ``<think>``), from the whole output: every
  run of digits is an identifier, as the reference reads it (:func:`parse_reasonrank`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rerankit.engines.base import Engine, GenerationParams
from rerankit.errors import ConfigError, MissingDependencyError
from rerankit.rerankers.listwise import ListwiseReranker, WindowRequest, WindowResult
from rerankit.rerankers.permutation import RepairCounts
from rerankit.types import Document

__all__ = ["ReasonRankReranker", "parse_reasonrank", "reasonrank_passage", "DEFAULT_REASONRANK_MODEL"]

DEFAULT_REASONRANK_MODEL = "liuwenhan/reasonrank-7B"

_FULL = re.compile(r"<think>.*?</think>\s*<answer>(.*?)</answer>", re.DOTALL)
_BRACKET_NUM = re.compile(r"\[(\d+)\]")


def _fix_text(text: str) -> str:
    try:
        from ftfy import fix_text
    except ImportError as exc:
        raise MissingDependencyError("ftfy", "llm", "ReasonRank's prompt (the reference repairs text with ftfy)") \
            from exc
    return fix_text(text)


def _escape_ids(text: str) -> str:
    return _BRACKET_NUM.sub(r"(\1)", text)


def reasonrank_passage(doc: Document, engine: Engine, max_tokens: int | None) -> str:
    """A passage as the reference writes it into the prompt (title/content, ftfy, token cut, "[3]" -> "(3)")."""
    content = f"Title: {doc.title} Content: {doc.text}" if doc.title else doc.text
    content = _fix_text(content.strip())
    if max_tokens is not None:
        content = engine.truncate(content, max_tokens)[0]
    return _escape_ids(content)


def parse_reasonrank(text: str, size: int) -> tuple[list[int], RepairCounts]:
    """A permutation of ``range(size)`` read from a ReasonRank output as the reference reads it, and its repairs.

    ``loose`` counts outputs without a complete think/answer pair (the digits were taken from after the last
    ``<answer>`` or from the whole text); an output whose digits cannot be read as numbers (e.g. superscripts) or
    has none keeps the window's order (``unparseable``).
    """
    counts = RepairCounts(outputs=1)
    m = _FULL.search(text.lower())
    if m:
        body = m.group(1).strip()
    else:
        body = text.split("<answer>")[-1] if "<answer>" in text else text
        counts.loose = 1
    spaced = "".join(c if c.isdigit() else " " for c in body)
    try:
        ids = [int(x) - 1 for x in spaced.split()]
    except ValueError:
        ids = []
    if not ids:
        counts.unparseable = 1
        counts.loose = 0
        return list(range(size)), counts
    order: list[int] = []
    for i in ids:
        if not 0 <= i < size:
            counts.out_of_range += 1
        elif i in order:
            counts.duplicates += 1
        else:
            order.append(i)
    rest = [i for i in range(size) if i not in order]
    counts.missing = len(rest)
    counts.clean = int(not (counts.loose or counts.duplicates or counts.missing or counts.out_of_range))
    return order + rest, counts


class ReasonRankReranker(ListwiseReranker):
    """ReasonRank's sliding window (20 passages, stride 10, greedy, 3,172 new tokens) with its reference prompt
    and parsing. `max_passage_tokens` cuts passages by the model's tokens (reference: 100 on TREC DL/BEIR, 512 on
    BRIGHT; None: whole)."""

    name = "reasonrank"

    def __init__(self, model: str | None = DEFAULT_REASONRANK_MODEL, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str | None = "reasonrank",
                 depth: int | None = 100, window_size: int = 20, stride: int = 10, passes: int = 1,
                 max_passage_tokens: int | None = 100, max_new_tokens: int | None = None,
                 keep_history: bool = False, batch_queries: bool = True, progress: bool = True) -> None:
        super().__init__(model, engine, engine_options, template, depth, window_size, stride, passes, None,
                         max_new_tokens, keep_history, batch_queries, progress)
        if max_passage_tokens is not None and max_passage_tokens < 1:
            raise ConfigError(f"max_passage_tokens must be at least 1 (or None), got {max_passage_tokens}")
        if self.prompt.output != "think_answer":
            raise ConfigError(f"the reasonrank reranker needs a think/answer template, got {self.prompt.name!r}")
        _fix_text("")  # ftfy is needed: fail before any model work
        self.max_passage_tokens = max_passage_tokens

    def build_prompt(self, query: str, docs: list[Document]) -> str:
        """The exact text the model sees for one window (chat template applied, then ftfy as the reference does)."""
        block = "".join(f"[{i}] {reasonrank_passage(d, self.engine, self.max_passage_tokens)}\n"
                        for i, d in enumerate(docs, 1))
        messages = self.prompt.template.fill(query=_escape_ids(query).strip(), num=str(len(docs)), passages=block)
        return _fix_text(self.engine.render(messages))

    def _rank_windows(self, requests: list[WindowRequest]) -> list[WindowResult]:
        prompts = [self.build_prompt(r.query.text, [h.doc for h in r.hits]) for r in requests]
        budget = self._max_tokens(self.window_size)
        gens = self.engine.generate(prompts, GenerationParams(max_tokens=budget))
        out = []
        for r, prompt, g in zip(requests, prompts, gens):
            perm, counts = parse_reasonrank(g.text, len(r.hits))
            counts.truncated = int(g.finish_reason == "length")
            record = {"prompt": prompt, "output": g.text, "permutation": perm,
                      "repairs": counts.as_dict()} if self.keep_history else {}
            out.append(WindowResult(perm, counts, record))
        return out

    def config(self) -> dict:
        return {**super().config(), "max_passage_tokens": self.max_passage_tokens}
