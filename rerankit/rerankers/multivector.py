"""Multivector (late-interaction, ColBERT-style) reranking: MaxSim of query and document token vectors.

As in *Multivector Reranking in the Era of Strong First-Stage Retrievers* (Martinico et al., 2026), a first stage
(BM25, learned sparse) gathers candidates and a ColBERT model rescores them by MaxSim. Document token vectors
are computed once and stored by content (document id + text + the encoder's model files and settings,
:mod:`rerankit.rerankers.token_cache`), so a repeated query over the same candidates costs only its query encoding.
Every hit's MaxSim is its score; ``meta["doc_tokens"]`` says how many document vectors it used.

Pruning: ``depth`` caps the candidates rescored (the paper's kappa; the rest keep their first-stage order beneath);
``prune_alpha`` and ``early_exit_beta`` are the paper's two early candidate-pruning techniques
(:mod:`rerankit.rerankers.candidate_pruning`), off by default (exact MaxSim of every candidate);
``skiplist_words`` drops punctuation vectors from documents (ColBERT's and PyLate's default for ColBERT
checkpoints); ``document_length`` caps document tokens.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rerankit.errors import InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.candidate_pruning import alpha_keep, early_exit
from rerankit.rerankers.maxsim import maxsim_many
from rerankit.rerankers.token_cache import TokenVectorCache, document_key
from rerankit.rerankers.token_encoder import TokenEncoder
from rerankit.types import Ranking

__all__ = ["MultiVectorReranker", "DEFAULT_MULTIVECTOR_MODEL"]

log = logging.getLogger(__name__)

DEFAULT_MULTIVECTOR_MODEL = "colbert-ir/colbertv2.0"


class MultiVectorReranker(Reranker):
    """Rescore candidates by ColBERT MaxSim.

    Args:
        model: a ColBERT checkpoint (PyLate or Stanford layout) or any encoder (its raw token vectors).
        cache: store document vectors on disk (default True) under `cache_dir` (default
            ``$RERANKIT_CACHE/token-vectors``); False encodes every document on every call.
        memory_mb: in-memory copy of recently used document vectors.
        query_prefix, document_prefix, query_length, document_length, do_query_expansion,
        attend_to_expansion_tokens, skiplist_words: override the checkpoint's ColBERT settings (PyLate's names).
        prune_alpha: candidate pruning: MaxSim only the candidates whose first-stage score is at least
            ``(1 - prune_alpha) x`` the k-th candidate's (k = `prune_k`). None (default): off.
        early_exit_beta: early exit: after the first `prune_k`, stop at `early_exit_beta` consecutive candidates
            that do not enter the MaxSim top `prune_k`. None (default): off.
        prune_k: the number of final results the two pruning rules protect (the paper's k, 10).
    Candidates left unscored by pruning keep their first-stage order beneath the scored ones
    (``hit.meta["pruned"]``); ``ranking.meta["multivector"]`` counts the candidates scored.
    """

    name = "multivector"

    def __init__(self, model: str = DEFAULT_MULTIVECTOR_MODEL, depth: int | None = None, batch_size: int = 32,
                 device: str = "auto", cache: bool = True, cache_dir: str | Path | None = None, memory_mb: int = 256,
                 progress: bool = False, query_prefix: str | None = None, document_prefix: str | None = None,
                 query_length: int | None = None, document_length: int | None = None,
                 do_query_expansion: bool | None = None, attend_to_expansion_tokens: bool | None = None,
                 skiplist_words: list[str] | None = None, prune_alpha: float | None = None,
                 early_exit_beta: int | None = None, prune_k: int = 10) -> None:
        super().__init__(depth)
        if prune_alpha is not None and not (isinstance(prune_alpha, (int, float)) and 0.0 <= prune_alpha <= 1.0):
            raise InputError(f"prune_alpha must be a number in [0, 1] (the paper used 0.015-0.05), got {prune_alpha!r}")
        if early_exit_beta is not None and not (isinstance(early_exit_beta, int) and early_exit_beta >= 1):
            raise InputError(f"early_exit_beta must be an integer >= 1 (the paper used 2-4), got {early_exit_beta!r}")
        if not isinstance(prune_k, int) or prune_k < 1:
            raise InputError(f"prune_k must be an integer >= 1, got {prune_k!r}")
        self.prune_alpha, self.early_exit_beta, self.prune_k = prune_alpha, early_exit_beta, prune_k
        self.batch_size = batch_size
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if memory_mb < 0:
            raise InputError(f"memory_mb must be >= 0, got {memory_mb}")
        for label, value in (("query_length", query_length), ("document_length", document_length)):
            if value is not None and value < 2:
                raise InputError(f"{label} must be at least 2 tokens, got {value}")
        self.model = model
        self.progress = progress
        self.encoder = TokenEncoder(model, device=device, batch_size=batch_size, query_prefix=query_prefix,
                                    document_prefix=document_prefix, query_length=query_length,
                                    document_length=document_length, do_query_expansion=do_query_expansion,
                                    attend_to_expansion_tokens=attend_to_expansion_tokens,
                                    skiplist_words=skiplist_words)
        self.store: TokenVectorCache | None = None
        if cache:
            from rerankit.cache import default_cache_dir

            root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "token-vectors"
            self.store = TokenVectorCache(root, self.encoder.config(), self.encoder.dim, memory_mb << 20)

    def document_vectors(self, docs: list[tuple[str, str]]) -> tuple[list[Any], int]:
        """Token vectors of (id, text) documents, from the store where present; and how many were encoded now."""
        keys = [document_key(i, t) for i, t in docs]
        found = self.store.get_many(keys) if self.store is not None else [None] * len(docs)
        todo = sorted({k: i for i, (k, v) in enumerate(zip(keys, found)) if v is None}.values())
        if todo:
            fresh = self.encoder.encode([docs[i][1] for i in todo], is_query=False)
            for i, vectors in zip(todo, fresh):
                found[i] = vectors
                if self.store is not None:
                    self.store.put(keys[i], vectors)
        by_key = {k: v for k, v in zip(keys, found) if v is not None}
        return [by_key[k] for k in keys], len(todo)

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        queries = self.encoder.encode([r.query.text for r in rankings], is_query=True)
        out = []
        encoded = 0
        for ranking, q in tqdm(list(zip(rankings, queries)), desc="multivector", leave=False,
                               disable=not self.progress):
            if self.prune_alpha is None and self.early_exit_beta is None:
                docs, n = self.document_vectors([(h.doc.id, h.doc.full_text) for h in ranking.hits])
                encoded += n
                scores = maxsim_many(q, docs)
                metas = [{**h.meta, "doc_tokens": len(d)} for h, d in zip(ranking.hits, docs)]
                out.append(ranking.sorted_by(scores, metas, reranker=self.name))
            else:
                pruned, n = self._rerank_pruned(q, ranking)
                encoded += n
                out.append(pruned)
        log.info("multivector: %d rankings, %d documents encoded now (the rest from the store)", len(rankings),
                 encoded)
        return out

    def _rerank_pruned(self, q: Any, ranking: Ranking) -> tuple[Ranking, int]:
        """MaxSim of the candidates the pruning rules reach; the others beneath, in first-stage order."""
        hits = ranking.hits
        m = len(hits) if self.prune_alpha is None else alpha_keep([h.score for h in hits], self.prune_k,
                                                                  self.prune_alpha, ranking.query.id)
        vectors: dict[int, Any] = {}
        encoded = 0

        def score(i: int) -> float:
            nonlocal encoded
            if i not in vectors:  # fetch (or encode) one batch at a time, so an early exit skips the rest
                block = range(i, min(i + self.batch_size, m))
                docs, n = self.document_vectors([(hits[j].doc.id, hits[j].doc.full_text) for j in block])
                vectors.update(zip(block, docs))
                encoded += n
            return maxsim_many(q, [vectors[i]])[0]

        if self.early_exit_beta is None:
            scored = {i: score(i) for i in range(m)}
        else:
            scored = early_exit(m, self.prune_k, self.early_exit_beta, score)
        floor = min(scored.values(), default=0.0)
        rest = [i for i in range(len(hits)) if i not in scored]
        scores = [scored.get(i, 0.0) for i in range(len(hits))]
        metas = [{**h.meta, "doc_tokens": len(vectors[i])} if i in scored else {**h.meta, "pruned": True}
                 for i, h in enumerate(hits)]
        for r, i in enumerate(rest):
            scores[i] = floor - 1.0 - r / len(rest)
        info = {"candidates": len(hits), "scored": len(scored), "after_alpha": m}
        return ranking.sorted_by(scores, metas, reranker=self.name, multivector=info), encoded

    def config(self) -> dict:
        cfg = {**super().config(), "model": self.model, "encoder": self.encoder.config()}
        if self.prune_alpha is not None or self.early_exit_beta is not None:
            cfg["pruning"] = {"alpha": self.prune_alpha, "beta": self.early_exit_beta, "k": self.prune_k}
        return cfg
