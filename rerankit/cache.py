"""On-disk store of stage outputs, keyed by stage config + input content, so long runs resume and reuse work.

A stage configuration (the reranker's config, its depth, the configuration of the stages before it and the files
of a local model) names one JSON-lines file. Each line is one output ranking, stored with the digest of the input
ranking it was computed from (query text, candidate ids, texts and scores: :func:`~rerankit.fingerprint.
ranking_digest`) and the seconds it cost. An output is reused only for an input with the same digest, so an
edited run file or another candidate set with the same query ids is recomputed, never served an old output.

Lines are appended as work finishes (one ``write`` per batch, fsynced), so an interrupted run resumes from the
queries already written. Each line carries a checksum of its record: a damaged line is skipped (with a warning)
and recomputed; a torn last line (a crash mid-write) is cut off before anything is appended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerankit.types import Document, Hit, Query, Ranking

__all__ = ["StageCache", "CachedRanking", "stage_key", "ranking_to_json", "ranking_from_json", "default_cache_dir"]

log = logging.getLogger(__name__)

# Part of every stage key: files written in an older record layout are never read as this one.
_FORMAT = "rerankit-stage-cache/2"


def default_cache_dir() -> Path:
    """``$RERANKIT_CACHE`` or ``~/.cache/rerankit``."""
    return Path(os.environ.get("RERANKIT_CACHE", Path.home() / ".cache" / "rerankit"))


def stage_key(config: Mapping[str, Any], upstream: str = "") -> str:
    """A stable hash of a stage's configuration and the key of what fed it."""
    blob = json.dumps({"config": config, "upstream": upstream, "format": _FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def ranking_to_json(r: Ranking) -> dict[str, Any]:
    return {
        "qid": r.query.id,
        "query": r.query.text,
        "meta": dict(r.meta),
        "hits": [{"id": h.doc.id, "text": h.doc.text, "title": h.doc.title, "doc_meta": dict(h.doc.meta),
                  "score": h.score, "meta": dict(h.meta)} for h in r.hits],
    }


def ranking_from_json(obj: Mapping[str, Any]) -> Ranking:
    hits = tuple(Hit(Document(h["id"], h.get("text", ""), h.get("title", ""), h.get("doc_meta", {})),
                     float(h["score"]), h.get("meta", {})) for h in obj["hits"])
    return Ranking(Query(obj["qid"], obj["query"]), hits, obj.get("meta", {}))


@dataclass(frozen=True)
class CachedRanking:
    """One stored output: the ranking and the seconds the stage spent on it when it was computed."""

    ranking: Ranking
    seconds: float


def _checksum(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


class StageCache:
    """Outputs of one stage configuration, by input digest; read back on resume and appended as produced."""

    def __init__(self, root: str | Path, key: str) -> None:
        self.path = Path(root) / f"{key}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, CachedRanking]:
        """Outputs already computed, by the digest of their input (empty for a fresh key).

        A torn last line is cut off the file here, so the next append starts on a line of its own.
        """
        done: dict[str, CachedRanking] = {}
        if not self.path.exists():
            return done
        with open(self.path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        torn = lines.pop()  # what follows the last newline: empty unless a write was cut short
        for n, line in enumerate(lines, 1):
            entry = self._parse(line, n)
            if entry is not None:
                done[entry[0]] = entry[1]
        if torn:
            log.warning("cache %s: last line %d is incomplete (interrupted write); cutting it off", self.path,
                        len(lines) + 1)
            self._truncate(len(data) - len(torn))
        return done

    def _parse(self, line: bytes, n: int) -> tuple[str, CachedRanking] | None:
        check, _, payload = line.partition(b" ")
        try:
            if _checksum(payload) != check.decode("ascii"):
                raise ValueError("checksum mismatch")
            rec = json.loads(payload)
            return str(rec["input"]), CachedRanking(ranking_from_json(rec["ranking"]), float(rec["seconds"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            log.warning("cache %s line %d is damaged (%s); that query is recomputed", self.path, n, exc)
            return None

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def append(self, entries: Iterable[tuple[str, Ranking, float]]) -> None:
        """Append ``(input digest, output ranking, seconds)`` records in one write, then fsync."""
        lines = []
        for digest, ranking, seconds in entries:
            payload = json.dumps({"input": digest, "seconds": seconds, "ranking": ranking_to_json(ranking)},
                                 default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
            lines.append(_checksum(payload).encode("ascii") + b" " + payload + b"\n")
        data = b"".join(lines)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
