"""GroupRank (Sun, Long et al., 2025): groupwise LLM reranking, a relevance score for every passage of a group.

The candidates are cut into groups of ``group_size`` (consecutive groups share ``overlap`` passages); each group
goes into one prompt with the query and the model answers one score per passage. GroupRank trains its model
(group-alignment reward) so that scores are calibrated and directly comparable across groups, so by default the
scores of all groups are merged as they are (a passage seen in two overlapping groups gets the mean) and the final
order sorts by score, ties keeping the first-stage order. ``normalize="zscore"``/``"minmax"`` standardises each
group's scores first, an option for models not trained for calibration. Answers are parsed leniently (see
:func:`parse_group_scores`) and every repair is counted in the ranking's meta.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from rerankit.engines import Capability, Engine, GenerationParams, get_engine
from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.templates import PromptTemplate, load_template
from rerankit.types import Ranking

__all__ = ["GroupRankReranker", "parse_group_scores", "make_groups", "DEFAULT_GROUPRANK_MODEL", "NORMALIZE"]

log = logging.getLogger(__name__)

DEFAULT_GROUPRANK_MODEL = "AQ-MedAI/Diver-GroupRank-7B"
NORMALIZE = ("none", "zscore", "minmax")

_THINK_END = re.compile(r"</think>", re.I)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.I | re.S)
_NUM = r"(-?\d+(?:\.\d+)?)"
_PATTERNS = (
    re.compile(r"\[\s*(\d+)\s*\]\s*(?:[:=\-]|->|score\s*[:=]?)?\s*" + _NUM, re.I),
    re.compile(r"(?:passage|document|doc|candidate)\s*#?\s*(\d+)\s*(?:[:=\-]|->)\s*(?:score\s*[:=]?\s*)?" + _NUM,
               re.I),
    re.compile(r"^\s*(\d+)\s*[:.)=\-]\s*" + _NUM + r"\s*(?:/\s*\d+)?\s*$", re.M),
)


def make_groups(n: int, group_size: int, overlap: int = 0) -> list[list[int]]:
    """Index groups covering range(n): windows of `group_size` stepping by group_size − overlap."""
    if group_size < 1:
        raise InputError(f"group_size must be at least 1, got {group_size}")
    if not 0 <= overlap < group_size:
        raise InputError(f"overlap must be in [0, group_size), got {overlap} with group_size {group_size}")
    if n <= group_size:
        return [list(range(n))] if n else []
    step, groups, start = group_size - overlap, [], 0
    while True:
        end = min(start + group_size, n)
        groups.append(list(range(start, end)))
        if end >= n:
            return groups
        start += step


def _answer_part(text: str) -> str:
    parts = _THINK_END.split(text)
    text = parts[-1] if len(parts) > 1 else text
    m = _ANSWER.search(text)
    return m.group(1) if m else text


def _from_json(text: str, n: int) -> dict[int, float] | None:
    for m in re.finditer(r"(\{[^{}]*\}|\[[^\[\]]*\])", text, re.S):
        try:
            data = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(data, dict):
            out = {}
            for k, v in data.items():
                d = re.search(r"\d+", str(k))
                if d and isinstance(v, (int, float)):
                    out[int(d.group())] = float(v)
            if out:
                return out
        elif isinstance(data, list) and len(data) == n and all(isinstance(v, (int, float)) for v in data):
            return {i + 1: float(v) for i, v in enumerate(data)}
    return None


def parse_group_scores(text: str, n: int, scale: float = 10.0) -> tuple[list[float], Counter]:
    """Scores for passages 1..n from a model answer, and a count of each repair made.

    Accepted forms: "[i] score" lines (also "[i]: score", "Passage i: score", "i. score"), a JSON object
    {"i": score} or list of n numbers, optionally after a ``</think>`` or inside ``<answer>``. Repairs:
    ``positional`` (exactly n bare numbers taken in order), ``duplicate`` (later scores for an id ignored),
    ``unknown_id`` (ids outside 1..n ignored), ``out_of_range`` (clipped to [0, scale]), ``missing`` (no score:
    given 0, the bottom of the scale), ``unparsed`` (nothing usable in the answer).
    """
    repairs: Counter = Counter()
    body = _answer_part(text or "")
    found: dict[int, float] | None = _from_json(body, n)
    if found is None:
        found = {}
        for pattern in _PATTERNS:
            for m in pattern.finditer(body):
                i, v = int(m.group(1)), float(m.group(2))
                if i in found:
                    repairs["duplicate"] += 1
                    continue
                found[i] = v
            if found:
                break
    if not found:
        nums = re.findall(_NUM, body)
        if len(nums) == n:
            found = {i + 1: float(v) for i, v in enumerate(nums)}
            repairs["positional"] += 1
    if not found:
        repairs["unparsed"] += 1
    scores = []
    for i in range(1, n + 1):
        if i not in found:
            repairs["missing"] += 1
            scores.append(0.0)
            continue
        v = found[i]
        if not 0 <= v <= scale:
            repairs["out_of_range"] += 1
            v = min(max(v, 0.0), scale)
        scores.append(v)
    repairs["unknown_id"] += sum(1 for i in found if not 1 <= i <= n)
    return scores, +repairs


class GroupRankReranker(Reranker):
    """Groupwise scoring with an instruct LLM through any engine that generates.

    Args:
        model, engine, engine_options: the LLM and where it runs.
        group_size: passages per prompt; overlap: passages shared by consecutive groups.
        normalize: "none" (the paper: calibrated scores merged as they are), "zscore" or "minmax" per group.
        merge: how the scores of a passage seen in several groups combine: "mean" or "max".
        scale: top of the score scale asked for (0..scale).
        max_tokens: generation budget per group (reasoning models such as GroupRank-7B need ~1-2k).
        max_passage_words: passages are cut to this many words (None: whole).
    """

    name = "grouprank"

    def __init__(self, model: str | None = DEFAULT_GROUPRANK_MODEL, engine: str | Engine = "transformers",
                 engine_options: Mapping[str, Any] | None = None, depth: int | None = None, group_size: int = 20,
                 overlap: int = 0, normalize: str = "none", merge: str = "mean", scale: int = 10,
                 max_tokens: int = 1024, max_passage_words: int | None = 300, template: str = "grouprank",
                 progress: bool = True) -> None:
        super().__init__(depth)
        make_groups(0, group_size, overlap)  # validates both
        if normalize not in NORMALIZE:
            raise ConfigError(f"unknown normalize {normalize!r}; choose one of {', '.join(NORMALIZE)}")
        if merge not in ("mean", "max"):
            raise ConfigError(f"merge must be 'mean' or 'max', got {merge!r}")
        if scale < 1:
            raise InputError(f"scale must be at least 1, got {scale}")
        if max_passage_words is not None and max_passage_words < 1:
            raise InputError(f"max_passage_words must be at least 1 (or None), got {max_passage_words}")
        if not isinstance(engine, Engine) and not model:
            raise ConfigError("the grouprank reranker needs a model (a Hugging Face id or a local path)")
        self.engine = get_engine(engine, model, **dict(engine_options or {}))
        self.engine.require(Capability.GENERATE, method="the grouprank reranker")
        self.template: PromptTemplate = load_template(template)
        self.params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        self.group_size, self.overlap = group_size, overlap
        self.normalize, self.merge, self.scale = normalize, merge, scale
        self.max_passage_words = max_passage_words
        self.progress = progress

    def _passage(self, text: str) -> str:
        text = " ".join(text.split())
        if self.max_passage_words is not None:
            text = " ".join(text.split(" ")[:self.max_passage_words])
        return text or "(empty)"

    def build_prompt(self, query: str, passages: list[str]) -> Any:
        fmt = str(self.template.extra.get("document_format", "[{index}] {text}"))
        block = "\n".join(fmt.format(index=i, text=p) for i, p in enumerate(passages, 1))
        return self.template.fill(query=query, documents=block, count=str(len(passages)), scale=str(self.scale))

    def _normalized(self, s: np.ndarray) -> np.ndarray:
        if self.normalize == "zscore":
            sd = s.std()
            return (s - s.mean()) / sd if sd > 0 else s - s.mean()
        if self.normalize == "minmax":
            span = s.max() - s.min()
            return (s - s.min()) / span if span > 0 else np.zeros_like(s)
        return s

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        jobs: list[tuple[int, list[int]]] = []
        prompts = []
        for q, r in enumerate(rankings):
            texts = [self._passage(h.doc.full_text) for h in r.hits]
            for g in make_groups(len(texts), self.group_size, self.overlap):
                jobs.append((q, g))
                prompts.append(self.build_prompt(r.query.text, [texts[i] for i in g]))
        gens = self.engine.generate(prompts, self.params)
        sums = [np.zeros(len(r.hits)) for r in rankings]
        best = [np.full(len(r.hits), -np.inf) for r in rankings]
        seen = [np.zeros(len(r.hits)) for r in rankings]
        repairs: list[Counter] = [Counter() for _ in rankings]
        raw: list[list[str]] = [[] for _ in rankings]
        for (q, g), gen in zip(jobs, gens):
            scores, fixes = parse_group_scores(gen.text, len(g), self.scale)
            repairs[q].update(fixes)
            raw[q].append(gen.text)
            s = self._normalized(np.asarray(scores, dtype=float))
            sums[q][g] += s
            best[q][g] = np.maximum(best[q][g], s)
            seen[q][g] += 1
        out = []
        for q, r in enumerate(rankings):
            final = best[q] if self.merge == "max" else sums[q] / np.maximum(seen[q], 1)
            if repairs[q]:
                log.debug("grouprank: query %s repairs %s", r.query.id, dict(repairs[q]))
            metas = [{**h.meta, "grouprank_score": float(s)} for h, s in zip(r.hits, final)]
            out.append(r.sorted_by([float(x) for x in final], metas, reranker=self.name,
                                   grouprank_groups=len(raw[q]), grouprank_repairs=dict(repairs[q]),
                                   grouprank_outputs=raw[q]))
        total = sum((c for c in repairs), Counter())
        if total:
            log.info("grouprank: answer repairs over %d queries: %s", len(rankings), dict(total))
        return out

    def config(self) -> dict:
        return {**super().config(), "engine": self.engine.config(), "template": self.template.name,
                "group_size": self.group_size, "overlap": self.overlap, "normalize": self.normalize,
                "merge": self.merge, "scale": self.scale, "max_tokens": self.params.max_tokens,
                "max_passage_words": self.max_passage_words}
