"""Build-once index store: an index is saved under a key of (dataset, retriever config) and reloaded after.

`rerankit eval` and `rerankit search` share it, so a corpus is indexed once per retriever configuration.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rerankit.cache import default_cache_dir, stage_key
from rerankit.errors import ConfigError, IndexMismatchError
from rerankit.registry import build
from rerankit.retrievers.base import IndexedRetriever, Retriever
from rerankit.types import Document

__all__ = ["index_path", "open_or_build_index", "load_index"]

log = logging.getLogger(__name__)


def index_path(dataset_id: str, retriever: IndexedRetriever, root: str | Path | None = None) -> Path:
    """Where the index of `retriever` over `dataset_id` lives in the store."""
    root = Path(root) if root else default_cache_dir() / "indexes"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_id).strip("_")
    return root / safe / f"{retriever.name}-{stage_key(retriever.config())}"


def open_or_build_index(name: str, documents: Iterable[Document] | None, dataset_id: str,
                        root: str | Path | None = None, rebuild: bool = False,
                        **options: Any) -> tuple[Retriever, dict[str, Any]]:
    """The retriever `name` over a dataset: loaded from the store, or indexed from `documents` and saved.

    Returns the retriever and facts about the work done (``built``, ``seconds``, ``path``).
    """
    retriever = build("retriever", name, **options)
    if not isinstance(retriever, IndexedRetriever):
        return retriever, {"built": False, "seconds": 0.0, "path": None}
    path = index_path(dataset_id, retriever, root)
    if path.exists() and not rebuild:
        try:
            t0 = time.perf_counter()
            loaded = type(retriever).load(path, **_load_options(options))
            log.info("loaded %s index from %s", name, path)
            return loaded, {"built": False, "seconds": time.perf_counter() - t0, "path": str(path)}
        except IndexMismatchError as exc:
            log.warning("stored index at %s is unusable (%s); rebuilding it", path, exc)
            shutil.rmtree(path, ignore_errors=True)
    if documents is None:
        raise ConfigError(f"no stored {name} index for {dataset_id} and no corpus to build one from")
    t0 = time.perf_counter()
    retriever.index(documents)
    seconds = time.perf_counter() - t0
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    retriever.save(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)  # the index appears whole or not at all
    log.info("built %s index over %s in %.1fs, saved to %s", name, dataset_id, seconds, path)
    return retriever, {"built": True, "seconds": seconds, "path": str(path)}


def load_index(path: str | Path, name: str | None = None, **options: Any) -> Retriever:
    """Load a saved index folder; the retriever type is read from its metadata when `name` is not given."""
    import json

    from rerankit.registry import stage_class

    path = Path(path)
    meta = path / "rerankit.json"
    if name is None:
        try:
            name = json.loads(meta.read_text())["config"]["name"]
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatchError(f"{path} is not a rerankit index folder ({exc})") from None
    return stage_class("retriever", name).load(path, **_load_options(options))


def _load_options(options: dict[str, Any]) -> dict[str, Any]:
    # Index-shaping options come from the saved config; only runtime options pass through on load.
    runtime = {"show_progress", "n_threads", "batch_size", "device"}
    return {k: v for k, v in options.items() if k in runtime and v is not None}
