"""Saving and loading index folders safely: a document store, a checksummed manifest, and ranking assembly.

Every index folder holds ``rerankit.json`` (format, config, sha256 of each data file) beside its data files, so a
truncated or edited file is refused with :class:`~rerankit.errors.IndexMismatchError` instead of giving a wrong
ranking.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.errors import IndexMismatchError, InputError
from rerankit.types import Document, Query, Ranking

__all__ = ["MANIFEST", "DOCS", "save_documents", "load_documents", "write_manifest", "read_manifest",
           "ranking_from_scores", "rankings_from_score_rows", "search_past_the_tie", "file_sha256"]

MANIFEST = "rerankit.json"
DOCS = "docs.jsonl"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_documents(path: Path, docs: Iterable[Document]) -> None:
    """Write documents (id, title, text, meta) one JSON object a line, so hits carry their text after a reload."""
    with open(path / DOCS, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.id, "title": d.title, "text": d.text, "meta": dict(d.meta)},
                               ensure_ascii=False) + "\n")


def load_documents(path: Path) -> list[Document]:
    """Read the documents written by :func:`save_documents`."""
    try:
        with open(path / DOCS, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        return [Document(r["id"], r["text"], r.get("title", ""), r.get("meta", {})) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexMismatchError(f"{path}: cannot read the document store {DOCS} ({exc})") from None


def write_manifest(path: Path, fmt: str, config: dict[str, Any], files: Sequence[str], **extra: Any) -> None:
    """Write ``rerankit.json``: the format tag, the retriever config, checksums of `files`, and `extra` facts."""
    meta = {"format": fmt, "config": config, **extra,
            "files": {name: file_sha256(path / name) for name in files}}
    (path / MANIFEST).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def read_manifest(path: str | Path, fmt: str, verify: bool = True) -> dict[str, Any]:
    """Read and check ``rerankit.json`` of an index folder: right format, every data file present and unchanged."""
    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise IndexMismatchError(f"{path} is not a rerankit index folder (no {MANIFEST})")
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"{manifest} is corrupt: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise IndexMismatchError(f"{path} holds index format {found!r}, expected {fmt!r}: "
                                 "it was written by another retriever or another rerankit version")
    files = meta.get("files")
    if not isinstance(files, dict) or not isinstance(meta.get("config"), dict):
        raise IndexMismatchError(f"{manifest} lacks its config or file list: the index is corrupt")
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            raise IndexMismatchError(f"{path}: index file {name} is missing")
        if verify and file_sha256(f) != digest:
            raise IndexMismatchError(f"{path}: index file {name} does not match its checksum (corrupt or "
                                     "modified after saving); rebuild the index")
    return meta


def ranking_from_scores(query: Query, docs: Sequence[Document], indices: Iterable[int],
                        scores: Iterable[float], k: int | None = None) -> Ranking:
    """A ranking over ``docs[i]`` with the given scores, ordered as trec_eval orders (score desc, id desc on ties),
    cut to its first `k` (all when None): an index that hands over every document tied at its k-th score thus
    keeps the tied ones trec_eval ranks first.

    Negative indices (faiss's "no result") are left out. The ranking is lazy (:meth:`Ranking.from_indices`): its hits
    are built only when a stage reads them, so `docs` must be the retriever's own document store.

    Index results usually come strictly score-descending already (faiss, the SPLADE index): those rows are taken
    as they are, with no per-document Python work; rows with tied or unordered scores are sorted.
    """
    if isinstance(indices, np.ndarray) and isinstance(scores, np.ndarray) and indices.ndim == scores.ndim == 1 \
            and len(indices) == len(scores) and scores.dtype.kind == "f":
        keep = indices >= 0
        if not keep.all():
            indices, scores = indices[keep], scores[keep]
        if (scores[1:] < scores[:-1]).all():  # strictly descending (NaN fails): trec_eval's order already
            return Ranking.from_indices(query, docs, indices[:k], scores[:k])
    return _sorted_ranking(query, docs, indices, scores).top(k)


def rankings_from_score_rows(queries: Sequence[Query], docs: Sequence[Document], indices: np.ndarray,
                             scores: np.ndarray, k: int | None = None) -> list[Ranking]:
    """:func:`ranking_from_scores` for each row of (queries x depth) arrays, as one index search returns them.

    The checks run once on the whole arrays: rows with every result present (no -1) and strictly descending scores
    (nearly all) become rankings with no per-row array work; any other row goes through
    :func:`ranking_from_scores`. The rankings are the same either way.
    """
    if indices.ndim != 2 or indices.shape != scores.shape or len(indices) != len(queries):
        raise ValueError(f"expected one row of indices and scores per query, got {indices.shape} and "
                         f"{scores.shape} for {len(queries)} queries")
    bad = next((q for q in queries if not isinstance(q, Query)), None)
    if bad is not None:
        raise InputError(f"a Ranking needs a Query, got {type(bad).__name__}")
    if indices.size and int(indices.max()) >= len(docs):
        raise InputError(f"a document index is outside the {len(docs)} documents")
    if scores.dtype.kind != "f":
        return [ranking_from_scores(q, docs, indices[r], scores[r], k) for r, q in enumerate(queries)]
    fast = ((indices >= 0).all(axis=1) & (scores[:, 1:] < scores[:, :-1]).all(axis=1)).tolist()
    ids, values = indices[:, :k], scores[:, :k]  # rows stay arrays until a ranking is read
    make = Ranking._from_checked_rows
    return [make(q, docs, ids[r], values[r]) if fast[r] else ranking_from_scores(q, docs, indices[r], scores[r], k)
            for r, q in enumerate(queries)]


def search_past_the_tie(search: Callable[[int], tuple[np.ndarray, np.ndarray]], cut: float, fetched: int,
                        n: int) -> tuple[np.ndarray, np.ndarray]:
    """One query's (ids, scores) searched deep enough that every document scoring `cut` is among them.

    `search(depth)` returns that query's top `depth` (ids, scores), score-descending; `fetched` is the depth already
    searched, whose last result tied `cut`. The depth doubles until a lower score shows up or all `n` documents
    are in hand, so only queries with a tie across the cut pay for a deeper search.
    """
    depth = fetched
    while True:
        depth = min(2 * depth, n)
        ids, scores = search(depth)
        if depth >= n or scores[-1] < cut:
            return ids, scores


def _sorted_ranking(query: Query, docs: Sequence[Document], indices: Iterable[int],
                    scores: Iterable[float]) -> Ranking:
    if isinstance(indices, np.ndarray) and isinstance(scores, np.ndarray) and indices.ndim == scores.ndim == 1 \
            and len(indices) == len(scores) and scores.dtype.kind == "f" and not np.isnan(scores).any():
        keep = indices >= 0
        indices, scores = indices[keep], scores[keep]
        ids = np.array([docs[i].id for i in indices.tolist()])
        order = np.lexsort((ids, scores))[::-1]  # score descending, then id descending (code point order, as str)
        return Ranking.from_indices(query, docs, indices[order], scores[order])
    pairs = [(i, float(s)) for i, s in zip((int(i) for i in indices), scores) if i >= 0]
    pairs.sort(key=lambda p: docs[p[0]].id, reverse=True)
    pairs.sort(key=lambda p: -p[1])
    return Ranking.from_indices(query, docs, [i for i, _ in pairs], [s for _, s in pairs])
