"""Pairwise ranking prompting (PRP; Qin et al., NAACL Findings 2024): an LLM says which of two passages is more
relevant, asked in both orders; allpair scoring, heap sort, bubble sort or sliding passes order the top `k`.

Each query's sort (:mod:`rerankit.rerankers.pairwise_sorts`) is a generator of comparisons; all queries' pending
comparisons go to the engine as one batch per wave (:func:`rerankit.rerankers.waves.run_waves`), each comparison as
two prompts (passages A, B and B, A). The prompt, answer prefix and comparison rule are ielab/llm-rankers'
``PairwiseLlmRanker`` (llmrankers/pairwise.py @ b36517bf) for causal LLMs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rerankit.engines.base import Capability, Engine, GenerationParams
from rerankit.errors import ConfigError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.pairwise_sorts import PAIR_SORTS, PairSort
from rerankit.rerankers.templates import load_template
from rerankit.rerankers.waves import run_waves
from rerankit.types import Hit, Ranking

__all__ = ["PairwiseReranker", "outcome"]

log = logging.getLogger(__name__)


def outcome(first_order: str, second_order: str, first: str = "A", second: str = "B") -> str:
    """The comparison's result from the answers to (A=x, B=y) and (A=y, B=x), read as llm-rankers reads them:
    "first" (x wins) only for first, second; "second" only for second, first; anything else is a "conflict"."""
    if first_order == first and second_order == second:
        return "first"
    if first_order == second and second_order == first:
        return "second"
    return "conflict"


@dataclass(frozen=True)
class _Pair:
    query: str
    a: str
    b: str


class PairwiseReranker(Reranker):
    """PRP over the top `depth` candidates; the `k` best are ordered, the rest keep their first-stage order.

    Defaults follow ielab/llm-rankers (run.py and llmrankers/pairwise.py @ b36517bf): queries and passages cut to 128
    tokens, heap sort of the top 10 (llm-rankers' CLI default is ``allpair``, which needs n(n-1) prompts per query;
    set ``method="allpair"``), ``scoring="generation"``: one greedy token after the rendered chat prompt plus
    " Passage:", read stripped and upper-cased. ``scoring="likelihood"`` compares log P(" A") and log P(" B") at
    that position instead (Qin et al.'s scoring mode; any engine with logprobs). ``method="sliding"`` is
    PRP-Sliding-K (`k` full passes); ``"bubblesort"`` is llm-rankers' variant that skips unchanged bottom pairs.
    """

    name = "prp"

    def __init__(self, model: str | None = None, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "prp",
                 depth: int | None = 100, method: str = "heapsort", k: int = 10, scoring: str = "generation",
                 max_passage_tokens: int | None = 128, max_query_tokens: int | None = 128,
                 batch_queries: bool = True, keep_history: bool = False, progress: bool = True) -> None:
        super().__init__(depth)
        if method not in PAIR_SORTS:
            raise ConfigError(f"prp method must be one of {sorted(PAIR_SORTS)}, got {method!r}")
        if scoring not in ("generation", "likelihood"):
            raise ConfigError(f"prp scoring must be 'generation' or 'likelihood', got {scoring!r}")
        if k < 1:
            raise ConfigError(f"prp k must be at least 1, got {k}")
        for key, val in (("max_passage_tokens", max_passage_tokens), ("max_query_tokens", max_query_tokens)):
            if val is not None and val < 1:
                raise ConfigError(f"prp {key} must be at least 1 (or None), got {val}")
        self.template = load_template(template)
        if self.template.format != "chat" or "answer_prefix" not in self.template.extra:
            raise ConfigError(f"prp template {self.template.name!r} must be a chat template with an 'answer_prefix' "
                              "(see prompts/prp.yaml)")
        from rerankit.engines import get_engine

        need = Capability.GENERATE if scoring == "generation" else Capability.LOGPROBS
        self.engine = get_engine(engine, model, needs=(need,), method="the prp reranker",
                                 **dict(engine_options or {}))
        self.method, self.k, self.scoring = method, k, scoring
        self.max_passage_tokens, self.max_query_tokens = max_passage_tokens, max_query_tokens
        self.batch_queries, self.keep_history, self.progress = batch_queries, keep_history, progress
        labels = self.template.extra.get("labels", {"first": "A", "second": "B"})
        self.labels = (str(labels["first"]), str(labels["second"]))

    def _cut(self, text: str, limit: int | None) -> str:
        return self.engine.truncate(text, limit)[0] if limit else text

    def prompt_for(self, query: str, doc1: str, doc2: str) -> str:
        """The exact text of one order's prompt: the chat-rendered question, then the answer prefix."""
        messages = self.template.fill(query=query, doc1=doc1, doc2=doc2)
        return self.engine.render(messages) + str(self.template.extra["answer_prefix"])

    def _answers(self, prompts: list[str]) -> list[str]:
        if not prompts:
            return []
        if self.scoring == "generation":
            gens = self.engine.generate(prompts, GenerationParams(max_tokens=1))
            return [g.text.strip().upper() for g in gens]
        names = self.template.extra.get("likelihood_labels", {"first": " A", "second": " B"})
        cands = [str(names["first"]), str(names["second"])]
        lps = self.engine.next_token_logprobs(prompts, cands)
        return [self.labels[0] if lp[cands[0]] > lp[cands[1]] else self.labels[1] for lp in lps]

    def _step(self, requests: list[tuple[_Pair, ...]]) -> list[list[tuple[str, tuple[str, str]]]]:
        flat = [p for req in requests for p in req]
        prompts = []
        for p in flat:
            prompts += [self.prompt_for(p.query, p.a, p.b), self.prompt_for(p.query, p.b, p.a)]
        answers = self._answers(prompts)
        results = [(outcome(answers[2 * i], answers[2 * i + 1], *self.labels), (answers[2 * i], answers[2 * i + 1]))
                   for i in range(len(flat))]
        out, pos = [], 0
        for req in requests:
            out.append(results[pos:pos + len(req)])
            pos += len(req)
        return out

    def _program(self, ranking: Ranking, history: list[dict], counts: dict[str, int]) -> PairSort:
        query = self._cut(ranking.query.text, self.max_query_tokens) or ranking.query.text
        texts = [self._cut(h.doc.full_text, self.max_passage_tokens) for h in ranking.hits]
        sort = PAIR_SORTS[self.method](len(texts), self.k)
        try:
            pairs = next(sort)
            while True:
                got = yield tuple(_Pair(query, texts[a], texts[b]) for a, b in pairs)
                outs = [o for o, _ in got]
                for (a, b), (o, answers) in zip(pairs, got):
                    counts[o] += 1
                    if self.keep_history:
                        history.append({"a": ranking.hits[a].doc.id, "b": ranking.hits[b].doc.id,
                                        "answers": list(answers), "outcome": o})
                pairs = sort.send(outs)
        except StopIteration as done:
            return done.value

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        histories: list[list[dict]] = [[] for _ in rankings]
        counts = [{"first": 0, "second": 0, "conflict": 0} for _ in rankings]
        programs = [self._program(r, histories[i], counts[i]) for i, r in enumerate(rankings)]
        orders = run_waves(programs, self._step, batched=self.batch_queries, desc="prp", progress=self.progress)
        out = []
        for r, order, hist, c in zip(rankings, orders, histories, counts):
            n = len(order)
            hits = [Hit(r.hits[i].doc, float(n - rank), r.hits[i].meta) for rank, i in enumerate(order)]
            meta: dict[str, Any] = {"method": self.method, "scoring": self.scoring,
                                    "comparisons": sum(c.values()), "conflicts": c["conflict"]}
            if self.keep_history:
                meta["history"] = hist
            out.append(r.with_hits(hits, **{self.name: meta}))
        total = sum(sum(c.values()) for c in counts)
        log.info("prp (%s, %s): %d queries, %d comparisons (%d prompts), %d conflicts", self.method, self.scoring,
                 len(rankings), total, 2 * total, sum(c["conflict"] for c in counts))
        return out

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "template_text": repr((self.template.messages, self.template.extra)), "method": self.method,
                "k": self.k, "scoring": self.scoring, "max_passage_tokens": self.max_passage_tokens,
                "max_query_tokens": self.max_query_tokens}
