"""Pipeline specs from YAML/TOML files or dicts, built through the same registry names as the CLI.

A spec looks like::

    retriever: {name: bm25, k1: 0.9, b: 0.4}         # or: index: path/to/saved/index
    rerankers:
      - {name: cross-encoder, model: cross-encoder/ms-marco-MiniLM-L-6-v2, depth: 100}
    generator: {name: rag, model: Qwen/Qwen2.5-0.5B-Instruct}
    k: 100
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from rerankit.errors import ConfigError
from rerankit.pipeline import Pipeline
from rerankit.registry import build
from rerankit.types import Document

__all__ = ["load_spec", "build_stage", "pipeline_from_spec"]

_TOP_KEYS = {"retriever", "rerankers", "generator", "k", "depth", "cache_dir", "dataset", "data_dir"}


def load_spec(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read a spec from a ``.yaml``/``.yml``/``.toml`` file or take a mapping; unknown top-level keys are errors."""
    if isinstance(source, Mapping):
        spec = dict(source)
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            if path.suffix == ".toml":
                spec = tomllib.loads(path.read_text())
            else:
                spec = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot parse {path}: {exc}") from None
    if not isinstance(spec, dict):
        raise ConfigError("a pipeline spec must be a mapping with keys like retriever, rerankers, generator")
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown pipeline spec keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    return spec


def build_stage(kind: str, entry: str | Mapping[str, Any]) -> Any:
    """Build one stage from ``"name"`` or ``{name: ..., option: value}``."""
    if isinstance(entry, str):
        return build(kind, entry)
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise ConfigError(f"a {kind} entry needs a 'name', got {entry!r}")
    options = {k: v for k, v in entry.items() if k != "name"}
    return build(kind, entry["name"], **options)


def pipeline_from_spec(source: str | Path | Mapping[str, Any],
                       corpus: Iterable[Document] | None = None) -> Pipeline:
    """A ready pipeline. The retriever loads ``index: PATH`` if given, else indexes `corpus` when one is passed."""
    from rerankit.indexes import load_index
    from rerankit.retrievers.base import IndexedRetriever

    spec = load_spec(source)
    retriever = None
    r_entry = spec.get("retriever")
    if isinstance(r_entry, Mapping) and "index" in r_entry:
        extra = {k: v for k, v in r_entry.items() if k not in ("index", "name")}
        retriever = load_index(r_entry["index"], r_entry.get("name"), **extra)
    elif r_entry is not None:
        retriever = build_stage("retriever", r_entry)
        if corpus is not None and isinstance(retriever, IndexedRetriever):
            retriever.index(corpus)
    rerankers = [build_stage("reranker", e) for e in spec.get("rerankers") or []]
    generator = build_stage("generator", spec["generator"]) if spec.get("generator") else None
    return Pipeline(retriever, rerankers, generator, k=int(spec.get("k", 100)), depth=spec.get("depth"),
                    cache_dir=spec.get("cache_dir"))
