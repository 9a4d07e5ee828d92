"""Content fingerprints: what caches and index stores are keyed by, so a changed input is never served old output.

- :func:`ranking_digest` hashes one ranking's query (id, text) and every hit (id, title, text, score);
- :func:`documents_digest` hashes a corpus given as documents (ids, titles, texts, in order);
- :func:`files_fingerprint` describes files or folders by name, size and modification time (nanoseconds), for
  inputs too large to hash on every use (a corpus file, a model folder).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rerankit.types import Document, Ranking

__all__ = ["ranking_digest", "documents_digest", "files_fingerprint", "local_paths_fingerprint"]

# A folder with more files than this is described by its first files (in sorted walk order) only.
_MAX_FILES = 2000


def _fields_digest(fields: list[str]) -> str:
    # NUL-joined fields are unambiguous when no field holds a NUL (then the join splits back into exactly these
    # fields); otherwise JSON encodes them unambiguously, more slowly.
    blob = "\x00".join(fields)
    if blob.count("\x00") != len(fields) - 1:
        blob = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def ranking_digest(ranking: Ranking) -> str:
    """Hex digest of a ranking's query and hits (ids, titles, texts, exact scores, in order)."""
    q = ranking.query
    fields = [q.id, q.text]
    for h in ranking.hits:
        d = h.doc
        fields += (d.id, d.title, d.text, h.score.hex())
    return _fields_digest(fields)


def documents_digest(documents: Iterable[Document]) -> tuple[str, int]:
    """Hex digest of documents (id, title, text, in order) and how many there were."""
    h = hashlib.sha256()
    n = 0
    for d in documents:
        h.update(_fields_digest([d.id, d.title, d.text]).encode("ascii"))
        n += 1
    return h.hexdigest()[:32], n


def files_fingerprint(paths: Iterable[str | Path]) -> list[list[Any]]:
    """``[name, size, mtime_ns]`` of each file (every file of a folder, recursively, in sorted order)."""
    out: list[list[Any]] = []
    for p in paths:
        p = Path(p)
        files = sorted(_files_under(p)) if p.is_dir() else [p]
        for f in files:
            st = f.stat()
            name = f.name if f == p else f.relative_to(p).as_posix()
            out.append([name, st.st_size, st.st_mtime_ns])
    return out


def _files_under(folder: Path) -> list[Path]:
    """Files below `folder`, at most _MAX_FILES of them (a folder that large is not a model or corpus folder)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            f = Path(root) / name
            if f.is_file():
                found.append(f)
                if len(found) >= _MAX_FILES:
                    return found
    return found


def local_paths_fingerprint(config: Any) -> dict[str, list[list[Any]]]:
    """Fingerprints of every string in a (nested) stage config that names an existing local file or folder.

    A stage configured with a local model folder is then keyed by that folder's files too: retraining a
    checkpoint in place changes the key.
    """
    found: dict[str, list[list[Any]]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
        elif isinstance(value, str) and value and len(value) < 4096 and ("/" in value or os.sep in value):
            p = Path(value).expanduser()
            if p.exists():
                found[str(p.resolve())] = files_fingerprint([p])

    visit(config)
    return found
