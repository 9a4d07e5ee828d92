"""Pipeline specs from YAML/TOML files or dicts, built through the same registry names as the CLI.

A spec looks like::

    retriever: {name: bm25, k1: 0.9, b: 0.4}         # or: index: path/to/saved/index
    rerankers:
      - {name: cross-encoder, model: cross-encoder/ms-marco-MiniLM-L-6-v2, depth: 100}
    generator: {name: rag, model: Qwen/Qwen2.5-0.5B-Instruct}
    k: 100
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from rerankit.errors import ConfigError, RerankitError
from rerankit.pipeline import Pipeline
from rerankit.registry import build, resolve, stage_class
from rerankit.types import Document

__all__ = ["load_spec", "build_stage", "pipeline_from_spec", "share_engines"]

log = logging.getLogger(__name__)

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
    entries = [("reranker", e) for e in spec.get("rerankers") or []]
    if spec.get("generator"):
        entries.append(("generator", spec["generator"]))
    entries = share_engines(entries)
    rerankers = [build_stage(kind, e) for kind, e in entries if kind == "reranker"]
    generator = build_stage("generator", entries[-1][1]) if spec.get("generator") else None
    return Pipeline(retriever, rerankers, generator, k=int(spec.get("k", 100)), depth=spec.get("depth"),
                    cache_dir=spec.get("cache_dir"))


def _engine_key(kind: str, entry: str | Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(engine name, model, engine options as canonical JSON) of a stage that builds its own engine, else None."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        return None
    registered = resolve(kind, entry["name"])
    cls = stage_class(kind, entry["name"])
    params = inspect.signature(cls.__init__).parameters
    if "engine" not in params or "model" not in params or not getattr(cls, "shares_engine", True):
        return None
    given = {k: v for k, v in entry.items() if v is not None}
    opts = {**registered.defaults, **given}
    engine, model = opts.get("engine", params["engine"].default), opts.get("model", params["model"].default)
    if not isinstance(engine, str) or not isinstance(model, str) or not model:
        return None
    from rerankit.engines.choice import pick_engine

    try:  # "auto" becomes the engine it picks for this stage's needs; a bad name is left to the stage to report
        name = resolve("engine", pick_engine(engine, getattr(cls, "required", ()), f"the {kind} {entry['name']}")).name
    except RerankitError:
        return None
    options = json.dumps(opts.get("engine_options") or {}, sort_keys=True, default=str)
    return name, model, options


def share_engines(entries: list[tuple[str, str | Mapping[str, Any]]]) -> list[tuple[str, str | Mapping[str, Any]]]:
    """Stage entries where stages naming the same engine, model and engine options get one engine instance.

    A reranker and the generator on the same model (e.g. a yes/no reranker and RAG answers from one Qwen) then
    load it once. Entries that build no engine of their own (a cross-encoder, an entry given an engine instance)
    are returned unchanged.
    """
    from rerankit.engines import get_engine

    keys = [_engine_key(kind, entry) for kind, entry in entries]
    counts: dict[tuple[str, str, str], int] = {}
    for key in keys:
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    engines: dict[tuple[str, str, str], Any] = {}
    out: list[tuple[str, str | Mapping[str, Any]]] = []
    for (kind, entry), key in zip(entries, keys):
        if key is None or counts[key] < 2:
            out.append((kind, entry))
            continue
        if key not in engines:
            engines[key] = get_engine(key[0], key[1], **json.loads(key[2]))
            log.info("one %s engine for %s serves %d stages", key[0], key[1], counts[key])
        base = {"name": entry} if isinstance(entry, str) else dict(entry)
        out.append((kind, {**base, "engine": engines[key]}))
    return out
