"""RAG answers with numbered citations: pack the top passages into the model's budget, generate, map [i] to ids.

Passages are taken in rank order and counted in the engine's own tokens, so the rendered prompt plus
`max_new_tokens` always fits the model; a passage that only partly fits is cut (and reported). Citation numbers
that point at no passage in the context are dropped from `Answer.citations` and reported in `Answer.meta`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rerankit.errors import ConfigError, InputError
from rerankit.generators.base import Answer, Generator
from rerankit.generators.citations import parse_citations
from rerankit.types import Document, Ranking

if TYPE_CHECKING:
    from rerankit.engines.base import Engine, Prompt
    from rerankit.rerankers.templates import PromptTemplate

__all__ = ["RAGGenerator", "PackedContext", "load_rag_template", "PROMPTS_DIR"]

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


def load_rag_template(name: str = "rag") -> PromptTemplate:
    """A generator prompt template: a shipped name (``rag``) or a YAML file path; it needs {query} and {documents}."""
    from rerankit.rerankers.templates import load_template

    path = Path(name).expanduser()
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PROMPTS_DIR / f"{name.replace('-', '_')}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml")))
        raise ConfigError(f"unknown generator prompt template {name!r}; shipped: {shipped} (or pass a .yaml path)")
    tpl = load_template(str(path))
    body = tpl.template + "".join(m["content"] for m in tpl.messages)
    for needed in ("{query}", "{documents}"):
        if needed not in body:
            raise ConfigError(f"generator prompt template {path} must contain the field {needed}")
    return tpl


@dataclass(frozen=True)
class PackedContext:
    """The prompt for one query and what went into it: passages (numbered 1..n in this order) and cuts."""

    prompt: Prompt
    passages: tuple[Document, ...]
    truncated: tuple[str, ...]
    prompt_tokens: int
    budget: int


class RAGGenerator(Generator):
    """Answers from the top of a ranking with [1], [2] citations, on any engine with text generation.

    Args:
        model: model id or local path (used when `engine` is a name).
        engine: engine name (transformers, vllm, openai, llamacpp) or an :class:`~rerankit.engines.Engine`.
        engine_options: options for building the engine (device, dtype, batch_size, base_url, ...).
        max_passages: most passages put into the context (fewer when the budget runs out first).
        max_new_tokens: length limit of the answer.
        context_budget: most tokens of the rendered prompt; default (and cap) = context length - max_new_tokens.
        max_passage_tokens: cut each passage to this many tokens first (None: only the budget cuts).
        min_passage_tokens: a passage that would be cut below this is left out instead.
        template: shipped prompt name or a YAML path (see ``rerankit/generators/prompts/rag.yaml``).
        temperature, seed: sampling (temperature 0 = greedy, reproducible).
    """

    name = "rag"

    def __init__(self, model: str | None = "Qwen/Qwen2.5-0.5B-Instruct", engine: str | Engine = "auto",
                 engine_options: Mapping[str, Any] | None = None, max_passages: int = 5,
                 max_new_tokens: int = 256, context_budget: int | None = None,
                 max_passage_tokens: int | None = 400, min_passage_tokens: int = 32, template: str = "rag",
                 temperature: float = 0.0, seed: int | None = None) -> None:
        from rerankit.engines.base import Engine, GenerationParams

        if max_passages < 1:
            raise InputError(f"max_passages must be at least 1, got {max_passages}")
        if context_budget is not None and context_budget < 1:
            raise InputError(f"context_budget must be at least 1 token, got {context_budget}")
        if max_passage_tokens is not None and max_passage_tokens < 1:
            raise InputError(f"max_passage_tokens must be at least 1, got {max_passage_tokens}")
        if min_passage_tokens < 1:
            raise InputError(f"min_passage_tokens must be at least 1, got {min_passage_tokens}")
        if not isinstance(engine, (str, Engine)):
            raise ConfigError(f"engine must be an engine name or an Engine, got {type(engine).__name__}")
        if isinstance(engine, str) and not model:
            raise ConfigError(f"the rag generator on the {engine!r} engine needs a model (a Hugging Face id or path)")
        self.params = GenerationParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed)
        self.model = model
        self._engine_spec = engine
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self.engine_options = dict(engine_options or {})
        self.max_passages = max_passages
        self.max_new_tokens = max_new_tokens
        self.context_budget = context_budget
        self.max_passage_tokens = max_passage_tokens
        self.min_passage_tokens = min_passage_tokens
        self.template_name = template
        self.template = load_rag_template(template)
        self._lock = threading.Lock()

    # ---- engine ----------------------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The engine, loaded on first use (thread-safe)."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from rerankit.engines import get_engine
                    from rerankit.engines.base import Capability

                    eng = get_engine(self._engine_spec, self.model, needs=(Capability.GENERATE,),
                                     method="the rag generator", **self.engine_options)
                    self._engine = eng
        return self._engine

    def load(self) -> RAGGenerator:
        """Load the engine now (servers call this before reporting ready)."""
        _ = self.engine
        return self

    def close(self) -> None:
        if self._engine is not None and isinstance(self._engine_spec, str):
            self._engine.close()  # only an engine we built; a caller's engine is theirs to close
            self._engine = None

    def budget(self) -> int:
        """Most tokens the rendered prompt may take."""
        room = self.engine.context_length - self.max_new_tokens
        if room < 1:
            raise ConfigError(f"max_new_tokens={self.max_new_tokens} leaves no room for a prompt in the context of "
                              f"{self.engine.model} ({self.engine.context_length} tokens)")
        return min(self.context_budget, room) if self.context_budget else room

    # ---- context packing -------------------------------------------------------------------------------------
    def _passage(self, number: int, doc: Document, text: str) -> str:
        extra = self.template.extra
        if doc.title:
            fmt = str(extra.get("document", "Document [{number}](Title: {title}): {text}"))
        else:
            fmt = str(extra.get("document_untitled", "Document [{number}]: {text}"))
        return fmt.format(number=number, title=" ".join(doc.title.split()), text=" ".join(text.split()))

    def _parts(self, chosen: Sequence[tuple[Document, str]]) -> list[str]:
        return [self._passage(i, doc, text) for i, (doc, text) in enumerate(chosen, 1)]

    def _fill(self, query: str, parts: Sequence[str]) -> Prompt:
        sep = str(self.template.extra.get("separator", "\n\n"))
        return self.template.fill(query=query, documents=sep.join(parts))

    def _count(self, prompt: Prompt) -> int:
        return self.engine.count_tokens(self.engine.render(prompt))

    def pack(self, ranking: Ranking) -> PackedContext:
        """The prompt for `ranking`'s query with as many of its top passages as fit the budget."""
        eng = self.engine
        budget = self.budget()
        query = ranking.query.text
        base = self._count(self._fill(query, []))
        if base > budget:
            raise InputError(f"query {ranking.query.id!r} alone takes {base} prompt tokens, more than the context "
                             f"budget of {budget}; shorten the query or raise context_budget")
        sep_cost = eng.count_tokens(str(self.template.extra.get("separator", "\n\n")))
        remaining = budget - base
        chosen: list[tuple[Document, str]] = []
        truncated: list[str] = []
        for hit in ranking.hits[:self.max_passages]:
            number, doc, text, cut = len(chosen) + 1, hit.doc, hit.doc.text, False
            if self.max_passage_tokens:
                text, cut = eng.truncate(text, self.max_passage_tokens)
            sep = sep_cost if chosen else 0
            cost = eng.count_tokens(self._passage(number, doc, text)) + sep
            if cost > remaining:
                room = remaining - eng.count_tokens(self._passage(number, doc, "")) - sep
                if room < self.min_passage_tokens:
                    break
                text, _ = eng.truncate(text, room)
                cut = True
                cost = eng.count_tokens(self._passage(number, doc, text)) + sep
            chosen.append((doc, text))
            if cut:
                truncated.append(doc.id)
            remaining -= cost
            if remaining < self.min_passage_tokens:
                break
        # Pieces' token counts need not add up exactly once joined and rendered: check the real prompt and
        # shorten (or drop) the last passage until it fits.
        prompt = self._fill(query, self._parts(chosen))
        n = self._count(prompt)
        while n > budget and chosen:
            doc, text = chosen[-1]
            keep = eng.count_tokens(text) - (n - budget) - 2
            if keep >= self.min_passage_tokens:
                chosen[-1] = (doc, eng.truncate(text, keep)[0])
                if doc.id not in truncated:
                    truncated.append(doc.id)
            else:
                chosen.pop()
                if doc.id in truncated:
                    truncated.remove(doc.id)
            prompt = self._fill(query, self._parts(chosen))
            n = self._count(prompt)
        parts = self._parts(chosen)
        docs = [d for d, _ in chosen]
        if ranking.hits and not parts:
            raise InputError(f"no passage fits the context budget of {budget} tokens for query {ranking.query.id!r} "
                             f"(the prompt without passages takes {base}); raise context_budget or lower "
                             "min_passage_tokens")
        return PackedContext(prompt, tuple(docs), tuple(truncated), n, budget)

    # ---- generation ------------------------------------------------------------------------------------------
    def generate_many(self, rankings: Sequence[Ranking]) -> list[Answer]:
        """One answer per ranking (one batched engine call); an empty ranking gets an empty answer, no model call."""
        for r in rankings:
            if not isinstance(r, Ranking):
                raise InputError(f"the rag generator takes Ranking objects, got {type(r).__name__}")
        todo = [i for i, r in enumerate(rankings) if r.hits]
        packed = {i: self.pack(rankings[i]) for i in todo}
        out: list[Answer] = [Answer("", meta={"reason": "no passages to answer from", "passages_in_context": 0})
                             for _ in rankings]
        if not todo:
            return out
        gens = self.engine.generate([packed[i].prompt for i in todo], self.params)
        for i, gen in zip(todo, gens):
            out[i] = self._answer(gen.text.strip(), packed[i], gen.finish_reason, gen.completion_tokens)
        return out

    def _answer(self, text: str, ctx: PackedContext, finish_reason: str, completion_tokens: int) -> Answer:
        ids = [d.id for d in ctx.passages]
        parsed = parse_citations(text, len(ids))
        if parsed.dropped:
            log.warning("answer cites %s, which are not among the %d passages in its context; dropped them",
                        ", ".join(f"[{n}]" for n in parsed.dropped), len(ids))
        meta = {
            "citation_numbers": list(parsed.numbers),
            "citation_map": {str(n): ids[n - 1] for n in range(1, len(ids) + 1)},
            "dropped_citations": list(parsed.dropped),
            "n_dropped_citations": parsed.dropped_mentions,
            "citation_markers": parsed.markers,
            "passages_in_context": len(ids),
            "truncated_passages": list(ctx.truncated),
            "prompt_tokens": ctx.prompt_tokens,
            "context_budget": ctx.budget,
            "completion_tokens": completion_tokens,
            "finish_reason": finish_reason,
        }
        return Answer(text, parsed.ids(ids), ctx.passages, meta)

    def config(self) -> dict[str, Any]:
        """What determines the answers (for caches and logs)."""
        eng = self._engine.config() if self._engine is not None else {"engine": str(self._engine_spec),
                                                                        "model": str(self.model)}
        return {"name": self.name, **eng, "max_passages": self.max_passages, "max_new_tokens": self.max_new_tokens,
                "context_budget": self.context_budget, "max_passage_tokens": self.max_passage_tokens,
                "template": self.template_name, "temperature": self.params.temperature, "seed": self.params.seed}
