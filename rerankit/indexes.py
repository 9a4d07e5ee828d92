"""Build-once index store: an index is saved under a key of (dataset, retriever config, corpus) and reloaded after.

`rerankit eval` and `rerankit search` share it, so a corpus is indexed once per retriever configuration. The key
covers the corpus: the files it was read from (name, size, modification time) for a local dataset, the
ir_datasets id online, or a digest of the documents' ids, titles and texts otherwise. The same fingerprint is
stored in the index folder (``corpus.json``) and compared on load, and every index file is checked against its
checksum, so a changed corpus gets a new index and a damaged one is rebuilt, never searched.

Index folders are written under a unique temporary name and renamed into place (:mod:`rerankit.atomic`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rerankit.atomic import atomic_folder
from rerankit.cache import default_cache_dir, stage_key
from rerankit.errors import ConfigError, IndexMismatchError
from rerankit.fingerprint import documents_digest
from rerankit.registry import build
from rerankit.retrievers.base import IndexedRetriever, Retriever
from rerankit.retrievers.index_io import MANIFEST
from rerankit.types import Document

__all__ = ["index_path", "open_or_build_index", "load_index", "save_index", "CORPUS_FILE"]

log = logging.getLogger(__name__)

CORPUS_FILE = "corpus.json"  # what an index folder was built from: dataset id and corpus fingerprint


def index_path(dataset_id: str, retriever: IndexedRetriever, root: str | Path | None = None,
               corpus: Mapping[str, Any] | None = None) -> Path:
    """Where the index of `retriever` over `dataset_id` (whose corpus has fingerprint `corpus`) lives."""
    root = Path(root) if root else default_cache_dir() / "indexes"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_id).strip("_")
    name = f"{retriever.name}-{stage_key(retriever.config())}"
    return root / safe / (f"{name}-{stage_key(dict(corpus))[:12]}" if corpus is not None else name)


def open_or_build_index(name: str, documents: Iterable[Document] | None, dataset_id: str,
                        root: str | Path | None = None, rebuild: bool = False,
                        corpus_fingerprint: Mapping[str, Any] | None = None,
                        **options: Any) -> tuple[Retriever, dict[str, Any]]:
    """The retriever `name` over a dataset: loaded from the store, or indexed from `documents` and saved.

    `corpus_fingerprint` identifies the corpus cheaply (e.g. ``Dataset.corpus_fingerprint()``); without it the
    documents are read and hashed. Returns the retriever and facts about the work done (``built``, ``seconds``,
    ``path``).
    """
    retriever = build("retriever", name, **options)
    if not isinstance(retriever, IndexedRetriever):
        return retriever, {"built": False, "seconds": 0.0, "path": None}
    if corpus_fingerprint is None:
        if documents is None:
            raise ConfigError(f"no corpus to identify or build the {name} index of {dataset_id} from")
        documents = list(documents)
        digest, count = documents_digest(documents)
        corpus_fingerprint = {"documents": digest, "count": count}
    fingerprint = {"dataset": dataset_id, "corpus": dict(corpus_fingerprint)}
    path = index_path(dataset_id, retriever, root, corpus_fingerprint)
    if path.exists() and not rebuild:
        try:
            t0 = time.perf_counter()
            _check_built_from(path, fingerprint)
            loaded = type(retriever).load(path, **_load_options(options))
            log.info("loaded %s index from %s", name, path)
            return loaded, {"built": False, "seconds": time.perf_counter() - t0, "path": str(path)}
        except IndexMismatchError as exc:
            log.warning("stored index at %s is unusable (%s); rebuilding it", path, exc)
    if documents is None:
        raise ConfigError(f"no stored {name} index for {dataset_id} and no corpus to build one from")
    t0 = time.perf_counter()
    retriever.index(documents)
    seconds = time.perf_counter() - t0
    save_index(retriever, path, fingerprint, replace=lambda _: True)
    _remove_other_corpora(path)
    log.info("built %s index over %s in %.1fs, saved to %s", name, dataset_id, seconds, path)
    return retriever, {"built": True, "seconds": seconds, "path": str(path)}


def save_index(retriever: IndexedRetriever, path: str | Path, built_from: Mapping[str, Any] | None = None,
               replace: Callable[[Path], bool] | None = None) -> None:
    """Save `retriever` to folder `path` atomically (a kill leaves the previous folder intact).

    `built_from` (dataset id, corpus fingerprint) is written beside the index as ``corpus.json``. An existing
    `path` is replaced only if it is an index folder or empty (or if `replace(path)` says so).
    """
    with atomic_folder(path, replace or is_replaceable) as tmp:
        retriever.save(tmp)
        if built_from is not None:
            (tmp / CORPUS_FILE).write_text(json.dumps(dict(built_from), indent=2, ensure_ascii=False),
                                           encoding="utf-8")


def is_replaceable(path: Path) -> bool:
    """Whether folder `path` may be overwritten by a new index: it is empty or holds a rerankit index."""
    return not any(path.iterdir()) or (path / MANIFEST).is_file()


def _check_built_from(path: Path, expected: Mapping[str, Any]) -> None:
    try:
        found = json.loads((path / CORPUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"{path / CORPUS_FILE} is missing or unreadable ({exc})") from None
    if found != json.loads(json.dumps(dict(expected))):
        raise IndexMismatchError(f"{path} was built from another corpus ({found.get('corpus')}, now "
                                 f"{expected.get('corpus')})")


def _remove_other_corpora(path: Path) -> None:
    """Drop indexes of the same dataset and retriever config built from earlier versions of the corpus."""
    stem = path.name.rsplit("-", 1)[0]
    for other in [path.parent / stem, *path.parent.glob(f"{stem}-*")]:  # the bare stem: the layout before corpus keys
        if other != path and other.is_dir() and not other.name.startswith("."):
            log.info("removing %s: built from an earlier version of the corpus", other)
            shutil.rmtree(other, ignore_errors=True)


def load_index(path: str | Path, name: str | None = None, **options: Any) -> Retriever:
    """Load a saved index folder; the retriever type is read from its metadata when `name` is not given."""
    from rerankit.registry import stage_class

    path = Path(path)
    meta = path / MANIFEST
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
