"""ICR's prompt: the reference's raw string (not the chat template), with passage and query positions.

The reference (In-Context-Reranking ``_prepare_input_for_document_retrieval``, 'instruct', query last) writes
``prefix + " Here are some paragraphs:" + (sep + "[i] passage") * n + sep + closing instruction + sep + "Query:" +
" " + query + suffix``, where prefix/suffix are bare user-turn markers and sep is " \\n\\n" (Llama) or "\\n\\n".
The markers come from the template's ``turn_markers``, chosen from the tokenizer (see :func:`choose_markers`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rerankit.errors import ConfigError, FormatError
from rerankit.rerankers.templates import PromptTemplate

__all__ = ["ICRPrompt", "TurnMarkers", "choose_markers", "build_icr_prompt", "MARKER_CHOICES"]

log = logging.getLogger(__name__)

MARKER_CHOICES = ("auto", "chat_template", "none")  # besides the template's named marker sets
_SENTINEL = "\u2063RERANKIT-ICR-CONTENT\u2063"


@dataclass(frozen=True)
class TurnMarkers:
    """Text before the prompt body, after it, and between its parts."""

    name: str
    prefix: str = ""
    suffix: str = ""
    separator: str = "\n\n"


@dataclass(frozen=True)
class ICRPrompt:
    """A rendered ICR prompt: the text, each passage's character span, and where the query rows start."""

    text: str
    doc_spans: list[tuple[int, int]]
    query_start: int


def _named(template: PromptTemplate, name: str) -> TurnMarkers:
    entry = template.extra.get("turn_markers", {}).get(name)
    if entry is None:
        raise ConfigError(f"unknown ICR turn_markers {name!r}; choose one of "
                          f"{', '.join([*template.extra.get('turn_markers', {}), *MARKER_CHOICES])}")
    return TurnMarkers(name, str(entry.get("prefix", "")), str(entry.get("suffix", "")),
                       str(entry.get("separator", "\n\n")))


def _from_chat_template(tokenizer: Any) -> TurnMarkers | None:
    """Prefix/suffix around one user message in the model's own chat template (None without a template)."""
    if getattr(tokenizer, "chat_template", None) is None:
        return None
    text = tokenizer.apply_chat_template([{"role": "user", "content": _SENTINEL}], tokenize=False,
                                         add_generation_prompt=True)
    if text.count(_SENTINEL) != 1:
        return None
    prefix, suffix = text.split(_SENTINEL)
    return TurnMarkers("chat_template", prefix, suffix)


def choose_markers(template: PromptTemplate, tokenizer: Any, choice: str = "auto") -> TurnMarkers:
    """The turn markers for `choice`: a named set of the template, "chat_template" (split the model's template
    around one user message), "none", or "auto": the first named set whose ``detect_tokens`` are all special tokens
    of `tokenizer` or whose ``detect_template`` occurs in its chat template, else "chat_template", else "none"."""
    if choice == "none":
        return TurnMarkers("none")
    if choice == "chat_template":
        found = _from_chat_template(tokenizer)
        if found is None:
            raise ConfigError("turn_markers='chat_template' needs a tokenizer with a chat template")
        return found
    if choice != "auto":
        return _named(template, choice)
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    chat = str(getattr(tokenizer, "chat_template", None) or "")
    for name, entry in template.extra.get("turn_markers", {}).items():
        tokens = entry.get("detect_tokens") or []
        needle = entry.get("detect_template")
        if (tokens and all(t in vocab for t in tokens)) or (needle and needle in chat):
            log.info("icr: using the %r turn markers (detected from the tokenizer)", name)
            return _named(template, name)
    found = _from_chat_template(tokenizer)
    if found is not None:
        log.warning("icr: no reference turn markers match this tokenizer; wrapping the prompt in its chat template")
        return found
    log.warning("icr: the tokenizer has no chat template; sending the prompt without turn markers")
    return TurnMarkers("none")


def build_icr_prompt(template: PromptTemplate, markers: TurnMarkers, query: str, passages: Sequence[str],
                     late_instruction: str) -> ICRPrompt:
    """The prompt text for `passages` in prompt order, each passage's character span and the query rows' start."""
    fmt = str(template.extra.get("document_format", "[{index}] {text}"))
    sep = markers.separator
    pieces = [fmt.format(index=i, text=text) for i, text in enumerate(passages, 1)]
    block = "".join(sep + p for p in pieces)
    text = template.fill(prefix=markers.prefix, suffix=markers.suffix, separator=sep, documents=block,
                         late_instruction=late_instruction, query=query.strip())
    if not isinstance(text, str):
        raise ConfigError(f"ICR template {template.name!r} must be format: raw")
    start = text.find(block) if block else len(markers.prefix)
    late = text.find(sep + late_instruction, start + len(block))
    if start < 0 or late < 0:
        raise FormatError(f"ICR template {template.name!r} must hold the documents before the closing instruction")
    spans, pos = [], start
    for p in pieces:
        pos += len(sep)
        spans.append((pos, pos + len(p)))
        pos += len(p)
    return ICRPrompt(text, spans, late + len(sep))
