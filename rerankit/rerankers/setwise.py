"""Setwise reranking with reasoning (Rank-R1): the model picks the most relevant passage of a small set.

Each comparison shows the query and a set of passages labelled [1], [2], ...; the model reasons inside
<think> ... </think> and names the best one in <answer>[k]</answer>. Heap sort or bubble sort over those
comparisons (Zhuang et al., SIGIR 2024 setwise ranking) orders the top `k`; the rest keep their first-stage order.
Each query's sort is a generator of comparisons, and all queries' pending comparisons go to the engine as one
batch per wave. The reasoning behind each winner is kept in its hit's meta (``hit.meta["reasoning"]``).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rerankit.engines.base import Capability, Engine, GenerationParams, Prompt
from rerankit.errors import ConfigError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.heap_select import heap_top_k, top_k_then_rest
from rerankit.rerankers.permutation import RepairCounts, extract_answer, normalize_digits, total_repairs
from rerankit.rerankers.templates import load_template
from rerankit.rerankers.waves import run_waves
from rerankit.types import Hit, Query, Ranking

__all__ = ["SetwiseReranker", "heapsort", "bubblesort", "parse_choice", "parse_choice_reference", "shown_order",
           "SORTS"]

log = logging.getLogger(__name__)

Sort = Generator[list[int], int, list[int]]
_THINK = re.compile(r"<think>(.*?)(?:</think>|<answer>|$)", re.DOTALL | re.IGNORECASE)


def heapsort(n: int, num_child: int, k: int) -> Sort:
    """Setwise heap sort over positions 0..n-1: yields sets (root first), receives the winner's index in the set.

    Returns the final order: the `k` best (best first), then the others in their original order.
    """
    arr = list(range(n))

    def heapify(size: int, i: int) -> Sort:
        while num_child * i + 1 < size:
            inds = [i, *range(num_child * i + 1, min(num_child * (i + 1) + 1, size))]
            best = yield [arr[j] for j in inds]
            largest = inds[best] if 0 <= best < len(inds) else i
            if largest == i:
                return
            arr[i], arr[largest] = arr[largest], arr[i]
            i = largest

    return (yield from heap_top_k(arr, k, n // num_child, heapify))


def bubblesort(n: int, num_child: int, k: int) -> Sort:
    """Setwise bubble sort: sets of ``num_child + 1`` slide from the bottom up, the winner moving to the set's top.

    Pass i carries the best remaining passage to position i, so `k` passes order the top `k`. The llm-rankers code
    also skips sets it guesses are settled (its ``last_start``); that shortcut can lose a top-k passage even with a
    perfect judge, so it is left out here.
    """
    ranking = list(range(n))
    for i in range(min(k, n)):
        end = n
        while True:
            start = max(end - (num_child + 1), i)
            window = ranking[start:end]
            best = (yield window) if len(window) > 1 else 0
            best = best if 0 <= best < len(window) else 0
            if best:
                ranking[start], ranking[start + best] = ranking[start + best], ranking[start]
            if start == i:
                break
            end = start + 1
    return top_k_then_rest(ranking, n, k)


SORTS = {"heapsort": heapsort, "bubblesort": bubblesort}


def parse_choice(text: str, size: int, pattern: str | None = None) -> tuple[int, RepairCounts]:
    """The chosen set position (0-based) in a Rank-R1 answer, and the repairs needed; position 0 if none.

    Exact format (`pattern` matching and a "[k]" answer in range) counts as clean; an answer found otherwise
    (no tags, no brackets) as loose; no usable label keeps the set's first passage, as Rank-R1's code does.
    """
    counts = RepairCounts(outputs=1)
    if pattern:
        m = re.search(pattern, text.lower(), re.DOTALL)
        got = m.group(1).strip() if m else ""
        hit = re.fullmatch(r"\[(\d+)\]", got)
        if hit and 1 <= int(hit.group(1)) <= size:
            counts.clean = 1
            return int(hit.group(1)) - 1, counts
    answer, tagged = extract_answer(text)
    answer = normalize_digits(answer)
    bracketed = re.findall(r"\[\s*(\d+)\s*\]", answer)
    labels = bracketed or re.findall(r"\d+", answer)
    if not labels:
        counts.unparseable = 1
        return 0, counts
    counts.loose = int(not (tagged and bracketed))
    choice = int(labels[0]) - 1
    if not 0 <= choice < size:
        counts.out_of_range = 1
        return 0, counts
    return choice, counts


def parse_choice_reference(text: str, size: int, pattern: str) -> tuple[int | None, RepairCounts]:
    """The chosen set position (0-based) read as Rank-R1's run_setwise.py reads it, or None.

    The answer is `pattern`'s group in the lower-cased output, stripped, and must be exactly one of "[1]" ..
    "[size]"; anything else is None, and the comparison keeps its first passage (the heap root), as there.
    """
    counts = RepairCounts(outputs=1)
    m = re.search(pattern, text.lower(), re.DOTALL)
    got = m.group(1).strip() if m else None
    labels = [f"[{i + 1}]" for i in range(size)]
    if got in labels:
        counts.clean = 1
        return labels.index(got), counts
    if got is not None and re.fullmatch(r"\[\d+\]", got):
        counts.out_of_range = 1
    else:
        counts.unparseable = 1
    return None, counts


def shown_order(rng: random.Random | None, n: int) -> list[int]:
    """The order a comparison's `n` passages are shown in: Rank-R1's ``random.sample(id_passage, n)``, or as given."""
    return rng.sample(range(n), n) if rng is not None else list(range(n))


@dataclass(frozen=True)
class _Compare:
    qi: int
    query: Query
    texts: tuple[str, ...]


class SetwiseReranker(Reranker):
    """Rank-R1 setwise reranking: `num_child` + 1 passages per comparison, heap or bubble sort of the top `k`.

    Defaults follow Rank-R1's TREC DL runs (ielab/llm-rankers Rank-R1/run_setwise.py @ a5ee1a97, the v0.1
    checkpoints' code, and its README: num_child 19, k 10, heapsort, queries cut to 32 and passages to 512 tokens,
    up to 2048 generated tokens, greedy). As there, each set is shown in a random order (``random.sample`` from a
    generator seeded 929; here one generator per query, so batching never changes a prompt, and the first query
    gets exactly the reference's orders) and an answer that is not exactly one of "[1]" .. "[n]" inside the answer
    tags keeps the set's first passage (``parse="reference"``). ``shuffle=False`` shows sets in heap order;
    ``parse="lenient"`` also reads answers without tags or brackets. `max_query_tokens` is 1024 for BRIGHT in
    Rank-R1's runs.
    """

    name = "setwise"

    def __init__(self, model: str | None = None, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "rank-r1",
                 depth: int | None = 100, method: str = "heapsort", num_child: int = 19, k: int = 10,
                 max_passage_tokens: int | None = 512, max_query_tokens: int | None = 32,
                 max_new_tokens: int = 2048, keep_history: bool = False, batch_queries: bool = True,
                 progress: bool = True, shuffle: bool = True, seed: int = 929, parse: str = "reference") -> None:
        super().__init__(depth)
        if method not in SORTS:
            raise ConfigError(f"setwise method must be one of {sorted(SORTS)}, got {method!r}")
        if parse not in ("reference", "lenient"):
            raise ConfigError(f"setwise parse must be 'reference' or 'lenient', got {parse!r}")
        if num_child < 1 or k < 1 or max_new_tokens < 1:
            raise ConfigError(f"num_child, k and max_new_tokens must be at least 1, got {num_child}, {k}, "
                              f"{max_new_tokens}")
        self.template = load_template(template)
        if self.template.format != "chat" or "passage" not in self.template.extra:
            raise ConfigError(f"setwise template {self.template.name!r} must be a chat template with a 'passage' "
                              "format (see prompts/rank_r1.yaml)")
        from rerankit.engines import get_engine

        self.engine = get_engine(engine, model, needs=(Capability.GENERATE,), method="the setwise reranker",
                                 **dict(engine_options or {}))
        self.method, self.num_child, self.k = method, num_child, k
        self.max_passage_tokens, self.max_query_tokens = max_passage_tokens, max_query_tokens
        self.max_new_tokens = max_new_tokens
        self.shuffle, self.seed, self.parse = shuffle, seed, parse
        self.keep_history, self.batch_queries, self.progress = keep_history, batch_queries, progress

    def _cut(self, text: str, limit: int | None) -> str:
        return self.engine.truncate(text, limit)[0] if limit else text

    def _program(self, qi: int, ranking: Ranking, why: dict[int, str], history: list[dict], stats: RepairCounts
                 ) -> Generator[_Compare, tuple[int | None, str, dict], list[int]]:
        query = Query(ranking.query.id, self._cut(ranking.query.text, self.max_query_tokens) or ranking.query.text)
        texts = [self._cut(h.doc.full_text, self.max_passage_tokens) for h in ranking.hits]
        sort = SORTS[self.method](len(texts), self.num_child, self.k)
        rng = random.Random(self.seed) if self.shuffle else None
        try:
            idx = next(sort)
            while True:
                shown = shown_order(rng, len(idx))
                choice, reasoning, record = yield _Compare(qi, query, tuple(texts[idx[j]] for j in shown))
                best = shown[choice] if choice is not None else 0  # no usable answer: the set's first (root)
                why[idx[best]] = reasoning
                stats.add(record.pop("_repairs"))
                if self.keep_history:
                    history.append({"doc_ids": [ranking.hits[idx[j]].doc.id for j in shown],
                                    "root": ranking.hits[idx[0]].doc.id, "winner": ranking.hits[idx[best]].doc.id,
                                    **record})
                idx = sort.send(best)
        except StopIteration as done:
            return done.value

    def prompt_for(self, query: str, texts: tuple[str, ...] | list[str]) -> Prompt:
        """The prompt of one comparison: the passages labelled [1], [2], ... in the order given."""
        sep = str(self.template.extra.get("passage_separator", "\n"))
        fmt = str(self.template.extra["passage"])
        return self.template.fill(query=query, docs=sep.join(fmt.format(id=i + 1, text=t) for i, t in enumerate(texts)))

    def read_choice(self, text: str, size: int) -> tuple[int | None, RepairCounts]:
        """The chosen position in the shown set (None: keep the set's first passage), with `parse`'s rule."""
        pattern = self.template.extra.get("answer_pattern")
        if self.parse == "reference" and pattern:
            return parse_choice_reference(text, size, str(pattern))
        choice, counts = parse_choice(text, size, pattern)
        return (None if counts.unparseable or counts.out_of_range else choice), counts

    def _compare(self, requests: list[_Compare]) -> list[tuple[int | None, str, dict]]:
        prompts = [self.prompt_for(r.query.text, r.texts) for r in requests]
        gens = self.engine.generate(prompts, GenerationParams(max_tokens=self.max_new_tokens))
        out = []
        for r, p, g in zip(requests, prompts, gens):
            choice, counts = self.read_choice(g.text, len(r.texts))
            counts.truncated = int(g.finish_reason == "length" and not counts.clean)
            m = _THINK.search(g.text)
            reasoning = (m.group(1) if m else extract_answer(g.text)[0] if "<answer>" in g.text else g.text).strip()
            record: dict[str, Any] = {"_repairs": counts}
            if self.keep_history:
                record.update(prompt=self.engine.render(p), output=g.text, choice=choice, repairs=counts.as_dict())
            out.append((choice, reasoning, record))
        return out

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        whys: list[dict[int, str]] = [{} for _ in rankings]
        history: list[list[dict]] = [[] for _ in rankings]
        stats = [RepairCounts() for _ in rankings]
        programs = [self._program(i, r, whys[i], history[i], stats[i]) for i, r in enumerate(rankings)]
        orders = run_waves(programs, self._compare, batched=self.batch_queries, desc="setwise", progress=self.progress)
        out = []
        for r, order, why, st, hist in zip(rankings, orders, whys, stats, history):
            n = len(order)
            hits = [Hit(r.hits[i].doc, float(n - rank), {**r.hits[i].meta, "reasoning": why[i]} if i in why
                        else r.hits[i].meta) for rank, i in enumerate(order)]
            meta: dict[str, Any] = {"template": self.template.name, "method": self.method,
                                    "comparisons": st.outputs, "repairs": st.as_dict()}
            if self.keep_history:
                meta["history"] = hist
            out.append(r.with_hits(hits, **{self.name: meta}))
        total = sum(stats, RepairCounts())  # local to this call: the instance keeps no counters
        log.info("setwise (%s, %s): %d queries, %d comparisons, %d clean, repairs %s", self.template.name,
                 self.method, len(rankings), total.outputs, total.clean,
                 {k: v for k, v in total.as_dict().items() if v and k not in ("outputs", "clean")})
        return out

    def repair_counts(self, rankings: Sequence[Ranking]) -> dict[str, int]:
        """Repairs (``outputs`` = comparisons) summed over `rankings`, what one :meth:`rerank_many` call returned.

        Each query's counts are in ``ranking.meta["setwise"]``; nothing is kept on the instance, so concurrent
        calls on one reranker never mix their counts.
        """
        return total_repairs(rankings, self.name)

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "template_text": repr((self.template.messages, self.template.extra)), "method": self.method,
                "num_child": self.num_child, "k": self.k, "max_passage_tokens": self.max_passage_tokens,
                "max_query_tokens": self.max_query_tokens, "max_new_tokens": self.max_new_tokens,
                "shuffle": self.shuffle, "seed": self.seed, "parse": self.parse,
                "keep_history": self.keep_history}
