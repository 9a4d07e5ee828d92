"""JsonlCorpus: lazy lookups, file order, duplicate ids and malformed lines named by file and line."""

from __future__ import annotations

import gzip
import json
import pickle
import time

import pytest

from rerankit.data.corpus import JsonlCorpus
from rerankit.errors import FormatError


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


DOCS = [{"_id": "d2", "title": "Second", "text": "beta"}, {"_id": "d1", "title": "", "text": "alpha \"quoted\""},
        {"title": "T", "text": "id not first", "_id": "d3"}, {"id": 7, "contents": "pyserini style"}]


def test_lookup_iteration_and_len(tmp_path):
    corpus = JsonlCorpus(_write(tmp_path / "corpus.jsonl", DOCS))
    assert len(corpus) == 4
    assert list(corpus) == ["d2", "d1", "d3", "7"]  # file order
    assert corpus["d1"].text == 'alpha "quoted"' and corpus["d2"].title == "Second"
    assert corpus["d3"].full_text == "T id not first"
    assert corpus["7"].text == "pyserini style"
    assert "d2" in corpus and "nope" not in corpus
    with pytest.raises(KeyError):
        corpus["nope"]
    assert [d.id for d in corpus.values()] == ["d2", "d1", "d3", "7"]
    clone = pickle.loads(pickle.dumps(corpus))
    assert clone["d3"].title == "T"


def test_gzipped_corpus(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in DOCS)
    corpus = JsonlCorpus(path)
    assert list(corpus) == ["d2", "d1", "d3", "7"] and corpus["d1"].text == 'alpha "quoted"'


def test_duplicate_ids_name_both_lines(tmp_path):
    path = _write(tmp_path / "corpus.jsonl", DOCS + [{"_id": "d1", "text": "again"}])
    with pytest.raises(FormatError, match=r"corpus.jsonl:5: document id 'd1' appears twice \(first at line 2\)"):
        JsonlCorpus(path)


def test_malformed_lines_are_named(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": broken}\n', encoding="utf-8")
    corpus = JsonlCorpus(path)  # the id scan does not parse every line...
    with pytest.raises(FormatError, match=r"corpus.jsonl:2: not valid JSON"):
        corpus["b"]  # ...but reading the line does, and names it
    with pytest.raises(FormatError, match=r"corpus.jsonl:2"):
        list(corpus.values())
    _write(path, [{"_id": "x", "title": "no text"}])
    with pytest.raises(FormatError, match=r"corpus.jsonl:1: document 'x' has no text field"):
        JsonlCorpus(path)["x"]
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(FormatError, match="empty"):
        JsonlCorpus(path)


def test_scifact_corpus_is_fast(shared_data):
    start = time.perf_counter()
    corpus = JsonlCorpus(shared_data / "beir" / "scifact" / "corpus.jsonl")
    n_chars = sum(len(d.text) + len(d.title) for d in corpus.values())
    elapsed = time.perf_counter() - start
    assert len(corpus) == 5183
    assert corpus["4983"].title.startswith("Microstructural development of human newborn cerebral white matter")
    assert n_chars > 7_000_000
    assert elapsed < 2.0, f"indexing and reading SciFact took {elapsed:.2f}s"
