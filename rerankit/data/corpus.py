"""A lazy corpus over a JSON-lines file: a Mapping from doc id to Document that reads text only when asked.

Opening scans the file once for ids and byte offsets (duplicate ids are an error naming both lines); lookups seek
and parse one line; iteration streams the file in order. Gzipped files are read into memory instead, since they
cannot be seeked cheaply.
"""

from __future__ import annotations

import json
import re
import threading
from array import array
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rerankit.errors import FormatError
from rerankit.runs import open_text
from rerankit.types import Document

__all__ = ["JsonlCorpus", "document_from_record"]

_ID_KEYS = ("_id", "id", "docid", "doc_id")
_TEXT_KEYS = ("text", "contents", "content", "body")
# Fast path for the id: the first key of a BEIR/pyserini line, without escapes.
_FAST_ID = re.compile(rb'^\s*\{\s*"(?:_id|id|docid|doc_id)"\s*:\s*(?:"([^"\\]*)"|(-?\d+))\s*[,}]')


def document_from_record(record: Any, where: str) -> Document:
    """A Document from one JSON record (BEIR ``_id/title/text`` or pyserini ``id/contents``); `where` names it."""
    if not isinstance(record, dict):
        raise FormatError(f"{where}: a corpus line must be a JSON object, got {type(record).__name__}")
    doc_id = next((record[k] for k in _ID_KEYS if k in record), None)
    if doc_id is None or str(doc_id).strip() == "":
        raise FormatError(f"{where}: a corpus record needs an id field ({' or '.join(_ID_KEYS)})")
    text = next((record[k] for k in _TEXT_KEYS if k in record), None)
    title = record.get("title") or ""
    if text is None:
        raise FormatError(f"{where}: document {doc_id!r} has no text field ({' or '.join(_TEXT_KEYS)})")
    if not isinstance(text, str) or not isinstance(title, str):
        raise FormatError(f"{where}: document {doc_id!r}: text and title must be strings")
    meta = {k: v for k, v in record.items() if k not in _ID_KEYS and k not in _TEXT_KEYS and k != "title"}
    return Document(str(doc_id), text, title, meta)


class JsonlCorpus(Mapping[str, Document]):
    """Documents of a ``corpus.jsonl`` (or ``.jsonl.gz``), by id, in file order; text is read on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: the corpus file does not exist")
        self._lock = threading.Lock()
        self._fh: Any = None
        self._docs: dict[str, Document] | None = None  # used for .gz only
        self._index: dict[str, int] = {}
        self._offsets = array("q")
        self._lines = array("q")
        if self.path.suffix == ".gz":
            self._load_all()
        else:
            self._build_index()
        if not len(self):
            raise FormatError(f"{self.path}: the corpus is empty")

    def _duplicate(self, doc_id: str, line: int, first_line: int) -> FormatError:
        return FormatError(f"{self.path}:{line}: document id {doc_id!r} appears twice (first at line {first_line}); "
                           f"document ids must be unique")

    def _build_index(self) -> None:
        with open(self.path, "rb") as f:
            offset = 0
            for n, raw in enumerate(f, 1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                m = _FAST_ID.match(raw)
                if m:
                    doc_id = (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8")
                else:
                    doc_id = self._parse(raw, n).id
                if doc_id in self._index:
                    raise self._duplicate(doc_id, n, self._lines[self._index[doc_id]])
                self._index[doc_id] = len(self._offsets)
                self._offsets.append(start)
                self._lines.append(n)

    def _load_all(self) -> None:
        docs: dict[str, Document] = {}
        lines: dict[str, int] = {}
        with open_text(self.path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                doc = self._parse(line, n)
                if doc.id in docs:
                    raise self._duplicate(doc.id, n, lines[doc.id])
                docs[doc.id] = doc
                lines[doc.id] = n
        self._docs = docs

    def _parse(self, raw: bytes | str, line: int) -> Document:
        where = f"{self.path}:{line}"
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise FormatError(f"{where}: not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
        return document_from_record(record, where)

    def __len__(self) -> int:
        return len(self._docs) if self._docs is not None else len(self._index)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in (self._docs if self._docs is not None else self._index)

    def __getitem__(self, doc_id: str) -> Document:
        if self._docs is not None:
            return self._docs[doc_id]
        i = self._index[doc_id]  # KeyError for an unknown id, as a Mapping should
        with self._lock:
            if self._fh is None:
                self._fh = open(self.path, "rb")
            self._fh.seek(self._offsets[i])
            raw = self._fh.readline()
        doc = self._parse(raw, self._lines[i])
        if doc.id != doc_id:
            raise FormatError(f"{self.path}:{self._lines[i]}: the line has several id fields; keep one of "
                              f"{', '.join(_ID_KEYS)}")
        return doc

    def __iter__(self) -> Iterator[str]:
        return iter(self._docs if self._docs is not None else self._index)

    def documents(self) -> Iterator[Document]:
        """All documents in file order, streamed (one pass over the file, no seeks)."""
        if self._docs is not None:
            yield from self._docs.values()
            return
        with open(self.path, "rb") as f:
            for n, raw in enumerate(f, 1):
                if raw.strip():
                    yield self._parse(raw, n)

    def values(self) -> Iterator[Document]:  # type: ignore[override]
        return self.documents()

    def items(self) -> Iterator[tuple[str, Document]]:  # type: ignore[override]
        return ((d.id, d) for d in self.documents())

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fh"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JsonlCorpus({str(self.path)!r}, {len(self)} documents)"
