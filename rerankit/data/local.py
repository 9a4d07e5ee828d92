"""Local datasets: a mirror root (``beir/``, ``msmarco-passage/``, ``bright/``) or a single folder given by path.

Finding is cheap (file existence only) so `list_datasets` can probe every id; `Found.build()` reads the files.
A folder is either in BEIR layout (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``) or holds TREC files
(a ``topics*`` file, a ``qrels*`` file, optional runs ``run.<name>.*`` / rank_llm ``retrieve_results_*.json`` and an
optional ``corpus.jsonl``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rerankit.data.catalog import CatalogEntry
from rerankit.data.corpus import JsonlCorpus
from rerankit.data.dataset import CandidateSource, Dataset, DatasetCard
from rerankit.data.readers import (
    judged_queries,
    read_excluded,
    read_rank_llm_candidates,
    read_topics,
    read_trec_candidates,
)
from rerankit.errors import DataError
from rerankit.runs import read_qrels
from rerankit.types import Run

__all__ = ["Found", "find_in_mirror", "inspect_folder"]

_RUN_NAME_ALIASES = {"splade_pp_ed": "splade"}
# Short names rank_llm_data uses for BEIR runs in file names.
_BEIR_RUN_SHORT = {"trec-covid": "covid", "trec-news": "news"}


@dataclass
class Found:
    """A dataset located on disk: where, what it has, and how to read it."""

    location: str
    topics: Path
    qrels: Path
    corpus: Path | None = None
    corpus_looked: list[str] = field(default_factory=list)
    runs: dict[str, Path] = field(default_factory=dict)  # name -> TREC run or rank_llm JSON
    excluded: tuple[Path | None, Path | None] = (None, None)

    @property
    def candidate_names(self) -> tuple[str, ...]:
        return tuple(n for n, with_text in self.candidate_text.items() if with_text)

    @property
    def candidate_text(self) -> dict[str, bool]:
        """Every shipped run by name: True when its hits come with passage text (ready to rerank)."""
        return {n: p.suffix == ".json" or self.corpus is not None for n, p in self.runs.items()}

    def build(self, dataset_id: str, card: DatasetCard, relevance_level: int, hint: str = "") -> Dataset:
        """Read topics and qrels (judged queries only) and wire up the lazy corpus and the candidate runs.

        `hint` is appended to the error for a missing corpus (e.g. how to get the documents online).
        """
        qrels = read_qrels(self.qrels)
        queries, qrels = judged_queries(read_topics(self.topics), qrels, str(self.topics), str(self.qrels))
        corpus_path = self.corpus
        corpus = (lambda: JsonlCorpus(corpus_path)) if corpus_path is not None else None
        missing = "looked for " + ", ".join(self.corpus_looked) if self.corpus_looked else "no corpus file"
        candidates = {name: self._candidate(name, path, missing) for name, path in self.runs.items()}
        excluded = read_excluded(*self.excluded) if any(self.excluded) else {}
        return Dataset(dataset_id, queries, qrels, relevance_level=relevance_level, card=card, corpus=corpus,
                       corpus_missing=f"{missing} (the documents are not in this copy){hint}", candidates=candidates,
                       source=f"local:{self.location}", excluded_ids=excluded,
                       corpus_files=(corpus_path,) if corpus_path is not None else ())

    def _candidate(self, name: str, path: Path, missing: str) -> CandidateSource:
        if path.suffix == ".json":
            return CandidateSource(name, str(path), True, lambda ds, _text: read_rank_llm_candidates(path, ds.queries))

        def load(ds: Dataset, with_text: bool) -> Run:
            return read_trec_candidates(path, ds.queries, ds.corpus if with_text else None)

        why = f"the run file has no text and the corpus is not available ({missing})."
        return CandidateSource(name, str(path), self.corpus is not None, load, "" if self.corpus else why)


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _corpus_in(folder: Path) -> Path | None:
    return _first(folder / "corpus.jsonl", folder / "corpus.jsonl.gz")


def _run_name(path: Path) -> str:
    parts = path.name.split(".")
    if path.name.startswith("retrieve_results") and len(parts) > 2:
        name = parts[1]  # retrieve_results_dl19_top100.<name>.rank_llm_data.json
    elif parts[0] == "run" and len(parts) > 2:
        name = parts[1]  # run.<name>.<...>.trec
    else:
        name = parts[0]
    return _RUN_NAME_ALIASES.get(name, name)


def _runs_in(folder: Path, pattern: str = "*") -> dict[str, Path]:
    """Runs found in a folder; a rank_llm JSON (with text) wins over a TREC run of the same name."""
    runs: dict[str, Path] = {}
    for p in sorted(folder.glob(f"run.{pattern}")) + sorted(folder.glob(f"{pattern}.trec")):
        if p.is_file() and not p.name.startswith("qrels"):
            runs.setdefault(_run_name(p), p)
    for p in sorted(folder.glob("retrieve_results*.json")):
        runs[_run_name(p)] = p
    return runs


def _beir_layout(folder: Path) -> tuple[Path | None, str]:
    """(qrels file, "") when `folder` is a complete BEIR folder, else (None, what is missing)."""
    if not folder.is_dir():
        return None, f"{folder}/ (does not exist)"
    missing = [n for n, ok in (("corpus.jsonl", _corpus_in(folder)), ("queries.jsonl", (folder / "queries.jsonl")
                                                                       .is_file())) if not ok]
    qrels = _first(folder / "qrels" / "test.tsv", folder / "qrels" / "dev.tsv")
    if qrels is None:
        tsvs = sorted((folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        qrels = tsvs[0] if len(tsvs) == 1 else None
        if qrels is None:
            missing.append("qrels/test.tsv")
    if missing:
        return None, f"{folder}/ (BEIR layout: missing {', '.join(missing)})"
    return qrels, ""


def inspect_folder(folder: Path) -> tuple[Found | None, str]:
    """A dataset folder in BEIR layout or with TREC files; (None, why not) when it is neither."""
    qrels, why = _beir_layout(folder)
    if qrels is not None:
        return Found(str(folder), folder / "queries.jsonl", qrels, _corpus_in(folder), [], _runs_in(folder)), ""
    if not folder.is_dir():
        return None, why
    topics = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name.startswith(("topics", "queries"))
              and "-original" not in p.name]
    qrels_files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name.startswith("qrels")]
    if len(topics) != 1 or len(qrels_files) != 1:
        return None, (f"{folder}/ (neither BEIR layout nor TREC files: needs exactly one topics*/queries* file and "
                      f"one qrels* file, found {[p.name for p in topics]} and {[p.name for p in qrels_files]})")
    corpus = _corpus_in(folder)
    looked = [] if corpus else [f"{folder}/corpus.jsonl"]
    return Found(str(folder), topics[0], qrels_files[0], corpus, looked, _runs_in(folder)), ""


def _find_beir(entry: CatalogEntry, root: Path) -> tuple[Found | None, list[str]]:
    looked: list[str] = []
    folders = [root / "beir" / entry.name] + ([root / "beir" / entry.flat_name] if "/" in entry.name else [])
    tq = root / "beir" / "topics-qrels"
    short = _BEIR_RUN_SHORT.get(entry.name, entry.flat_name)
    shipped = _runs_in(tq, f"*.{short}.*") if tq.is_dir() else {}
    for folder in folders:
        qrels, why = _beir_layout(folder)
        if qrels is not None:
            runs = {**shipped, **_runs_in(folder)}
            return Found(str(folder), folder / "queries.jsonl", qrels, _corpus_in(folder), [], runs), looked
        looked.append(why)
    stem = f"beir-v1.0.0-{entry.flat_name}.test"
    topics = _first(tq / f"topics.{stem}.tsv.gz", tq / f"topics.{stem}.tsv")
    qrels_file = _first(tq / f"qrels.{stem}.txt")
    if topics is None or qrels_file is None:
        looked.append(f"{tq}/topics.{stem}.tsv.gz + qrels.{stem}.txt (not found)")
        return None, looked
    corpus_looked = [f"{f}/corpus.jsonl" for f in folders]
    return Found(str(tq), topics, qrels_file, None, corpus_looked, shipped), looked


def _find_dl(entry: CatalogEntry, root: Path) -> tuple[Found | None, list[str]]:
    found, why = inspect_folder(root / "msmarco-passage" / entry.name)
    return found, [] if found else [why]


def _find_bright(entry: CatalogEntry, root: Path) -> tuple[Found | None, list[str]]:
    folder = root / "bright"
    topics = _first(folder / f"topics.bright-{entry.name}.tsv.gz", folder / f"topics.bright-{entry.name}.tsv")
    qrels = _first(folder / f"qrels.bright-{entry.name}.txt")
    if topics is None or qrels is None:
        return None, [f"{folder}/topics.bright-{entry.name}.tsv.gz + qrels.bright-{entry.name}.txt (not found)"]
    corpus = _corpus_in(folder / entry.name)
    excluded = (folder / f"topics.bright-{entry.name}-original.jsonl.gz", folder / f"exclude.bright-{entry.name}.txt")
    looked = [] if corpus else [f"{folder / entry.name}/corpus.jsonl"]
    return Found(str(folder), topics, qrels, corpus, looked, {}, excluded), []


_FINDERS: dict[str, Callable[[CatalogEntry, Path], tuple[Found | None, list[str]]]] = {
    "beir": _find_beir,
    "msmarco-passage": _find_dl,
    "bright": _find_bright,
}


def find_in_mirror(entry: CatalogEntry, root: Path) -> tuple[Found | None, list[str]]:
    """Locate `entry` under a mirror root; returns (found or None, the places looked, each with why it failed)."""
    if not root.is_dir():
        return None, [f"{root}/ (the mirror root does not exist)"]
    finder = _FINDERS.get(entry.family)
    if finder is None:
        raise DataError(f"no local layout is defined for dataset family {entry.family!r}")
    return finder(entry, root)
