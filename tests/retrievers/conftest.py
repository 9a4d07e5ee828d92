"""Shared helpers for retriever tests: a small real corpus and searching a saved index from a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rerankit.types import Document, Query, Run

SEASONS = [
    Document("d1", "The tilt of Earth's axis causes the seasons: each hemisphere gets more direct sunlight in its "
                   "summer.", title="Seasons"),
    Document("d2", "Python is a programming language with dynamic typing and garbage collection."),
    Document("d3", "Summer happens when a hemisphere leans toward the sun and receives longer days of sunshine."),
    Document("d4", "The stock market fell sharply on Monday after the central bank raised interest rates."),
    Document("d5", "Photosynthesis converts light into chemical energy stored in sugars."),
    Document("d6", "The distance between the Earth and the Sun changes little over the year and does not cause "
                   "the seasons."),
    Document("d7", "A recipe for bread: flour, water, salt and yeast, baked at high heat."),
    Document("d8", "Glaciers form where snow accumulates faster than it melts over many years."),
]
QUERIES = [Query("q1", "what causes the seasons on earth"), Query("q2", "how do plants turn light into energy"),
           Query("q3", "programming language garbage collection"), Query("q4", "bank interest rates")]

_SCRIPT = """
import json, sys
from rerankit.registry import stage_class
from rerankit.types import Query
name, path, k, options = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
queries = [Query(q["id"], q["text"]) for q in json.loads(sys.stdin.read())]
run = stage_class("retriever", name).load(path, **options).search_many(queries, k)
print(json.dumps({qid: [[h.doc.id, h.score, h.doc.text] for h in r.hits] for qid, r in run.items()}))
"""


@pytest.fixture(scope="session")
def minilm_encoder(minilm):
    """One loaded all-MiniLM-L6-v2 shared by the dense and hybrid tests (loading it costs seconds)."""
    from rerankit.retrievers.dense import load_sentence_transformer

    return load_sentence_transformer(str(minilm))


def as_lists(run: Run) -> dict[str, list[list]]:
    return {qid: [[h.doc.id, h.score, h.doc.text] for h in r.hits] for qid, r in run.items()}


@pytest.fixture
def search_in_new_process():
    """Load an index folder in a new Python process (by registry name), search, and return the run as lists."""

    def run(name: str, path: Path, queries: list[Query], k: int, **options) -> dict[str, list[list]]:
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, name, str(path), str(k), json.dumps(options)],
                              input=json.dumps([{"id": q.id, "text": q.text} for q in queries]),
                              capture_output=True, text=True, timeout=300,
                              env={**__import__("os").environ, "TQDM_DISABLE": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
