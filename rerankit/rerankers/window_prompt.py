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
- ``output``: ``permutation`` or ``think_answer`` (reasoning, then the ranking inside ``<answer>`` tags);
- ``escape_query`` (default: ``escape_brackets``) and ``escape_pattern`` (default ``\\[(\\d+)\\]``): whether the
  query is escaped too, and which brackets are rewritten;
- ``title_format``: how a passage with a title is written (rank_llm and RankGPT: ``"Title: {title} Content: {text}"``);
  without it, title and text are joined by a space;
- ``fix_text``: ``prompt`` (ftfy's ``fix_text`` over the whole rendered prompt, as rank_llm and FIRST do) or
  ``passages_and_prompt`` (also each passage before it is cut, as rank_llm >= 0.12 does);
- ``context_size``: the token budget the reference fits its prompt into (rank_llm: 4096); passages are shortened
  by rank_llm's rule until prompt + answer fit (:meth:`WindowPrompt.build_fitting`);
- ``words_for_window``: rank_llm gives each passage ``max_words * words_for_window / window`` words (300 words at a
  window of 20, more in smaller windows);
- ``system_fallback``: when the model's chat template has no system role, the system message is put before the
  first user message, joined by this string (FIRST's code does this with ``"\n "``);
- ``parser``: ``reference`` (every digit run of the answer, as rank_llm and RankGPT read it) or ``brackets``
  (bracketed identifiers first, bare numbers only when there are none).
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
    from rerankit.types import Document

__all__ = ["WindowPrompt", "clean_passage"]

_NUM_BRACKET = re.compile(r"\[(\d+)\]")
_ALPHA_BRACKET = re.compile(r"\[([A-Za-z])\]")


def clean_passage(text: str, max_words: int | None = None, escape: bool = False, identifiers: str = "numeric",
                  pattern: str | None = None) -> str:
    """Whitespace-normalised passage, cut to `max_words` words, with "[3]"-style brackets escaped if asked.

    `pattern` (a regex with one group) names the brackets to escape; by default "[3]", plus "[B]" for alphabetical
    identifiers.
    """
    words = text.split()
    if max_words is not None:
        words = words[:max(max_words, 0)]
    out = " ".join(words)
    if escape:
        if pattern is not None:
            return re.sub(pattern, r"(\1)", out)
        out = _NUM_BRACKET.sub(r"(\1)", out)
        if identifiers == "alpha":
            out = _ALPHA_BRACKET.sub(r"(\1)", out)
    return out


def _fix_text(text: str) -> str:
    from ftfy import fix_text  # a core dependency

    return fix_text(text)


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
    escape_query: bool = True
    escape_pattern: str | None = None
    title_format: str = ""
    fix_text: str = ""
    context_size: int | None = None
    words_for_window: int | None = None
    system_fallback: str | None = None
    parser: str = "reference"

    @classmethod
    def load(cls, template: str | PromptTemplate) -> WindowPrompt:
        """From a shipped template name, a YAML path, or a loaded template."""
        t = load_template(template) if isinstance(template, str) else template
        x = t.extra
        turns = tuple(_messages(x.get("passage_turns", ()), t.name, "passage_turns"))
        after = tuple(_messages(x.get("after_passages", ()), t.name, "after_passages"))
        if (turns or after) and t.format != "chat":
            raise ConfigError(f"template {t.name!r}: passage_turns/after_passages need format: chat")
        escape = bool(x.get("escape_brackets", True))
        ctx, wfw = x.get("context_size"), x.get("words_for_window")
        out = cls(t, str(x.get("identifiers", "numeric")), str(x.get("passage", "[{id}] {text}\n")), turns, after,
                  escape, str(x.get("answer_prefix", "")), str(x.get("output", "permutation")),
                  bool(x.get("escape_query", escape)), x.get("escape_pattern"), str(x.get("title_format", "")),
                  str(x.get("fix_text", "") or ""), int(ctx) if ctx else None, int(wfw) if wfw else None,
                  x.get("system_fallback"), str(x.get("parser", "reference")))
        if out.identifiers not in ("numeric", "alpha"):
            raise ConfigError(f"template {t.name!r}: identifiers must be numeric or alpha, got {out.identifiers!r}")
        if out.output not in ("permutation", "think_answer"):
            raise ConfigError(f"template {t.name!r}: output must be permutation or think_answer, got {out.output!r}")
        if out.fix_text not in ("", "prompt", "passages_and_prompt"):
            raise ConfigError(f"template {t.name!r}: fix_text must be prompt or passages_and_prompt, got "
                              f"{out.fix_text!r}")
        if out.parser not in ("reference", "brackets"):
            raise ConfigError(f"template {t.name!r}: parser must be reference or brackets, got {out.parser!r}")
        return out

    @property
    def name(self) -> str:
        return self.template.name

    def passage_text(self, doc: Document) -> str:
        """A document as the reference writes it into the prompt (``title_format`` when it has a title)."""
        if self.title_format and doc.title:
            return self.title_format.format(title=doc.title, text=doc.text)
        return doc.full_text

    def words(self, max_words: int | None, window: int) -> float | None:
        """Words per passage for a window of `window` passages (rank_llm: ``300 * 20 / window``)."""
        if max_words is None or not self.words_for_window:
            return max_words
        return max_words * (self.words_for_window / window)

    def build(self, query: str, passages: list[str], max_words: float | None = None, answer_prefix: bool = False
              ) -> Prompt:
        """The prompt for `query` and a window of passage texts (in window order)."""
        if not passages:
            raise InputError("a listwise window needs at least one passage")
        esc, pat = self.escape_brackets, self.escape_pattern
        q = clean_passage(query, None, esc and self.escape_query, self.identifiers, pat)
        if self.fix_text == "passages_and_prompt":
            passages = [_fix_text(p.strip()) for p in passages]
        cut = None if max_words is None else int(max_words)
        texts = [clean_passage(p, cut, esc, self.identifiers, pat) for p in passages]
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

    def render(self, engine: Engine, prompt: Prompt, answer_prefix: bool = False) -> Prompt:
        """`prompt` as the reference hands it to the model: with ``fix_text`` or ``system_fallback``, the rendered
        text (ftfy-fixed, the answer prefix appended after); otherwise the prompt as built."""
        if not (self.fix_text or self.system_fallback is not None):
            return prompt
        if isinstance(prompt, str):
            return _fix_text(prompt) if self.fix_text else prompt
        if getattr(engine, "tokenizer", True) is None:
            return prompt  # a chat-only server renders the messages itself
        msgs = list(prompt)
        prefix = ""
        if answer_prefix and msgs and msgs[-1]["role"] == "assistant":
            prefix = msgs.pop()["content"]
        chat_template = getattr(getattr(engine, "tokenizer", None), "chat_template", None)
        if self.system_fallback is not None and msgs and msgs[0]["role"] == "system" and len(msgs) > 1 \
                and isinstance(chat_template, str) and "system" not in chat_template:
            msgs = [{"role": msgs[1]["role"], "content": msgs[0]["content"] + self.system_fallback
                     + msgs[1]["content"]}, *msgs[2:]]
        text = engine.render(msgs)
        return (_fix_text(text) if self.fix_text else text) + prefix

    def budget(self, engine: Engine, context_size: int | None = None) -> int:
        """The token budget prompt + answer must fit: `context_size`, else the template's, capped by the model's."""
        size = context_size or self.context_size
        return min(size, engine.context_length) if size else engine.context_length

    def build_fitting(self, engine: Engine, query: str, passages: list[str], max_words: int | None, reserve: int,
                      answer_prefix: bool = False, context_size: int | None = None) -> Prompt:
        """:meth:`build` + :meth:`render`, passages shortened by rank_llm's rule until prompt + `reserve` fit.

        rank_llm starts from ``words`` words per passage and, while the prompt's token count (``tokenizer.encode``,
        BOS included) exceeds ``budget - reserve``, takes ``max(1, excess // (4 * window))`` words off each passage.
        """
        budget = self.budget(engine, context_size)
        words = self.words(max_words, len(passages))
        if words is None:
            words = max((len(p.split()) for p in passages), default=1)
        while True:  # counted without the answer prefix, as the references count before priming with it
            prompt = self.render(engine, self.build(query, passages, words), False)
            excess = engine.input_length(engine.render(prompt)) - (budget - reserve)
            if excess <= 0 or int(words) <= 1:
                break  # a prompt still too long is refused by the engine with a clear message
            words -= max(1, excess // (len(passages) * 4))
        if not (answer_prefix and self.answer_prefix):
            return prompt
        return self.render(engine, self.build(query, passages, words, answer_prefix), answer_prefix)


def _messages(items: Any, name: str, key: str) -> list[dict[str, str]]:
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"template {name!r}: {key} must be a list of {{role, content}} messages")
    out = []
    for m in items:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConfigError(f"template {name!r}: every {key} entry needs 'role' and 'content', got {m!r:.80}")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out
