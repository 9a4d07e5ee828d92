"""Pointwise LLM rerankers: yes/no relevance scoring and Rank1 (reason, then answer true/false).

Both score every (query, passage) pair independently, so all pairs of all queries go to the engine together:
one batched call for yes/no, one batched generation plus one batched scoring pass for Rank1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

from rerankit.engines import Capability, Engine, GenerationParams, get_engine
from rerankit.engines.base import Prompt
from rerankit.engines.choice import pick_engine
from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.model_card import template_from_card
from rerankit.rerankers.templates import PromptTemplate, load_template, template_names
from rerankit.types import Ranking

__all__ = ["LLMPointwiseReranker", "YesNoReranker", "Rank1Reranker"]

log = logging.getLogger(__name__)


class LLMPointwiseReranker(Reranker):
    """Shared plumbing: the engine (a name or an instance), the prompt template, passage truncation.

    `max_passage_tokens` cuts each passage before it goes into the prompt (reported as ``truncated`` in the hit's
    meta and counted in the ranking's meta); None disables cutting, and a prompt longer than the model's context
    is then an InputError.
    """

    name = "llm-pointwise"
    needs: tuple[Capability, ...] = (Capability.LOGPROBS,)

    def __init__(self, model: str | None = None, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "auto",
                 depth: int | None = None, batch_size: int = 32, max_passage_tokens: int | None = 512,
                 progress: bool = True) -> None:
        super().__init__(depth)
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if max_passage_tokens is not None and max_passage_tokens < 1:
            raise InputError(f"max_passage_tokens must be at least 1 (or None), got {max_passage_tokens}")
        opts = dict(engine_options or {})
        if not isinstance(engine, Engine):
            if not model:
                raise ConfigError(f"the {self.name} reranker needs a model (a Hugging Face id or a local path)")
            engine = pick_engine(engine, self.needs, f"the {self.name} reranker")
            if engine in ("transformers", "hf", "huggingface"):
                opts.setdefault("batch_size", min(batch_size, 16))
        self.engine = get_engine(engine, model, needs=self.needs, method=f"the {self.name} reranker", **opts)
        self.template: PromptTemplate = load_template(self._template_name(template))
        self.batch_size = batch_size
        self.max_passage_tokens = max_passage_tokens
        self.progress = progress

    def _template_name(self, template: str) -> str:
        return template

    def _pairs(self, rankings: list[Ranking], **fields: str | None) -> tuple[list[Prompt], list[bool]]:
        """One prompt per (query, hit), query-major; and whether each passage was truncated."""
        prompts: list[Prompt] = []
        cut: list[bool] = []
        for r in rankings:
            for h in r.hits:
                text = h.doc.full_text
                was_cut = False
                if self.max_passage_tokens is not None:
                    text, was_cut = self.engine.truncate(text, self.max_passage_tokens)
                prompts.append(self.template.fill(query=self.query_text(r.query.text), document=text, **fields))
                cut.append(was_cut)
        n_cut = sum(cut)
        if n_cut:
            log.info("%s: %d of %d passages truncated to %d tokens", self.name, n_cut, len(cut),
                     self.max_passage_tokens)
        return prompts, cut

    def query_text(self, query: str) -> str:
        """The query as it goes into the prompt (methods with query prompts override this)."""
        return query

    def _chunks(self, n: int, desc: str) -> Any:
        starts = range(0, n, self.batch_size)
        return tqdm(starts, desc=desc, disable=not self.progress or n <= self.batch_size, leave=False)

    def _assemble(self, rankings: list[Ranking], scores: list[float], metas: list[dict[str, Any]],
                  cut: list[bool]) -> list[Ranking]:
        out, k = [], 0
        for r in rankings:
            n = len(r.hits)
            hit_metas = [{**r.hits[i].meta, **metas[k + i], **({"truncated": True} if cut[k + i] else {})}
                         for i in range(n)]
            out.append(r.sorted_by(scores[k:k + n], hit_metas, reranker=self.name,
                                   truncated=sum(cut[k:k + n])))
            k += n
        return out

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "max_passage_tokens": self.max_passage_tokens}


class YesNoReranker(LLMPointwiseReranker):
    """score = log P(yes) − log P(no) for the first answer token, from one forward pass per pair.

    Template "auto" picks ``qwen3-reranker`` when the model's own files say it is a Qwen3-Reranker checkpoint
    (config.json ``model_type: qwen3`` and a model card that documents that prompt; see
    :mod:`rerankit.rerankers.model_card`), else ``yes-no`` (the RG-YN prompt of Zhuang et al., 2024, rendered with
    the model's chat template); the choice and its reason are logged, and `template=` overrides it.
    """

    name = "yes-no"

    def __init__(self, model: str | None = "Qwen/Qwen3-Reranker-0.6B", engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "auto",
                 depth: int | None = None, batch_size: int = 32, max_passage_tokens: int | None = 512,
                 instruction: str | None = None, progress: bool = True) -> None:
        super().__init__(model, engine, engine_options, template, depth, batch_size, max_passage_tokens, progress)
        self.instruction = instruction
        self.labels = (self.template.label("positive"), self.template.label("negative"))

    def _template_name(self, template: str) -> str:
        if template != "auto":
            log.info("yes-no reranker: template %r (given)", template)
            return template
        candidates = {}
        for name in template_names():
            t = load_template(name)
            if t.extra.get("card_marker"):
                candidates[name] = (str(t.extra.get("model_type", "")), str(t.extra["card_marker"]))
        found, why = template_from_card(str(self.engine.model), candidates)
        chosen = found or "yes-no"
        log.info("yes-no reranker: template %r for %s (%s; template= overrides)", chosen, self.engine.model, why)
        return chosen

    def score_prompts(self, prompts: list[Prompt]) -> list[tuple[float, float]]:
        """(log P(positive), log P(negative)) for each prompt, batched through the engine."""
        pos, neg = self.labels
        out: list[tuple[float, float]] = []
        for s in self._chunks(len(prompts), "yes/no"):
            for lp in self.engine.next_token_logprobs(prompts[s:s + self.batch_size], [pos, neg]):
                out.append((lp[pos], lp[neg]))
        return out

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        prompts, cut = self._pairs(rankings, instruction=self.instruction)
        lps = self.score_prompts(prompts)
        scores = [p - n for p, n in lps]
        metas = [{"logprob_yes": p, "logprob_no": n} for p, n in lps]
        return self._assemble(rankings, scores, metas, cut)

    def config(self) -> dict:
        return {**super().config(), "instruction": self.instruction}


class Rank1Reranker(LLMPointwiseReranker):
    """Rank1 (Weller et al., 2025): greedy reasoning after ``<think>``, then
    score = P(" true") / (P(" true") + P(" false")) right after the model's own ``</think>``.

    Defaults follow the reference implementation (orionw/rank1 ``rank1.py``): the raw prompt with the whole passage
    (``max_passage_tokens=None``), up to 8,192 reasoning tokens, greedy decoding. When the output has no
    ``</think>`` (the budget ran out, or the model ended first), the reference's forced-answer fallback is taken: the
    reasoning is trimmed to its last full sentence and the answer is read after ``"\n</think>"``. Each hit's meta
    keeps the reasoning (``reasoning``, ``reasoning_tokens``, ``forced`` for the fallback, ``capped`` when the
    budget ran out).
    """

    name = "rank1"
    needs = (Capability.GENERATE, Capability.LOGPROBS)

    def __init__(self, model: str | None = "jhu-clsp/rank1-7b", engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "rank1",
                 depth: int | None = None, batch_size: int = 16, max_passage_tokens: int | None = None,
                 max_reasoning_tokens: int = 8192, query_prompt: str | None = None, progress: bool = True) -> None:
        if max_reasoning_tokens < 1:
            raise InputError(f"max_reasoning_tokens must be at least 1, got {max_reasoning_tokens}")
        super().__init__(model, engine, engine_options, template, depth, batch_size, max_passage_tokens, progress)
        self.max_reasoning_tokens = max_reasoning_tokens
        self.query_prompt = query_prompt
        self._query_prompt = self._resolve_query_prompt(query_prompt)
        self.think_end = str(self.template.extra.get("think_end", "</think>"))
        self.labels = (self.template.label("positive"), self.template.label("negative"))

    def _template_name(self, template: str) -> str:
        return "rank1" if template == "auto" else template

    def _resolve_query_prompt(self, name: str | None) -> str | None:
        """A shipped query prompt by dataset name (as the reference's get_prompt: "BrightRetrieval_<task>", else
        "BrightRetrieval"), or a literal text holding FILL_QUERY_HERE."""
        if name is None or "FILL_QUERY_HERE" in name:
            return name
        table = {str(k): str(v) for k, v in (self.template.extra.get("query_prompts") or {}).items()}
        if name in table:
            return table[name]
        if name.split("_", 1)[0] in table and "_" in name:
            return table[name.split("_", 1)[0]]
        raise ConfigError(f"unknown rank1 query_prompt {name!r}: give a text containing FILL_QUERY_HERE or one of "
                          f"{', '.join(sorted(table))}")

    def query_text(self, query: str) -> str:
        """The reference's query prompt with the query filled in (the bare query without one)."""
        return self._query_prompt.replace("FILL_QUERY_HERE", query) if self._query_prompt else query

    def continuation(self, base: str, generated: str) -> tuple[str, str, bool]:
        """(text whose next token is the answer, the reasoning, whether the forced-answer fallback was taken).

        `base` is the rendered prompt and `generated` the model's output. With a ``</think>`` in the output the
        answer is read right after it; without one the reasoning is trimmed to its last full sentence and
        ``"\n</think>"`` is forced, as the reference's ``_fix_incomplete_responses`` does.
        """
        at = generated.find(self.think_end)
        if at >= 0:
            reasoning = generated[:at]
            return f"{base}{reasoning}{self.think_end}", reasoning, False
        reasoning = _last_sentence(generated)
        return f"{base}\n{reasoning}\n{self.think_end}", reasoning, True

    def reason(self, prompts: list[Prompt]) -> list[tuple[str, str, int, bool, bool]]:
        """For each prompt: (text to score after, reasoning, reasoning tokens, forced, capped).

        Generation runs to EOS or the budget (the reference stops at "</think> true"/"</think> false", the end a
        trained model writes anyway); the output is cut at its first ``</think>``.
        """
        params = GenerationParams(max_tokens=self.max_reasoning_tokens, temperature=0.0)
        out = []
        for s in self._chunks(len(prompts), "rank1 reasoning"):
            batch = prompts[s:s + self.batch_size]
            for p, g in zip(batch, self.engine.generate(batch, params)):
                text, reasoning, forced = self.continuation(self.engine.render(p), g.text)
                out.append((text, reasoning, g.completion_tokens, forced, g.finish_reason == "length"))
        return out

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        prompts, cut = self._pairs(rankings)
        reasoned = self.reason(prompts)
        t, f = self.labels
        scores: list[float] = []
        metas: list[dict[str, Any]] = []
        conts = [r[0] for r in reasoned]
        lps: list[dict[str, float]] = []
        for s in self._chunks(len(conts), "rank1 answers"):
            lps.extend(self.engine.next_token_logprobs(conts[s:s + self.batch_size], [t, f]))
        for (_, reasoning, n, forced, capped), lp in zip(reasoned, lps):
            scores.append(1.0 / (1.0 + math.exp(lp[f] - lp[t])))  # P(true) / (P(true) + P(false))
            metas.append({"reasoning": reasoning, "reasoning_tokens": n, "forced": forced, "capped": capped,
                          "logprob_true": lp[t], "logprob_false": lp[f]})
        n_forced = sum(r[3] for r in reasoned)
        if n_forced:
            log.info("rank1: %d of %d outputs had no %s: answer forced (reference fallback)", n_forced,
                     len(reasoned), self.think_end)
        return self._assemble(rankings, scores, metas, cut)

    def config(self) -> dict:
        return {**super().config(), "max_reasoning_tokens": self.max_reasoning_tokens,
                "query_prompt": self._query_prompt}


def _last_sentence(text: str) -> str:
    """Trim a cut-off reasoning chain to its last full sentence (., ! or ?), as Rank1's reference code does."""
    text = text.rstrip()
    if not text.endswith((".", "!", "?")):
        last = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
        if last != -1:
            text = text[:last + 1]
    return text.strip()
