"""GroupRank (Sun, Long et al., 2025): an LLM scores every passage of a group of candidates, 0-10.

Protocol of the reference implementation (AQ-MedAI/Diver ``Reranker/rerank_groupwise.py``), the default here:

1. each query's candidates are shuffled with a seeded generator and cut into groups (``group_size`` passages every
   ``interval`` positions); shuffling and grouping are repeated ``repeats`` times, each shuffle continuing from the
   previous order;
2. every group is one prompt (``prompts/grouprank.yaml``: rubric system turn, "[i]. text" passages), sampled at
   temperature 0.3, top-p 0.8, up to 8,000 tokens; the answer's JSON object ``{"[i]": score}`` is read as the
   reference reads it (:func:`parse_group_answer`), a group whose answer cannot be read scores 0 for all its
   passages;
3. a passage's rerank score is the mean of its group scores divided by 10; the final score is
   ``0.6 * rerank + 0.4 * retriever score`` (the reference's tie-breaking interpolation, on the first-stage
   scores as given).

Every repair the reading needed is counted in ``ranking.meta["grouprank_repairs"]``; passages no group scored
(the reference drops them) are kept at the bottom in first-stage order and counted as ``unscored``.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from rerankit.engines import Capability, Engine, GenerationParams, get_engine
from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.templates import PromptTemplate, load_template
from rerankit.types import Ranking

__all__ = ["GroupRankReranker", "parse_group_answer", "group_scores", "group_plan", "clean_group_passage",
           "DEFAULT_GROUPRANK_MODEL", "RETRIEVER_NORMS"]

log = logging.getLogger(__name__)

DEFAULT_GROUPRANK_MODEL = "AQ-MedAI/Diver-GroupRank-7B"
RETRIEVER_NORMS = ("none", "minmax")

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_FENCED = re.compile(r"(?:```json\s*)([\s\S]+?)(?:\s*```)")
_BRACED = re.compile(r"\{[\s\S]*?\}")
_DOUBLE_BRACKET = re.compile(r"(\[\d+\])\]")


def group_plan(n: int, group_size: int, interval: int, repeats: int, seed: int) -> list[list[int]]:
    """Groups of candidate positions for one query: `repeats` rounds of (shuffle, cut every `interval`).

    The shuffles come from one ``random.Random(seed)`` and apply to the previous round's order, as the
    reference's ``prepare_groups_one_epoch`` does for a single query.
    """
    if group_size < 1 or interval < 1 or repeats < 1:
        raise InputError(f"group_size, interval and repeats must be at least 1, got {group_size}, {interval}, "
                         f"{repeats}")
    rng = random.Random(seed)
    order = list(range(n))
    groups: list[list[int]] = []
    for _ in range(repeats):
        rng.shuffle(order)
        groups.extend(order[i:i + group_size] for i in range(0, n, interval))
    return groups


def clean_group_passage(text: str, max_chars: int | None) -> str:
    """A passage as the reference writes it: runs of newlines become one space, cut to `max_chars` characters."""
    text = re.sub("\n+", " ", text)
    return text if max_chars is None else text[:max_chars]


def parse_group_answer(text: str) -> tuple[dict[str, Any] | None, Counter]:
    """The JSON object of a GroupRank answer, read the way the reference reads it, and the repairs it took.

    Inside ``<answer>...</answer>`` when present (else the whole text: ``no_answer_tags``), the last fenced
    ```json block (else the last ``{...}``: ``no_json_fence``); "[7]]" is mended to "[7]" (``bracket_fixed``), a
    missing closing brace added (``brace_closed``). None when no object can be read (``unparsed``); the
    reranker then scores the whole group 0 (``zeroed_groups``), as the reference does.
    """
    repairs: Counter = Counter()
    body = text or ""
    m = _ANSWER.search(body)
    if m:
        body = m.group(1).strip()
    else:
        repairs["no_answer_tags"] += 1
    fenced = _FENCED.findall(body)
    if fenced:
        raw = fenced[-1].strip()
    else:
        braced = _BRACED.findall(body)
        if not braced:
            repairs["unparsed"] += 1
            return None, +repairs
        raw = braced[-1]
        repairs["no_json_fence"] += 1
    raw = raw.strip()
    fixed = _DOUBLE_BRACKET.sub(r"\1", raw)
    if fixed != raw:
        repairs["bracket_fixed"] += 1
    if fixed.count("{") > fixed.count("}"):
        fixed += "}"
        repairs["brace_closed"] += 1
    fixed = re.sub(r"\s+", " ", fixed).strip()
    try:
        data = dict(json.loads(fixed))
    except (ValueError, TypeError):
        repairs["unparsed"] += 1
        return None, +repairs
    return data, +repairs


def group_scores(answer: Mapping[str, Any] | None, n: int, scale: float = 10.0) -> tuple[list[tuple[int, float]] | None,
                                                                                       Counter]:
    """(position, score / scale) for each entry of a parsed answer over a group of `n`, or None if the group fails.

    Keys are read as the reference reads them (``int(key.strip().strip("[]"))``, 1-based); like the reference, a
    key of 0 or below counts from the end of the group (``wrapped_index``), and any key that is not a number in
    range or any score that is not a number fails the whole group (``bad_entry``). Passages the answer leaves out
    get no score from this group (``missing``).
    """
    repairs: Counter = Counter()
    if answer is None:
        return None, repairs
    out: list[tuple[int, float]] = []
    for key, value in answer.items():
        try:
            pos = int(str(key).strip().strip("[]")) - 1
        except ValueError:
            pos = n  # out of range: fails below
        if not -n <= pos < n or isinstance(value, str) or not isinstance(value, (int, float)):
            repairs["bad_entry"] += 1
            return None, repairs
        if pos < 0:
            repairs["wrapped_index"] += 1
            pos += n
        out.append((pos, float(value) / scale))
    repairs["missing"] += n - len({p for p, _ in out})
    return out, +repairs


class GroupRankReranker(Reranker):
    """Groupwise scoring with an instruct LLM through any engine that generates (reference protocol by default).

    Args:
        model, engine, engine_options: the LLM and where it runs.
        group_size, interval: passages per group, and how far apart groups start (reference run script: 20, 20).
        repeats: rounds of shuffle + grouping (reference run script: 6).
        seed: seed of the shuffles (reference: 666) and of sampling where the engine takes one.
        temperature, top_p, max_tokens: decoding (reference: 0.3, 0.8, 8000).
        max_doc_chars: passages cut to this many characters (reference: 3000; None: whole).
        retriever_weight: final = (1 - w) * rerank + w * retriever score (reference: 0.4; 0 ranks by the rerank
            score alone).
        retriever_norm: "none" (reference: first-stage scores as given) or "minmax" (scaled to [0, 1] per query,
            for raw BM25-like scores that would otherwise outweigh the 0-1 rerank score).
    """

    name = "grouprank"

    def __init__(self, model: str | None = DEFAULT_GROUPRANK_MODEL, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, depth: int | None = None, group_size: int = 20,
                 interval: int = 20, repeats: int = 6, seed: int = 666, temperature: float = 0.3, top_p: float = 0.8,
                 max_tokens: int = 8000, max_doc_chars: int | None = 3000, retriever_weight: float = 0.4,
                 retriever_norm: str = "none", template: str = "grouprank", progress: bool = True) -> None:
        super().__init__(depth)
        group_plan(0, group_size, interval, repeats, seed)  # validates the grouping options
        if interval > group_size:
            log.warning("grouprank: interval %d > group_size %d leaves some passages out of every round",
                        interval, group_size)
        if max_doc_chars is not None and max_doc_chars < 1:
            raise InputError(f"max_doc_chars must be at least 1 (or None), got {max_doc_chars}")
        if not 0.0 <= retriever_weight <= 1.0:
            raise ConfigError(f"retriever_weight must be in [0, 1], got {retriever_weight}")
        if retriever_norm not in RETRIEVER_NORMS:
            raise ConfigError(f"unknown retriever_norm {retriever_norm!r}; choose one of {', '.join(RETRIEVER_NORMS)}")
        if not isinstance(engine, Engine) and not model:
            raise ConfigError("the grouprank reranker needs a model (a Hugging Face id or a local path)")
        self.template: PromptTemplate = load_template(template)
        self.params = GenerationParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
        self.engine = get_engine(engine, model, needs=(Capability.GENERATE,), method="the grouprank reranker",
                                 **dict(engine_options or {}))
        self.group_size, self.interval, self.repeats, self.seed = group_size, interval, repeats, seed
        self.max_doc_chars = max_doc_chars
        self.retriever_weight, self.retriever_norm = retriever_weight, retriever_norm
        self.scale = float(self.template.extra.get("scale", 10))
        self.progress = progress

    def build_prompt(self, query: str, passages: list[str]) -> Any:
        """The prompt for one group (passages already cleaned), before the engine's chat template."""
        fmt = str(self.template.extra.get("document_format", "[{index}]. {text}\n\n"))
        block = "".join(fmt.format(index=i, text=p) for i, p in enumerate(passages, 1))
        return self.template.fill(query=query, documents=block, count=str(len(passages)))

    def plan(self, ranking: Ranking) -> list[list[int]]:
        """The groups (hit positions) this reranker scores for `ranking`."""
        return group_plan(len(ranking.hits), self.group_size, self.interval, self.repeats, self.seed)

    def _retriever(self, ranking: Ranking) -> list[float]:
        s = [h.score for h in ranking.hits]
        if self.retriever_norm == "minmax" and s:
            lo, hi = min(s), max(s)
            return [(x - lo) / (hi - lo) if hi > lo else 0.0 for x in s]
        return s

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        jobs: list[tuple[int, list[int]]] = []
        prompts = []
        for q, r in enumerate(rankings):
            texts = [clean_group_passage(h.doc.full_text, self.max_doc_chars) for h in r.hits]
            for g in self.plan(r):
                jobs.append((q, g))
                prompts.append(self.build_prompt(r.query.text, [texts[i] for i in g]))
        gens = self.engine.generate(prompts, self.params)
        entries: list[list[list[float]]] = [[[] for _ in r.hits] for r in rankings]
        repairs: list[Counter] = [Counter() for _ in rankings]
        raw: list[list[str]] = [[] for _ in rankings]
        for (q, g), gen in zip(jobs, gens):
            answer, fixes = parse_group_answer(gen.text)
            scored, more = group_scores(answer, len(g), self.scale)
            repairs[q].update(fixes + more)
            if gen.finish_reason == "length":
                repairs[q]["truncated"] += 1
            if scored is None:  # the reference scores a group it cannot read 0 for every passage
                repairs[q]["zeroed_groups"] += 1
                scored = [(j, 0.0) for j in range(len(g))]
            for j, s in scored:
                entries[q][g[j]].append(s)
            raw[q].append(gen.text)
        return [self._assemble(r, entries[q], repairs[q], raw[q]) for q, r in enumerate(rankings)]

    def _assemble(self, r: Ranking, entries: list[list[float]], repairs: Counter, raw: list[str]) -> Ranking:
        retr = self._retriever(r)
        w = self.retriever_weight
        scored = [i for i, e in enumerate(entries) if e]
        rerank = {i: sum(entries[i]) / len(entries[i]) for i in scored}
        final = {i: (1 - w) * rerank[i] + w * retr[i] for i in scored}
        unscored = [i for i, e in enumerate(entries) if not e]
        if unscored:
            repairs["unscored"] += len(unscored)
        floor = min(final.values(), default=0.0)
        scores = [final.get(i, 0.0) for i in range(len(r.hits))]
        for k, i in enumerate(unscored):  # below every scored passage, first-stage order
            scores[i] = floor - 1.0 - k / max(len(unscored), 1)
        metas = [{**h.meta, "grouprank_score": rerank.get(i), "grouprank_groups": len(entries[i])}
                 for i, h in enumerate(r.hits)]
        if repairs:
            log.info("grouprank: query %s: %d groups, repairs %s", r.query.id, len(raw), dict(repairs))
        return r.sorted_by(scores, metas, reranker=self.name, grouprank_groups=len(raw),
                           grouprank_repairs=dict(repairs), grouprank_outputs=raw)

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "group_size": self.group_size, "interval": self.interval, "repeats": self.repeats,
                "seed": self.seed, "temperature": self.params.temperature, "top_p": self.params.top_p,
                "max_tokens": self.params.max_tokens, "max_doc_chars": self.max_doc_chars,
                "retriever_weight": self.retriever_weight, "retriever_norm": self.retriever_norm}
