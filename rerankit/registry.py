"""Names -> stage classes, so Python, the CLI and YAML/TOML configs build stages the same way.

Entries point at ``"module:Class"`` strings and are imported only when built, so optional extras (torch,
faiss, pyserini, vLLM) cost nothing until used. Third-party packages add stages through the
``rerankit.plugins`` entry-point group: each entry point loads a callable that receives this module's
:func:`register` and calls it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rerankit.errors import ConfigError

__all__ = ["KINDS", "Entry", "register", "build", "resolve", "stage_class", "names", "describe"]

log = logging.getLogger(__name__)

KINDS = ("retriever", "reranker", "generator", "engine")


@dataclass(frozen=True)
class Entry:
    """One registered name: where its class lives, default options, and a one-line description."""

    kind: str
    name: str
    target: str
    defaults: dict[str, Any] = field(default_factory=dict)
    help: str = ""
    aliases: tuple[str, ...] = ()


_REGISTRY: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
_ALIASES: dict[str, dict[str, str]] = {k: {} for k in KINDS}
_plugins_loaded = False


def register(kind: str, name: str, target: str, *, defaults: dict[str, Any] | None = None, help: str = "",
             aliases: tuple[str, ...] = ()) -> None:
    """Register `name` (plus `aliases`) for `kind`, built from `target` = ``"module:Class"`` with `defaults`."""
    if kind not in KINDS:
        raise ConfigError(f"unknown stage kind {kind!r}; kinds are {', '.join(KINDS)}")
    entry = Entry(kind, name, target, dict(defaults or {}), help, tuple(aliases))
    _REGISTRY[kind][name] = entry
    for alias in aliases:
        _ALIASES[kind][alias] = name


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="rerankit.plugins"):
        try:
            ep.load()(register)
        except Exception as exc:  # a broken plugin must not break the toolkit
            log.warning("rerankit plugin %s failed to load: %s", ep.name, exc)


def resolve(kind: str, name: str) -> Entry:
    """The entry for `name` (or an alias); a clear error listing the known names otherwise."""
    _load_plugins()
    if kind not in KINDS:
        raise ConfigError(f"unknown stage kind {kind!r}; kinds are {', '.join(KINDS)}")
    key = name.strip().lower()
    key = _ALIASES[kind].get(key, key)
    try:
        return _REGISTRY[kind][key]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY[kind])) or "(none)"
        raise ConfigError(f"unknown {kind} {name!r}; known {kind}s: {known}") from None


def _import(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr)


def build(kind: str, name: str, **options: Any) -> Any:
    """Build the stage registered as `name`: its defaults updated with `options` (None values are ignored)."""
    entry = resolve(kind, name)
    cls = _import(entry.target)
    kwargs = {**entry.defaults, **{k: v for k, v in options.items() if v is not None}}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"cannot build {kind} {name!r} with options {sorted(kwargs)}: {exc}") from exc


def stage_class(kind: str, name: str) -> Any:
    """The class registered as `name` (imported now), e.g. to call its ``load`` classmethod."""
    return _import(resolve(kind, name).target)


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    _load_plugins()
    return sorted(_REGISTRY[kind])


def describe(kind: str) -> list[tuple[str, str]]:
    """(name, one-line help) pairs of one kind, for `--help` texts and docs."""
    _load_plugins()
    return [(n, _REGISTRY[kind][n].help) for n in sorted(_REGISTRY[kind])]


# ---- built-in stages -------------------------------------------------------------------------------------------
# Each module adds its own line here; defaults name published checkpoints (Hugging Face ids) for users online.
register("retriever", "bm25", "rerankit.retrievers.bm25:BM25Retriever",
         help="BM25 on bm25s with Lucene/Anserini-compatible analysis (k1=0.9, b=0.4, Porter stemming)")
register("engine", "transformers", "rerankit.engines.hf:TransformersEngine", aliases=("hf", "huggingface"),
         help="Hugging Face transformers on CPU or GPU: generation, next-token logprobs, attentions, embeddings")
register("engine", "vllm", "rerankit.engines.vllm:VLLMEngine",
         help="vLLM offline LLM engine (GPU): prefix caching, logprobs, tensor parallelism")
register("engine", "openai", "rerankit.engines.openai:OpenAIEngine", aliases=("openai-compatible",),
         help="any OpenAI-compatible HTTP server (vllm serve, SGLang, llama.cpp server, hosted APIs)")
register("engine", "llamacpp", "rerankit.engines.llamacpp:LlamaCppEngine", aliases=("llama.cpp", "llama-cpp"),
         help="GGUF models on CPU through llama-cpp-python")
