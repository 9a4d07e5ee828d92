"""On-disk store of stage outputs, keyed by stage config + input, so long runs resume and reuse work.

Each stage output lives in one JSON-lines file, one ranking per line, appended as work finishes; a run that is
interrupted resumes from the queries already written. A truncated last line (a crash mid-write) is ignored and
recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rerankit.types import Document, Hit, Query, Ranking

__all__ = ["StageCache", "stage_key", "ranking_to_json", "ranking_from_json", "default_cache_dir"]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$RERANKIT_CACHE`` or ``~/.cache/rerankit``."""
    return Path(os.environ.get("RERANKIT_CACHE", Path.home() / ".cache" / "rerankit"))


def stage_key(config: Mapping[str, Any], upstream: str = "") -> str:
    """A stable hash of a stage's configuration and the key of what fed it."""
    blob = json.dumps({"config": config, "upstream": upstream}, sort_keys=True, default=str)
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


class StageCache:
    """Rankings of one stage configuration, read back on resume and appended as they are produced."""

    def __init__(self, root: str | Path, key: str) -> None:
        self.path = Path(root) / f"{key}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, Ranking]:
        """Rankings already computed (an empty dict for a fresh key)."""
        done: dict[str, Ranking] = {}
        if not self.path.exists():
            return done
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    r = ranking_from_json(json.loads(line))
                except (json.JSONDecodeError, KeyError) as exc:
                    log.warning("cache %s line %d unreadable (%s); it will be recomputed", self.path, n, exc)
                    continue
                done[r.query.id] = r
        return done

    def append(self, rankings: Iterable[Ranking]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for r in rankings:
                f.write(json.dumps(ranking_to_json(r), default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
