"""E²Rank (Liu et al., 2025): an embedding model as a listwise reranker through a pseudo-relevance-feedback query.

Each candidate is embedded once. The listwise prompt (task instruction, the top-K candidates as "[i] text", then
"Search Query: <query>") is embedded as one vector, the *pseudo-query*, and candidates are reranked by cosine
similarity to it. The plain query embedding ("Instruct: ...\\nQuery:<query>") gives the query-only score, kept in
every hit's meta (``e2rank_query_score``) next to the listwise one (``e2rank_listwise_score``); ``mode="query"``
ranks by it instead.

Works with any sentence-transformers bi-encoder (the prompt is embedded as plain text; since such encoders read
only a few hundred tokens, each of the K passages is cut to an equal share of the encoder's window so that the
query at the end of the prompt is never cut off) and with decoder embedding models through an engine's ``embed``
(chat-rendered prompt with thinking disabled, last-token pooling, the template's ``document_suffix``
"<|endoftext|>" appended to documents and to the query-only prompt, as in the reference code).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from rerankit.engines import Engine
from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.embedders import Embedder, SentenceTransformerEmbedder, make_embedder
from rerankit.rerankers.templates import PromptTemplate, load_template
from rerankit.types import Ranking

__all__ = ["E2RankReranker", "DEFAULT_E2RANK_MODEL", "MODES"]

log = logging.getLogger(__name__)

DEFAULT_E2RANK_MODEL = "Alibaba-NLP/E2Rank-0.6B"
MODES = ("listwise", "query")


class E2RankReranker(Reranker):
    """Rerank by cosine similarity to the embedded listwise prompt (or to the query alone with mode="query").

    Args:
        model: an embedding model: sentence-transformers (Hugging Face id or folder) or a decoder embedder.
        engine: None (sentence-transformers when the model is one, else transformers), "sentence-transformers",
            or an engine name / instance whose ``embed`` is used.
        top_k: candidates placed in the listwise prompt (paper: 20).
        task: which of the paper's task wordings to use ("web" for MS MARCO/TREC DL, "scifact", "covid", ...).
        query_instruction: for sentence-transformers models, None embeds the bare query (they were not trained
            with instructions); decoder embedders always get the paper's "Instruct: ...\\nQuery:" form.
        max_doc_words: candidates are cut to this many words first (paper: 1,024).
    """

    name = "e2rank"

    def __init__(self, model: str | None = DEFAULT_E2RANK_MODEL, engine: str | Engine | None = None,
                 engine_options: Mapping[str, Any] | None = None, depth: int | None = None, top_k: int = 20,
                 mode: str = "listwise", task: str = "web", query_instruction: bool | None = None,
                 max_doc_words: int = 1024, batch_size: int = 32, template: str = "e2rank",
                 progress: bool = False) -> None:
        super().__init__(depth)
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        if mode not in MODES:
            raise ConfigError(f"unknown e2rank mode {mode!r}; choose one of {', '.join(MODES)}")
        if max_doc_words < 1:
            raise InputError(f"max_doc_words must be at least 1, got {max_doc_words}")
        self.template: PromptTemplate = load_template(template)
        tasks = self.template.extra.get("tasks", {})
        if task not in tasks:
            raise ConfigError(f"unknown e2rank task {task!r}; known tasks: {', '.join(sorted(tasks))}")
        self.embedder: Embedder = make_embedder(model, engine, engine_options, batch_size, progress)
        self.is_st = isinstance(self.embedder, SentenceTransformerEmbedder)
        self.top_k = top_k
        self.mode = mode
        self.task = task
        self.task_fields = {k: str(v) for k, v in tasks[task].items()}
        self.query_instruction = (not self.is_st) if query_instruction is None else bool(query_instruction)
        # sentence-transformers models take plain text; decoder embedders get the reference's literal suffix
        self.suffix = "" if self.is_st else str(self.template.extra.get("document_suffix", self.embedder.eos))
        self.max_doc_words = max_doc_words

    # ---- prompts --------------------------------------------------------------------------------------------
    def _doc_text(self, text: str) -> str:
        return " ".join(text.split()[:self.max_doc_words])

    def query_text(self, query: str) -> str:
        """What is embedded for the query-only score."""
        if not self.query_instruction:
            return query
        fmt = str(self.template.extra.get("query_format", "Instruct: {query_instruction}\nQuery:{query}"))
        return fmt.format(query_instruction=self.task_fields["query_instruction"], query=query) + self.suffix

    def pseudo_query(self, query: str, docs: list[str]) -> str:
        """The listwise prompt over `docs` (best first), fitted to the embedder's window, as embedded."""
        fmt = str(self.template.extra.get("document_format", "[{index}] {text}"))
        fields = {"instruction": self.task_fields["instruction"], "label": self.task_fields["label"]}

        def build(texts: list[str]) -> str:
            block = "\n".join(fmt.format(index=i, text=t) for i, t in enumerate(texts, 1))
            filled = self.template.fill(query=query, documents=block, **fields)
            content = filled if isinstance(filled, str) else filled[-1]["content"]
            return content if self.is_st else self.embedder.render_chat(content)

        text = build(docs)
        budget = self.embedder.max_tokens
        if self.embedder.count_tokens(text) <= budget:
            return text
        overhead = self.embedder.count_tokens(build([""] * len(docs)))
        share = max(1, (budget - overhead) // max(1, len(docs)))
        cut = [self.embedder.truncate(d, share) for d in docs]
        text = build(cut)
        if self.embedder.count_tokens(text) > budget:
            log.warning("e2rank: the listwise prompt (%d passages) exceeds %s's %d tokens even with passages cut to "
                        "%d tokens; lower top_k", len(docs), self.embedder.model, budget, share)
        return text

    # ---- reranking -------------------------------------------------------------------------------------------
    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        eos = self.suffix
        index: dict[tuple[str, str], int] = {}
        doc_texts: list[str] = []
        per_query: list[list[int]] = []
        for r in rankings:
            rows = []
            for h in r.hits:
                key = (h.doc.id, h.doc.full_text)
                if key not in index:
                    index[key] = len(doc_texts)
                    doc_texts.append(self._doc_text(h.doc.full_text) + eos)
                rows.append(index[key])
            per_query.append(rows)
        doc_vecs = self.embedder.encode(doc_texts)  # every distinct document once
        pseudo = [self.pseudo_query(r.query.text, [self._doc_text(h.doc.full_text) for h in r.hits[:self.top_k]])
                  for r in rankings]
        p_vecs = self.embedder.encode(pseudo)
        q_vecs = self.embedder.encode([self.query_text(r.query.text) for r in rankings])
        out = []
        for r, rows, p, q in zip(rankings, per_query, p_vecs, q_vecs):
            d = doc_vecs[rows]
            listwise, plain = d @ p, d @ q
            scores = listwise if self.mode == "listwise" else plain
            metas = [{**h.meta, "e2rank_listwise_score": float(a), "e2rank_query_score": float(b)}
                     for h, a, b in zip(r.hits, listwise, plain)]
            out.append(r.sorted_by([float(s) for s in np.asarray(scores)], metas, reranker=self.name,
                                   e2rank_mode=self.mode))
        return out

    def config(self) -> dict:
        return {**super().config(), "embedder": self.embedder.config(), "top_k": self.top_k, "mode": self.mode,
                "task": self.task, "query_instruction": self.query_instruction,
                "max_doc_words": self.max_doc_words, "template": self.template.name}
