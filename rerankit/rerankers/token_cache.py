"""On-disk store of document token vectors for late interaction, keyed by content.

One folder per encoder (the hash of its model files' fingerprint and its tokenisation settings), one ``.npz`` file
per document, named by the hash of the document's id and text. Each file also holds its own key and is checked
when read: a file for another id or text, another encoder, or a damaged file is never used (a damaged file is
logged, recomputed and rewritten). Files are written to a temporary name and renamed, so a crash leaves no torn
file. A corpus is therefore encoded once; later queries over the same documents only encode the query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TokenVectorCache", "document_key", "encoder_key"]

log = logging.getLogger(__name__)

_FORMAT = "rerankit-token-vectors/1"


def encoder_key(config: Mapping[str, Any]) -> str:
    """Hash of what the vectors depend on: the encoder's model files and settings."""
    blob = json.dumps({"encoder": config, "format": _FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def document_key(doc_id: str, text: str) -> str:
    """Hash of a document's id and the exact text that was encoded."""
    h = hashlib.sha256()
    for part in (doc_id, text):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:40]


class TokenVectorCache:
    """Document token vectors on disk under ``root/<encoder key>/``, plus a bounded in-memory copy.

    `memory_bytes` bounds the in-memory copy (least recently used out first); 0 keeps nothing in memory.
    """

    def __init__(self, root: str | Path, encoder: Mapping[str, Any], dim: int, memory_bytes: int = 256 << 20) -> None:
        self.folder = Path(root).expanduser() / encoder_key(encoder)
        self.dim = dim
        self.memory_bytes = memory_bytes
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._held = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """The stored vectors of each key (None where absent or unusable)."""
        return [self.get(k) for k in keys]

    def get(self, key: str) -> np.ndarray | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                stored, vectors = str(data["key"]), np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("token-vector cache: %s is damaged (%s); recomputing it", path, exc)
            return None
        if stored != key or vectors.ndim != 2 or vectors.shape[1] != self.dim:
            log.warning("token-vector cache: %s holds key %s / shape %s, not %s / [*, %d]; recomputing it",
                        path, stored, vectors.shape, key, self.dim)
            return None
        self._remember(key, vectors)
        return vectors

    def put(self, key: str, vectors: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, key=np.array(key), vectors=np.asarray(vectors, dtype=np.float32))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        self._remember(key, vectors)

    def _remember(self, key: str, vectors: np.ndarray) -> None:
        if vectors.nbytes > self.memory_bytes:
            return
        if key in self._memory:
            return
        self._memory[key] = vectors
        self._held += vectors.nbytes
        while self._held > self.memory_bytes and self._memory:
            _, old = self._memory.popitem(last=False)
            self._held -= old.nbytes

    def clear_memory(self) -> None:
        """Forget the in-memory copies (the disk store stays)."""
        self._memory.clear()
        self._held = 0
