"""ERank (Cai et al., 2025): a reasoning LLM thinks about one (query, document) pair, then answers an integer
relevance score 0-10; the ranking score is s x P(s), the integer times the probability of its answer token.

All pairs of all queries are generated in one batched call (the engine batches), then one batched forward pass reads
P(s) right after ``<answer>`` in the model's own output (teacher-forced; exact on every engine with logprobs).

The parse and score rule (last ``<answer>``, an integer 0-10, else 0; P of the integer's first token) is rerankit's
reading of the paper (section 3.2): the model card's scoring lines (examples/ERank_vLLM.py @ c2e0fef) are in no copy
readable here, so no golden checks them (docs/rerankers.md, "ERank", says what was searched).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from rerankit.engines import Capability, Engine, GenerationParams
from rerankit.errors import InputError
from rerankit.rerankers.pointwise import LLMPointwiseReranker
from rerankit.types import Ranking

__all__ = ["ERankReranker", "parse_erank", "DEFAULT_INSTRUCTION"]

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
"""rerankit's default relevance definition (the card's code takes an instruction per task and names no default)."""


def parse_erank(text: str, open_tag: str = "<answer>", close_tag: str = "</answer>", low: int = 0,
                high: int = 10) -> tuple[int | None, int]:
    """(the integer answer, the character offset in `text` where it starts), or (None, -1) when the output has no
    ``<answer>`` holding only an integer in [low, high]. The last ``<answer>`` counts (reasoning may quote the tag)."""
    at = text.rfind(open_tag)
    if at < 0:
        return None, -1
    start = at + len(open_tag)
    end = text.find(close_tag, start)
    body = text[start:] if end < 0 else text[start:end]
    m = re.fullmatch(r"\s*(\d+)\s*", body)
    if not m or (end < 0 and not body.strip()):
        return None, -1
    value = int(m.group(1))
    if not low <= value <= high:
        return None, -1
    return value, start + m.start(1)


class ERankReranker(LLMPointwiseReranker):
    """ERank pointwise reasoning reranker (Alibaba-NLP/ERank-4B, -14B, -32B).

    Defaults follow the model card's reference code (examples/ERank_vLLM.py @ c2e0fef): the prompt through the chat
    template, greedy decoding, up to 4,096 generated tokens, no truncation (its ``truncate_length=None``; when set,
    `max_passage_tokens` cuts the query and the document, as ``truncate_length`` does there). `instruction` is the
    relevance definition the prompt states (instruction-aware); an output without a usable ``<answer>`` scores 0
    and is counted in ``ranking.meta["erank"]["unparsed"]``. Each hit's meta keeps the answer, P(answer) and the
    reasoning.
    """

    name = "erank"
    needs = (Capability.GENERATE, Capability.LOGPROBS)

    def __init__(self, model: str | None = "Alibaba-NLP/ERank-4B", engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "erank",
                 depth: int | None = None, batch_size: int = 16, max_passage_tokens: int | None = None,
                 instruction: str = DEFAULT_INSTRUCTION, max_new_tokens: int = 4096, progress: bool = True) -> None:
        if max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError("erank needs a non-empty instruction (the relevance definition the prompt states)")
        super().__init__(model, engine, engine_options, template, depth, batch_size, max_passage_tokens, progress)
        self.instruction, self.max_new_tokens = instruction, max_new_tokens
        extra = self.template.extra
        self.tags = (str(extra.get("answer_open", "<answer>")), str(extra.get("answer_close", "</answer>")))
        low, high = extra.get("score_range", (0, 10))
        self.range = (int(low), int(high))

    def _template_name(self, template: str) -> str:
        return "erank" if template == "auto" else template

    def query_text(self, query: str) -> str:
        if self.max_passage_tokens is None:
            return query
        return self.engine.truncate(query, self.max_passage_tokens)[0]

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        prompts, cut = self._pairs(rankings, instruction=self.instruction)
        params = GenerationParams(max_tokens=self.max_new_tokens, temperature=0.0)
        gens = []
        for s in self._chunks(len(prompts), "erank reasoning"):
            gens.extend(self.engine.generate(prompts[s:s + self.batch_size], params))
        parsed = [parse_erank(g.text, *self.tags, *self.range) for g in gens]
        todo = [i for i, (v, _) in enumerate(parsed) if v is not None]
        conts = [self.engine.render(prompts[i]) + gens[i].text[:parsed[i][1]] for i in todo]
        probs: dict[int, float] = {}
        for s in self._chunks(len(conts), "erank answers"):
            chunk = todo[s:s + self.batch_size]
            lps = self.engine.next_token_logprobs(conts[s:s + self.batch_size], sorted({str(parsed[i][0])
                                                                                           for i in chunk}))
            for i, lp in zip(chunk, lps):
                probs[i] = math.exp(lp[str(parsed[i][0])])
        scores, metas = [], []
        for i, (g, (value, _)) in enumerate(zip(gens, parsed)):
            p = probs.get(i)
            scores.append(value * p if value is not None and p is not None else 0.0)
            metas.append({"answer": value, "answer_prob": p, "reasoning": g.text,
                          "capped": g.finish_reason == "length"})
        out, k = [], 0
        for r in self._assemble(rankings, scores, metas, cut):
            n = len(r.hits)
            out.append(r.with_hits(r.hits, erank={"unparsed": sum(v is None for v, _ in parsed[k:k + n]),
                                                  "instruction": self.instruction}))
            k += n
        n_bad = len(parsed) - len(todo)
        if n_bad:
            log.info("erank: %d of %d outputs had no usable <answer> integer: scored 0", n_bad, len(parsed))
        return out

    def config(self) -> dict:
        return {**super().config(), "instruction": self.instruction, "max_new_tokens": self.max_new_tokens}
