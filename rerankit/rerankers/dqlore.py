"""DQ-LoRe (Xiong et al., ICLR 2024): exemplar selection for in-context learning by dual queries and low-rank reranking.

1. First query, to the LLM: answer the question with chain-of-thought, prompted with the ``initial_k`` exemplars
   nearest to the question alone.
2. Second query, to the retriever: embed question + generated reasoning and take the ``n_candidates`` nearest
   exemplars (each embedded as its question + worked solution).
3. LoRe: stack the query and candidate embeddings, centre them and take their SVD; re-rank the candidates by inner
   product with the query in the reduced space; the top ``k`` are the exemplars. By default (``lore="reference"``)
   this is the reference code's ``PCA_svd`` exactly: it keeps ``v[:k]`` of ``torch.svd`` with k = 128, i.e. the
   first 128 *coordinates* of every right singular vector, and row i of the result stands for point i
   (:func:`reference_lore_scores`); ``lore="pca"`` is the textbook projection of the points onto their top
   ``n_components`` principal directions (:func:`low_rank_scores`).

:class:`DQLoReSelector` selects from an exemplar pool (the shipped arithmetic pool by default) and returns a ready
few-shot prompt; :class:`DQLoReReranker` applies steps 1 and 3 to candidate exemplars already in a ranking (their
``Document.text`` is the exemplar, question + solution), so it fits any pipeline.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.engines import Capability, Engine, GenerationParams, get_engine
from rerankit.errors import ConfigError, FormatError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.embedders import Embedder, make_embedder
from rerankit.rerankers.templates import PromptTemplate, load_template
from rerankit.types import Document, Ranking

__all__ = ["Exemplar", "Selection", "DQLoReSelector", "DQLoReReranker", "load_exemplars", "low_rank_scores",
           "reference_lore_scores", "lore_scores", "exemplar_from_document", "extract_answer", "LORE_MODES",
           "DEFAULT_POOL", "DEFAULT_DQLORE_LLM", "DEFAULT_DQLORE_ENCODER"]

log = logging.getLogger(__name__)

DEFAULT_POOL = "arith_exemplars.jsonl"
DEFAULT_DQLORE_LLM = "Qwen/Qwen2.5-7B-Instruct"
DEFAULT_DQLORE_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
LORE_MODES = ("reference", "pca")


@dataclass(frozen=True)
class Exemplar:
    """One worked example: a question, its step-by-step solution (ending in the answer) and the final answer."""

    id: str
    question: str
    solution: str
    answer: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the retriever embeds for this exemplar: question and worked solution."""
        return f"{self.question}\n{self.solution}"

    def to_document(self) -> Document:
        """This exemplar as a candidate for :class:`DQLoReReranker` (question and solution kept in meta)."""
        return Document(self.id, self.text, meta={**self.meta, "question": self.question, "solution": self.solution,
                                                  "answer": self.answer})


def exemplar_from_document(doc: Document) -> Exemplar:
    """The exemplar a candidate document holds: meta ``question`` and ``solution`` (as
    :meth:`Exemplar.to_document` writes them), else its text read as ``"question\nsolution"``."""
    q, sol = doc.meta.get("question"), doc.meta.get("solution")
    if q is None or sol is None:
        q, sep, sol = doc.text.partition("\n")
        if not sep or not q.strip() or not sol.strip():
            raise InputError(f"candidate {doc.id!r} is not an exemplar: give it meta 'question' and 'solution' (see "
                             "Exemplar.to_document) or text 'question\\nsolution'")
    return Exemplar(doc.id, str(q), str(sol), str(doc.meta.get("answer", "")))


@dataclass(frozen=True)
class Selection:
    """DQ-LoRe's result for one question: chosen exemplars (best first), their scores, the CoT and the prompt."""

    question: str
    exemplars: list[Exemplar]
    scores: list[float]
    reasoning: str
    prompt: str
    candidates: list[str]  # ids of the second-query candidates, in retrieval order


def load_exemplars(path: str | Path | None = None) -> list[Exemplar]:
    """An exemplar pool from JSONL lines {id, question, solution, answer}; the shipped arithmetic pool by default."""
    if path is None:
        text = resources.files("rerankit.rerankers").joinpath("data", DEFAULT_POOL).read_text(encoding="utf-8")
        where = f"rerankit/rerankers/data/{DEFAULT_POOL}"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"exemplar pool {p} does not exist")
        text, where = p.read_text(encoding="utf-8"), str(p)
    pool, seen = [], set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ex = Exemplar(str(row["id"]), str(row["question"]), str(row["solution"]), str(row.get("answer", "")),
                          {k: v for k, v in row.items() if k not in ("id", "question", "solution", "answer")})
        except (ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"{where}:{n}: an exemplar needs JSON with id, question and solution ({exc})") from exc
        if ex.id in seen:
            raise FormatError(f"{where}:{n}: duplicate exemplar id {ex.id!r}")
        seen.add(ex.id)
        pool.append(ex)
    if not pool:
        raise InputError(f"exemplar pool {where} is empty")
    return pool


def low_rank_scores(query: np.ndarray, candidates: np.ndarray, n_components: int) -> np.ndarray:
    """LoRe: inner products of each candidate with the query after projecting the centred [query; candidates]
    onto their top `n_components` principal directions."""
    if candidates.ndim != 2 or len(candidates) == 0:
        raise InputError("low_rank_scores needs a non-empty [n, dim] candidate matrix")
    if n_components < 1:
        raise InputError(f"n_components must be at least 1, got {n_components}")
    x = np.vstack([query[None, :], candidates]).astype(np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    z = x @ vt[:min(n_components, len(vt))].T
    return z[1:] @ z[0]


def reference_lore_scores(query: np.ndarray, candidates: np.ndarray, k: int = 128) -> np.ndarray:
    """LoRe as the reference's ``PCA_svd`` + flat inner-product index compute it.

    X = [query; candidates] is centred by the float32 matrix I - 11'/n, ``u, s, v = torch.svd(X)`` (v: dim x m),
    ``components = v[:k].t()`` (m x k: row i holds the first k coordinates of right singular vector i), and
    candidate j scores ``components[j + 1] . components[0]`` in float32 (faiss ``IndexFlatIP``).
    """
    import torch

    if candidates.ndim != 2 or len(candidates) == 0:
        raise InputError("reference_lore_scores needs a non-empty [n, dim] candidate matrix")
    if k < 1:
        raise InputError(f"n_components must be at least 1, got {k}")
    x = torch.as_tensor(np.vstack([query[None, :], candidates]).astype(np.float32))
    n = x.shape[0]
    ones = torch.ones(n, 1)
    centering = torch.eye(n) - (1 / n) * (ones @ ones.t())  # float32, as the reference builds it
    _, _, v = torch.svd(centering.double() @ x.double())
    comp = v[:k].t().to(torch.float32).numpy()
    return comp[1:] @ comp[0]


def lore_scores(query: np.ndarray, candidates: np.ndarray, n_components: int, mode: str = "reference") -> np.ndarray:
    """LoRe scores of `candidates` for `query`: ``mode`` "reference" (PCA_svd) or "pca" (textbook projection)."""
    if mode == "reference":
        return reference_lore_scores(query, candidates, n_components)
    if mode == "pca":
        return low_rank_scores(query, candidates, n_components)
    raise ConfigError(f"unknown lore mode {mode!r}; choose one of {', '.join(LORE_MODES)}")


_ANSWER = re.compile(r"answer is\s*:?\s*\$?\s*(-?[\d,]*\.?\d+)", re.I)


def extract_answer(text: str) -> str | None:
    """The final number of a CoT answer: after "The answer is", else the last number; None when there is none."""
    m = _ANSWER.search(text or "")
    nums = [m.group(1)] if m else re.findall(r"-?\d[\d,]*\.?\d*", text or "")
    if not nums:
        return None
    v = nums[-1].replace(",", "").rstrip(".")
    try:
        f = float(v)
    except ValueError:
        return None
    return str(int(f)) if f == int(f) else str(f)


class _DQLoReBase:
    """Shared parts: the LLM (first query), the embedder (second query), the prompt format, LoRe settings."""

    def __init__(self, model: str | None, engine: str | Engine | None, engine_options: Mapping[str, Any] | None,
                 encoder: str | None, encoder_engine: str | Engine | None, n_components: int, max_tokens: int,
                 template: str, lore: str = "reference") -> None:
        if n_components < 1:
            raise InputError(f"n_components must be at least 1, got {n_components}")
        if lore not in LORE_MODES:
            raise ConfigError(f"unknown lore mode {lore!r}; choose one of {', '.join(LORE_MODES)}")
        self.lore = lore
        self.engine: Engine | None = None
        if engine is not None:
            if not isinstance(engine, Engine) and not model:
                raise ConfigError("dq-lore needs an LLM (model=...) for its first query")
            self.engine = get_engine(engine, model, needs=(Capability.GENERATE,), method="dq-lore",
                                     **dict(engine_options or {}))
        self.embedder: Embedder = make_embedder(encoder, encoder_engine)
        self.template: PromptTemplate = load_template(template)
        stop = tuple(self.template.extra.get("stop", ()))
        self.params = GenerationParams(max_tokens=max_tokens, temperature=0.0, stop=stop)
        self.n_components = n_components

    def few_shot_prompt(self, question: str, exemplars: Sequence[Exemplar]) -> str:
        """The completion-style few-shot CoT prompt: exemplars (in the template's ``exemplar_format``) in the order
        given, then the question."""
        if "exemplar_format" not in self.template.extra:
            raise ConfigError(f"prompt template {self.template.name!r} needs an 'exemplar_format' for DQ-LoRe")
        fmt = str(self.template.extra["exemplar_format"])
        block = "".join(fmt.format(question=e.question, solution=e.solution) for e in exemplars)
        return self._render(self.template.fill(exemplars=block, question=question.strip()))

    def _render(self, out: Any) -> str:
        if isinstance(out, str):
            return out
        if self.engine is None:
            raise ConfigError(f"the chat template {self.template.name!r} needs an engine to render it")
        return self.engine.render(out)

    def reasoning(self, prompts: list[str]) -> list[str]:
        """First query: the LLM's chain-of-thought for each prompt (greedy)."""
        if self.engine is None:
            raise ConfigError("dq-lore was built without an LLM (engine=None): pass the reasonings yourself")
        return [g.text.strip() for g in self.engine.generate(prompts, self.params)]

    def _engine_config(self) -> dict[str, Any] | None:
        return self.engine.config() if self.engine is not None else None


class DQLoReSelector(_DQLoReBase):
    """Select in-context exemplars from a pool with DQ-LoRe.

    Args:
        model, engine, engine_options: the LLM for the first query (chain-of-thought).
        encoder, encoder_engine: the retriever's embedding model (sentence-transformers by default).
        pool: exemplars (or a JSONL path); the shipped arithmetic pool when None.
        k: exemplars returned; initial_k: exemplars in the first-query prompt (default k).
        n_candidates: second-query candidates re-ranked by LoRe (reference code: 16).
        n_components: components kept (reference: 128 coordinates of each singular vector).
        lore: "reference" (the reference's PCA_svd, default) or "pca" (textbook projection on n_components
            principal directions).
        low_rank: False skips LoRe (plain second-query retrieval: the "DQ" ablation).
    """

    def __init__(self, model: str | None = DEFAULT_DQLORE_LLM, engine: str | Engine | None = "auto",
                 engine_options: Mapping[str, Any] | None = None, encoder: str | None = DEFAULT_DQLORE_ENCODER,
                 encoder_engine: str | Engine | None = None, pool: Sequence[Exemplar] | str | Path | None = None,
                 k: int = 4, initial_k: int | None = None, n_candidates: int = 16, n_components: int = 128,
                 lore: str = "reference", low_rank: bool = True, max_tokens: int = 192,
                 template: str = "dq-lore") -> None:
        super().__init__(model, engine, engine_options, encoder, encoder_engine, n_components, max_tokens, template,
                         lore)
        self.pool = list(pool) if isinstance(pool, Sequence) and not isinstance(pool, str) else load_exemplars(pool)
        if not self.pool:
            raise InputError("the exemplar pool is empty")
        if k < 1 or n_candidates < k:
            raise InputError(f"need 1 <= k <= n_candidates, got k={k}, n_candidates={n_candidates}")
        self.k, self.initial_k = k, initial_k or k
        self.n_candidates = min(n_candidates, len(self.pool))
        self.low_rank = low_rank
        self.pool_vecs = self.embedder.encode([e.text for e in self.pool])
        self.question_vecs = self.embedder.encode([e.question for e in self.pool])

    def select(self, question: str, reasoning: str | None = None) -> Selection:
        """Exemplars and few-shot prompt for one question."""
        return self.select_many([question], None if reasoning is None else [reasoning])[0]

    def select_many(self, questions: Sequence[str], reasonings: Sequence[str] | None = None) -> list[Selection]:
        """Exemplars for every question: one batched LLM call (skipped when `reasonings` are given, e.g. CoTs
        from another model), then retrieval and LoRe per question."""
        if isinstance(questions, str):
            raise InputError("select_many takes a list of questions; use select() for one")
        if any(not isinstance(q, str) or not q.strip() for q in questions):
            raise InputError("every question must be non-blank text")
        qs = list(questions)
        if reasonings is not None:
            if isinstance(reasonings, str) or len(reasonings) != len(qs):
                raise InputError(f"give one reasoning per question ({len(qs)}), got {len(reasonings)}")
            cots = [str(c) for c in reasonings]
        else:
            first = self.embedder.encode(qs) @ self.question_vecs.T
            init = [[self.pool[i] for i in np.argsort(-row, kind="stable")[:self.initial_k][::-1]] for row in first]
            cots = self.reasoning([self.few_shot_prompt(q, ex) for q, ex in zip(qs, init)])
        second = self.embedder.encode([f"{q}\n{c}" for q, c in zip(qs, cots)])
        out = []
        for q, cot, vec in zip(qs, cots, second):
            cand = np.argsort(-(self.pool_vecs @ vec), kind="stable")[:self.n_candidates]
            if self.low_rank:
                s = lore_scores(vec, self.pool_vecs[cand], self.n_components, self.lore)
            else:
                s = self.pool_vecs[cand] @ vec
            top = np.argsort(-s, kind="stable")[:self.k]
            chosen = [self.pool[cand[i]] for i in top]
            prompt = self.few_shot_prompt(q, chosen[::-1])  # most similar exemplar next to the question
            out.append(Selection(q, chosen, [float(s[i]) for i in top], cot, prompt,
                                 [self.pool[i].id for i in cand]))
        return out

    def config(self) -> dict:
        return {"name": "dq-lore", "engine": self._engine_config(), "embedder": self.embedder.config(), "k": self.k,
                "initial_k": self.initial_k, "n_candidates": self.n_candidates, "n_components": self.n_components,
                "lore": self.lore, "low_rank": self.low_rank, "max_tokens": self.params.max_tokens,
                "pool": len(self.pool)}


class DQLoReReranker(_DQLoReBase, Reranker):
    """DQ-LoRe as a reranker: candidates are exemplars (see :func:`exemplar_from_document`; build them with
    :meth:`Exemplar.to_document`), the query is the test question. The LLM's CoT (prompted with the top
    ``initial_k`` candidates in the template's ``exemplar_format``) joins the question as the second query;
    candidates are ordered by LoRe scores (all of them, not only the top k)."""

    name = "dq-lore"

    def __init__(self, model: str | None = DEFAULT_DQLORE_LLM, engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, depth: int | None = None,
                 encoder: str | None = DEFAULT_DQLORE_ENCODER, encoder_engine: str | Engine | None = None,
                 initial_k: int = 4, n_components: int = 128, lore: str = "reference", max_tokens: int = 192,
                 template: str = "dq-lore") -> None:
        Reranker.__init__(self, depth)
        _DQLoReBase.__init__(self, model, engine, engine_options, encoder, encoder_engine, n_components,
                             max_tokens, template, lore)
        if initial_k < 0:
            raise InputError(f"initial_k must be >= 0, got {initial_k}")
        self.initial_k = initial_k

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        exemplars = [[exemplar_from_document(h.doc) for h in r.hits] for r in rankings]  # checked before the LLM
        prompts = [self.few_shot_prompt(r.query.text, ex[:self.initial_k][::-1]) for r, ex in zip(rankings, exemplars)]
        cots = self.reasoning(prompts)
        queries = self.embedder.encode([f"{r.query.text}\n{c}" for r, c in zip(rankings, cots)])
        out = []
        for r, cot, vec in zip(rankings, cots, queries):
            docs = self.embedder.encode([h.doc.full_text for h in r.hits])
            s = lore_scores(vec, docs, self.n_components, self.lore) if len(docs) > 1 else docs @ vec
            out.append(r.sorted_by([float(x) for x in s], reranker=self.name, dq_lore_reasoning=cot))
        return out

    def config(self) -> dict:
        return {**Reranker.config(self), "engine": self._engine_config(), "embedder": self.embedder.config(),
                "initial_k": self.initial_k, "n_components": self.n_components, "lore": self.lore,
                "max_tokens": self.params.max_tokens, "template": self.template.name}
