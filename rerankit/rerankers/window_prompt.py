"""Listwise prompts: a query and a window of passages rendered with a template from ``prompts/*.yaml``.

A listwise template is an ordinary :class:`~rerankit.rerankers.templates.PromptTemplate` whose fields are
``{query}``, ``{num}`` (passages in the window) and ``{passages}`` (each passage written with the ``passage``
format, e.g. ``"[{id}] {text}\\n"``), plus these optional keys:

- ``identifiers``: ``numeric`` ([1], [2], ...) or ``alpha`` ([A], [B], ...);
- ``passage_turns``: chat messages repeated per passage (RankGPT's multi-turn form) after ``messages``, followed
  by ``after_passages`` messages;
- ``escape_brackets``: rewrite "[3]" inside queries and passages as "(3)" so they cannot pose as identifiers
  (rank_llm does; the original RankGPT does not);
- ``answer_prefix``: text the answer starts with (FIRST reads the identifier logits right after ``"["``);
- ``output``: ``permutation`` or ``think_answer`` (reasoning, then the ranking inside ``<answer>`` tags).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.permutation import identifier
from rerankit.rerankers.templates import PromptTemplate, load_template

if TYPE_CHECKING:
    from rerankit.engines.base import Engine, Prompt

__all__ = ["WindowPrompt", "clean_passage"]

_NUM_BRACKET = re.compile(r"\[(\d+)\]")
_ALPHA_BRACKET = re.compile(r"\[([A-Za-z])\]")


def clean_passage(text: str, max_words: int | None = None, escape: bool = False, identifiers: str = "numeric") -> str:
    """Whitespace-normalised passage, cut to `max_words` words, with "[3]"-style brackets escaped if asked."""
    words = text.split()
    if max_words is not None:
        words = words[:max_words]
    out = " ".join(words)
    if escape:
        out = _NUM_BRACKET.sub(r"(\1)", out)
        if identifiers == "alpha":
            out = _ALPHA_BRACKET.sub(r"(\1)", out)
    return out


@dataclass(frozen=True)
class WindowPrompt:
    """A listwise prompt format (see the module docstring); :meth:`build` gives the prompt for one window."""

    template: PromptTemplate
    identifiers: str = "numeric"
    passage: str = "[{id}] {text}\n"
    passage_turns: tuple[dict[str, str], ...] = ()
    after_passages: tuple[dict[str, str], ...] = ()
    escape_brackets: bool = True
    answer_prefix: str = ""
    output: str = "permutation"

    @classmethod
    def load(cls, template: str | PromptTemplate) -> WindowPrompt:
        """From a shipped template name, a YAML path, or a loaded template."""
        t = load_template(template) if isinstance(template, str) else template
        x = t.extra
        turns = tuple(_messages(x.get("passage_turns", ()), t.name, "passage_turns"))
        after = tuple(_messages(x.get("after_passages", ()), t.name, "after_passages"))
        if (turns or after) and t.format != "chat":
            raise ConfigError(f"template {t.name!r}: passage_turns/after_passages need format: chat")
        out = cls(t, str(x.get("identifiers", "numeric")), str(x.get("passage", "[{id}] {text}\n")), turns, after,
                  bool(x.get("escape_brackets", True)), str(x.get("answer_prefix", "")),
                  str(x.get("output", "permutation")))
        if out.identifiers not in ("numeric", "alpha"):
            raise ConfigError(f"template {t.name!r}: identifiers must be numeric or alpha, got {out.identifiers!r}")
        if out.output not in ("permutation", "think_answer"):
            raise ConfigError(f"template {t.name!r}: output must be permutation or think_answer, got {out.output!r}")
        return out

    @property
    def name(self) -> str:
        return self.template.name

    def build(self, query: str, passages: list[str], max_words: int | None = None, answer_prefix: bool = False
              ) -> Prompt:
        """The prompt for `query` and a window of passage texts (in window order)."""
        if not passages:
            raise InputError("a listwise window needs at least one passage")
        esc = self.escape_brackets
        q = clean_passage(query, None, esc, self.identifiers)
        texts = [clean_passage(p, max_words, esc, self.identifiers) for p in passages]
        ids = [identifier(i, self.identifiers) for i in range(len(texts))]
        body = "".join(self.passage.format(id=i, text=t) for i, t in zip(ids, texts))
        values = {"query": q, "num": str(len(texts)), "passages": body}
        prompt: Any = self.template.fill(**values)
        if self.template.format == "raw":
            return prompt + (self.answer_prefix if answer_prefix else "")
        msgs = list(prompt)
        for i, t in zip(ids, texts):
            msgs.extend({"role": m["role"], "content": m["content"].format(id=i, text=t)} for m in self.passage_turns)
        msgs.extend({"role": m["role"], "content": m["content"].format(**values)} for m in self.after_passages)
        if answer_prefix and self.answer_prefix:
            msgs.append({"role": "assistant", "content": self.answer_prefix})
        return msgs

    def build_fitting(self, engine: Engine, query: str, passages: list[str], max_words: int | None, reserve: int,
                      answer_prefix: bool = False) -> Prompt:
        """:meth:`build`, shortening passages (as rank_llm does) until prompt + `reserve` tokens fit the context."""
        words = max_words or max((len(p.split()) for p in passages), default=1)
        while True:
            prompt = self.build(query, passages, words, answer_prefix)
            n = engine.count_tokens(engine.render(prompt))
            excess = n + reserve - engine.context_length
            if excess <= 0 or words <= 8:
                return prompt  # a prompt still too long is refused by the engine with a clear message
            words = max(8, words - max(1, excess // (len(passages) * 4)))


def _messages(items: Any, name: str, key: str) -> list[dict[str, str]]:
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"template {name!r}: {key} must be a list of {{role, content}} messages")
    out = []
    for m in items:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConfigError(f"template {name!r}: every {key} entry needs 'role' and 'content', got {m!r:.80}")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out
