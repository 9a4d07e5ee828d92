"""Runs (``dict[qid, Ranking]``) to and from TREC run files, plain dicts and ``ranx.Run``; qrels reading.

TREC run lines are ``qid Q0 docid rank score tag``; qrels lines are ``qid 0 docid rel``. Malformed lines raise
:class:`~rerankit.errors.FormatError` naming the file and line number; nothing is silently skipped.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rerankit.errors import FormatError, InputError
from rerankit.types import Document, Hit, Query, Ranking, Run

if TYPE_CHECKING:
    import ranx

__all__ = [
    "Qrels",
    "open_text",
    "read_trec_run",
    "write_trec_run",
    "read_qrels",
    "write_qrels",
    "run_to_dict",
    "run_from_dict",
    "run_to_ranx",
    "run_from_ranx",
    "qrels_to_ranx",
    "trec_order",
    "strictly_decreasing",
    "tie_broken_scores",
]

log = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]
"""Relevance judgements: query id -> document id -> grade."""


class _CheckedText(io.TextIOWrapper):
    """UTF-8 text whose decoding and gzip errors become one FormatError naming the file (and the line, if text)."""

    def __init__(self, raw: io.IOBase, path: Path) -> None:
        super().__init__(raw, encoding="utf-8")
        self._path = path

    def _error(self, exc: Exception) -> FormatError:
        if isinstance(exc, UnicodeDecodeError):
            line, byte = _first_undecodable_line(self._path)
            where = f"{self._path}:{line}" if line else str(self._path)
            return FormatError(f"{where}: not UTF-8 text (byte 0x{byte:02x} cannot be decoded); "
                               "re-encode the file as UTF-8")
        return FormatError(f"{self._path}: the gzip file is truncated or corrupt ({exc}); fetch or compress it again")

    def __next__(self) -> str:
        try:
            return super().__next__()
        except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._error(exc) from None

    def read(self, size: int | None = -1) -> str:
        try:
            return super().read(size)
        except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._error(exc) from None

    def readline(self, size: int | None = -1) -> str:
        try:
            return super().readline(size)
        except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._error(exc) from None


def _first_undecodable_line(path: Path) -> tuple[int, int]:
    """(line number, offending byte) of the first line that is not UTF-8; text is decoded in chunks, so the line
    is found again here, only when an error has already happened."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            for n, raw in enumerate(f, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return n, raw[exc.start]
    except (OSError, EOFError, zlib.error):
        pass
    return 0, 0


def open_text(path: str | Path) -> TextIO:
    """Open a UTF-8 text file for reading, transparently gunzipping ``.gz`` files.

    Bytes that are not UTF-8 and truncated or corrupt gzip data raise :class:`FormatError` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        raise FormatError(f"{path} is a directory, not a file")
    try:
        raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    return _CheckedText(raw, path)  # type: ignore[arg-type]


def trec_order(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Sort doc scores the way trec_eval does: score descending, ties by document id descending."""
    by_id_desc = sorted(scores.items(), key=lambda kv: kv[0], reverse=True)
    return sorted(by_id_desc, key=lambda kv: -kv[1])  # stable: ties keep docid-descending order


def read_trec_run(
    path: str | Path,
    documents: Callable[[str], Document] | Mapping[str, Document] | None = None,
    queries: Mapping[str, Query] | None = None,
) -> Run:
    """Read a TREC run file into rankings ordered as trec_eval would order them.

    `documents` (a mapping or a lookup function) supplies text for each hit; without it hits carry empty text.
    `queries` supplies query text; without it the query id stands in for the text.
    """
    per_query: dict[str, dict[str, float]] = {}
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 6:
                raise FormatError(f"{path}:{n}: a TREC run line needs 6 fields 'qid Q0 docid rank score tag', "
                                  f"got {len(parts)}: {line.strip()[:80]!r}")
            qid, _, docid, rank, score, _ = parts
            try:
                int(rank)
                value = float(score)
            except ValueError:
                raise FormatError(f"{path}:{n}: rank must be an integer and score a number: "
                                  f"{line.strip()[:80]!r}") from None
            if not math.isfinite(value):
                raise FormatError(f"{path}:{n}: the score {score!r} is not a finite number; a run's scores must "
                                  "order its documents")
            docs = per_query.setdefault(qid, {})
            if docid in docs:
                raise FormatError(f"{path}:{n}: document {docid!r} appears twice for query {qid!r}")
            docs[docid] = value
    if not per_query:
        raise FormatError(f"{path}: the run file is empty")
    return run_from_dict(per_query, documents=documents, queries=queries)


def write_trec_run(run: Run, path: str | Path | TextIO, tag: str = "rerankit") -> None:
    """Write a run in TREC format (one line per hit, ranks from 1, queries in insertion order)."""
    lines = [line for ranking in run.values() for line in ranking.to_trec_lines(tag)]  # all checked before writing
    if isinstance(path, (str, Path)):
        if Path(path).is_dir():
            raise InputError(f"{path} is a directory: give a file path for the run")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
    else:
        path.writelines(line + "\n" for line in lines)


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels (``qid iter docid rel``) or BEIR qrels TSV (``query-id corpus-id score`` with header)."""
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    conflicts: list[str] = []
    width = 0  # fields per line, fixed by the first line: a short TREC line must not pass as a BEIR one
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if n == 1 and parts[0] in ("query-id", "query_id", "qid"):
                continue  # BEIR header
            width = width or len(parts)
            if len(parts) != width and width in (3, 4):
                raise FormatError(f"{path}:{n}: {len(parts)} fields where the file's lines have {width}: "
                                  f"{line.strip()[:80]!r}")
            if len(parts) == 4:
                qid, _, docid, rel = parts
            elif len(parts) == 3:
                qid, docid, rel = parts
            else:
                raise FormatError(f"{path}:{n}: a qrels line needs 'qid 0 docid rel' (TREC) or "
                                  f"'qid docid rel' (BEIR TSV), got {len(parts)} fields: {line.strip()[:80]!r}")
            try:
                grade = int(rel)
            except ValueError:
                try:
                    grade = float(rel)
                except ValueError:
                    raise FormatError(f"{path}:{n}: relevance must be an integer, got {rel!r}") from None
                if grade != int(grade):
                    raise FormatError(f"{path}:{n}: relevance must be an integer, got {rel!r}") from None
                grade = int(grade)
            judged = qrels.setdefault(qid, {})
            if docid in judged and judged[docid] != grade:
                conflicts.append(f"query {qid!r} document {docid!r}: grade {judged[docid]} on line "
                                 f"{first_line[qid, docid]}, {grade} on line {n}")
                continue
            first_line.setdefault((qid, docid), n)
            judged[docid] = grade
    if conflicts:
        raise FormatError(f"{path}: {len(conflicts)} judgement(s) given twice with different grades, so the file does "
                          f"not say which is meant: {'; '.join(conflicts[:5])}{' ...' if len(conflicts) > 5 else ''}."
                          " Keep one line per (query, document).")
    if not qrels:
        raise FormatError(f"{path}: the qrels file is empty")
    return qrels


def write_qrels(qrels: Qrels, path: str | Path) -> None:
    """Write qrels in TREC format."""
    with open(path, "w", encoding="utf-8") as f:
        for qid, docs in qrels.items():
            for docid, rel in docs.items():
                f.write(f"{qid} 0 {docid} {rel}\n")


def run_to_dict(run: Run) -> dict[str, dict[str, float]]:
    """Run -> ``{qid: {docid: score}}`` (the pytrec_eval/ranx input form).

    Scores are made strictly decreasing in each ranking's order (see `Ranking.strictly_decreasing`), so a tool that
    sorts by score sees the order the stage returned, ties included.
    """
    return {qid: ranking.strictly_decreasing().scores() for qid, ranking in run.items()}


def strictly_decreasing(run: Run) -> Run:
    """Every ranking with strictly decreasing scores in its own order (original scores kept in hit meta)."""
    return {qid: ranking.strictly_decreasing() for qid, ranking in run.items()}


def run_from_dict(
    scores: Mapping[str, Mapping[str, float]],
    documents: Callable[[str], Document] | Mapping[str, Document] | None = None,
    queries: Mapping[str, Query] | None = None,
) -> Run:
    """``{qid: {docid: score}}`` -> Run, each ranking in trec_eval order (score desc, docid desc on ties)."""
    lookup = _doc_lookup(documents)
    run: Run = {}
    for qid, docs in scores.items():
        query = queries[qid] if queries is not None and qid in queries else Query(qid, qid)
        hits = tuple(Hit(lookup(d), float(s)) for d, s in trec_order(docs))
        run[qid] = Ranking(query, hits)
    return run


def _doc_lookup(documents: Callable[[str], Document] | Mapping[str, Document] | None) -> Callable[[str], Document]:
    if documents is None:
        return lambda d: Document(d, "")
    if isinstance(documents, Mapping):
        def lookup(d: str) -> Document:
            try:
                return documents[d]
            except KeyError:
                raise InputError(f"document {d!r} of the run is not in the corpus") from None
        return lookup
    return documents


def run_to_ranx(run: Run, name: str = "run") -> ranx.Run:
    """Run -> ``ranx.Run`` with scores n, n-1, ..., 1 in each ranking's order, so ranx evaluates exactly that order."""
    from ranx import Run as RanxRun

    ranked = {qid: {d: float(len(r.hits) - i) for i, d in enumerate(r.ids())} for qid, r in run.items()}
    return RanxRun(ranked, name=name)


def tie_broken_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Replace scores by descending integers following trec_eval's order, so every evaluator agrees on ties.

    For ``{docid: score}`` dicts, which carry no order of their own; a `Ranking`'s order is its hit order.
    """
    out: dict[str, dict[str, float]] = {}
    for qid, docs in scores.items():
        ordered = trec_order(docs)
        n = len(ordered)
        out[qid] = {d: float(n - i) for i, (d, _) in enumerate(ordered)}
    return out


def run_from_ranx(run: ranx.Run, queries: Mapping[str, Query] | None = None,
                  documents: Mapping[str, Document] | None = None) -> Run:
    """``ranx.Run`` -> Run."""
    return run_from_dict(run.to_dict(), documents=documents, queries=queries)


def qrels_to_ranx(qrels: Qrels) -> ranx.Qrels:
    """Qrels -> ``ranx.Qrels``."""
    from ranx import Qrels as RanxQrels

    return RanxQrels({q: dict(d) for q, d in qrels.items()})


def iter_trec_lines(run: Run, tag: str = "rerankit") -> Iterable[str]:
    """All TREC lines of a run, in order."""
    for ranking in run.values():
        yield from ranking.to_trec_lines(tag)
