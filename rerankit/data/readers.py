"""Readers for the benchmark file formats: topics (TSV or BEIR JSONL), rank_llm candidate JSON, TREC runs.

Every malformed line raises :class:`~rerankit.errors.FormatError` naming the file and line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from rerankit.errors import FormatError
from rerankit.runs import Qrels, open_text, read_trec_run, run_from_dict, trec_order
from rerankit.types import Document, Hit, Query, Ranking, Run

__all__ = ["read_topics", "judged_queries", "read_rank_llm_candidates", "read_trec_candidates", "read_excluded"]

log = logging.getLogger(__name__)


def read_topics(path: str | Path) -> dict[str, str]:
    """Query id -> text from a ``qid<TAB>text`` file (``.tsv``/``.txt``, optionally ``.gz``) or BEIR queries.jsonl."""
    path = Path(path)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    topics: dict[str, str] = {}
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            if name.endswith(".jsonl"):
                qid, text = _json_query(line, f"{path}:{n}")
            else:
                qid, sep, text = line.rstrip("\r\n").partition("\t")
                if not sep:
                    raise FormatError(f"{path}:{n}: a topics line needs 'qid<TAB>text', got {line.strip()[:80]!r}")
                qid = qid.strip()
            if not qid or not text.strip():
                raise FormatError(f"{path}:{n}: query {qid!r} has an empty id or text")
            if qid in topics:
                raise FormatError(f"{path}:{n}: query id {qid!r} appears twice")
            topics[qid] = text.strip()
    if not topics:
        raise FormatError(f"{path}: the topics file is empty")
    return topics


def _json_query(line: str, where: str) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise FormatError(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(record, dict):
        raise FormatError(f"{where}: a query line must be a JSON object")
    qid = next((record[k] for k in ("_id", "id", "qid", "query_id") if k in record), None)
    text = next((record[k] for k in ("text", "query", "title") if k in record), None)
    if qid is None or not isinstance(text, str):
        raise FormatError(f"{where}: a query record needs '_id' and 'text'")
    return str(qid), text


def judged_queries(topics: Mapping[str, str], qrels: Qrels, topics_path: str, qrels_path: str) -> tuple[
        dict[str, Query], Qrels]:
    """Keep the queries that have qrels, in topic order; qrels for queries without a topic are dropped (logged)."""
    queries = {qid: Query(qid, text) for qid, text in topics.items() if qid in qrels}
    if not queries:
        raise FormatError(f"no query id of {topics_path} appears in {qrels_path}: are they from the same benchmark?")
    orphans = [qid for qid in qrels if qid not in topics]
    if orphans:
        log.warning("%s judges %d queries missing from %s (e.g. %s); they are left out", qrels_path, len(orphans),
                    topics_path, orphans[0])
        qrels = {qid: qrels[qid] for qid in queries}
    return queries, qrels


def read_rank_llm_candidates(path: str | Path, queries: Mapping[str, Query]) -> Run:
    """rank_llm ``retrieve_results`` JSON (``[{query, hits: [{content, qid, docid, rank, score}]}]``) -> Run.

    Only queries in `queries` (the judged ones) are kept; rankings follow trec_eval order and each hit keeps its
    shipped rank in ``hit.meta["rank"]``.
    """
    path = Path(path)
    try:
        with open_text(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise FormatError(f"{path}: expected a JSON list of {{'query', 'hits'}} objects")
    run: Run = {}
    for i, entry in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("hits"), list):
            raise FormatError(f"{where}: expected an object with a 'hits' list")
        hits: dict[str, Hit] = {}
        scores: dict[str, float] = {}
        qid = None
        for j, h in enumerate(entry["hits"]):
            try:
                qid, docid, text = str(h["qid"]), str(h["docid"]), h["content"]
                scores[docid] = float(h["score"])
                rank = int(h.get("rank", j + 1))
            except (KeyError, TypeError, ValueError) as e:
                raise FormatError(f"{where}, hit {j}: needs qid, docid, content, score ({e})") from None
            if docid in hits:
                raise FormatError(f"{where}, hit {j}: document {docid!r} appears twice for query {qid!r}")
            hits[docid] = Hit(Document(docid, text), scores[docid], {"rank": rank})
        if qid is None or qid not in queries:
            continue
        if qid in run:
            raise FormatError(f"{where}: query {qid!r} appears twice")
        run[qid] = Ranking(queries[qid], tuple(hits[d] for d, _ in trec_order(scores)))
    if not run:
        raise FormatError(f"{path}: no judged query has candidates in this file")
    return run


def read_trec_candidates(path: str | Path, queries: Mapping[str, Query],
                         documents: Mapping[str, Document] | None) -> Run:
    """A TREC run restricted to the judged queries, with text from `documents` (empty text when None)."""
    if documents is None:
        run = read_trec_run(path, queries=queries)
    else:
        scores = {qid: r.scores() for qid, r in read_trec_run(path).items()}
        run = run_from_dict(scores, documents=documents, queries=queries)
    run = {qid: ranking for qid, ranking in run.items() if qid in queries}
    if not run:
        raise FormatError(f"{path}: no judged query has candidates in this run")
    return run


def read_excluded(original_jsonl: Path | None, exclude_file: Path | None) -> dict[str, frozenset[str]]:
    """BRIGHT's per-query excluded document ids, from the original examples and/or an ``exclude.*.txt`` file."""
    out: dict[str, set[str]] = {}
    if original_jsonl is not None and original_jsonl.exists():
        with open_text(original_jsonl) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    qid, ids = str(rec["id"]), rec.get("excluded_ids") or []
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise FormatError(f"{original_jsonl}:{n}: expected a JSON object with 'id' and "
                                      f"'excluded_ids'") from None
                ids = [str(d) for d in ids if d != "N/A"]
                if ids:
                    out.setdefault(qid, set()).update(ids)
    if exclude_file is not None and exclude_file.exists():
        with open_text(exclude_file) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise FormatError(f"{exclude_file}:{n}: expected 'qid docid', got {line.strip()[:80]!r}")
                out.setdefault(parts[0], set()).add(parts[1])
    return {q: frozenset(d) for q, d in out.items()}
