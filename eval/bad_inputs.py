"""Bad-input catalogue: every case a user can get wrong, on the CLI, the Python API and the HTTP service.

Each case states what should happen (a clear error naming the problem, or a run that works) and the table says what
did happen. Verdicts:

- ``ok``: as expected (a rerankit error / a JSON HTTP error naming the problem; or success with the right result)
- ``TRACEBACK``: a Python traceback, or an exception that is not a rerankit error (TypeError, KeyError, ...)
- ``SILENT``: the bad input was accepted and a result came out (a silently wrong answer)
- ``UNCLEAR``: it failed, but the message does not name the problem (the expected words are missing)
- ``NOT-JSON`` / ``LEAK``: an HTTP error that is not JSON, or that shows a server path or exception class name
- ``BROKEN``: a valid input that should work and did not

    python eval/bad_inputs.py --data-dir ../shared/data              # all three surfaces
    python eval/bad_inputs.py --data-dir ../shared/data --skip-http  # CLI and Python API only

Needs the packaged all-MiniLM-L6-v2 (cross-encoder cases; its classification head is untrained, which is itself one
of the cases) in $RERANKIT_MODELS. Writes eval/results/bad_inputs.md and .json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankit.server.ports import free_local_port

ROOT = Path(__file__).resolve().parents[1]
_LEAKS = re.compile(r"(/root/|/home/|/work/|/tmp/|site-packages|\b[A-Z][A-Za-z]+(Error|Exception)\b)")


@dataclass
class Case:
    surface: str
    name: str
    expected: str  # "error: words that must appear" or "works: what must be true"
    run: Callable[[], tuple[str, str]]  # -> (verdict, what happened)


@dataclass
class Env:
    data_dir: Path
    work: Path
    minilm: Path | None
    folder: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder = make_folder(self.work / "tiny")


# ---- a tiny valid dataset folder (TREC layout) that each case then breaks in one way -----------------------------
DOCS = [("d1", "Tides are caused by the gravity of the moon and the sun."),
        ("d2", "Sourdough bread rises because wild yeast makes gas."),
        ("d3", "Spring tides happen when the sun and moon line up."),
        ("d4", "The capital of France is Paris."),
        ("d5", "Vitamin D helps the body absorb calcium for strong bones.")]
TOPICS = "q1\twhat causes tides\nq2\thow does bread rise\nq3\tvitamin d and bones\n"
QRELS = "q1 0 d1 2\nq1 0 d3 1\nq2 0 d2 1\nq3 0 d5 1\n"


def make_folder(folder: Path, topics: bytes | None = None, qrels: bytes | None = None,
                topics_name: str = "topics.tsv", qrels_name: str = "qrels.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / topics_name).write_bytes(TOPICS.encode() if topics is None else topics)
    (folder / qrels_name).write_bytes(QRELS.encode() if qrels is None else qrels)
    with open(folder / "corpus.jsonl", "w") as f:
        for i, t in DOCS:
            f.write(json.dumps({"_id": i, "title": "", "text": t}) + "\n")
    return folder


# ---- verdicts ----------------------------------------------------------------------------------------------------
def _words_in(words: str, text: str) -> bool:
    return all(w.lower() in text.lower() for w in words.split("|"))


def expect_error_cli(args: list[str], words: str, env: Env, timeout: int = 300) -> tuple[str, str]:
    cmd = [sys.executable, "-m", "rerankit.cli", *args]
    envvars = {**os.environ, "RERANKIT_CACHE": str(env.work / "cache"), "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=envvars, cwd=env.work)
    out = (proc.stdout + proc.stderr).strip()
    last = out.splitlines()[-1] if out else ""
    if "Traceback" in out:
        return "TRACEBACK", _short(last)
    if proc.returncode == 0:
        return "SILENT", f"exit 0: {_short(last)}"
    if not _words_in(words, out):
        return "UNCLEAR", f"exit {proc.returncode}: {_short(last)}"
    return "ok", f"exit {proc.returncode}: {_short(_line_with(words, out))}"


def expect_success_cli(args: list[str], check: Callable[[str], bool], env: Env, timeout: int = 300
                       ) -> tuple[str, str]:
    cmd = [sys.executable, "-m", "rerankit.cli", *args]
    envvars = {**os.environ, "RERANKIT_CACHE": str(env.work / "cache"), "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=envvars, cwd=env.work)
    out = (proc.stdout + proc.stderr).strip()
    if "Traceback" in out:
        return "TRACEBACK", _short(out.splitlines()[-1])
    if proc.returncode != 0 or not check(proc.stdout):
        return "BROKEN", f"exit {proc.returncode}: {_short(out.splitlines()[-1] if out else '')}"
    return "ok", f"exit 0: {_short(proc.stdout.strip().splitlines()[-1])}"


def expect_error_api(fn: Callable[[], Any], words: str, error: str = "RerankitError") -> tuple[str, str]:
    from rerankit import errors

    wanted = getattr(errors, error)
    try:
        result = fn()
    except wanted as exc:
        msg = f"{type(exc).__name__}: {exc}"
        return ("ok" if _words_in(words, str(exc)) else "UNCLEAR"), _short(msg)
    except errors.RerankitError as exc:
        return "UNCLEAR", _short(f"{type(exc).__name__} (expected {error}): {exc}")
    except Exception as exc:  # anything else reaches the user as a traceback from deep inside
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return "TRACEBACK", _short(f"{type(exc).__name__}: {exc} ({Path(frame.filename).name}:{frame.lineno})")
    return "SILENT", _short(f"returned {result!r}")


def expect_success_api(fn: Callable[[], Any], check: Callable[[Any], bool], what: str) -> tuple[str, str]:
    try:
        result = fn()
    except Exception as exc:
        return "BROKEN", _short(f"{type(exc).__name__}: {exc}")
    return ("ok" if check(result) else "SILENT"), _short(what if check(result) else f"wrong result: {result!r}")


def _short(text: str, n: int = 110) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 3] + "..."


def _line_with(words: str, text: str) -> str:
    first = words.split("|")[0].lower()
    return next((line for line in text.splitlines() if first in line.lower()), text.splitlines()[-1])


# ---- CLI cases -----------------------------------------------------------------------------------------------------
def cli_cases(env: Env) -> list[Case]:
    dl19, f = "msmarco-passage/trec-dl-2019", str(env.folder)
    dd = ["--data-dir", str(env.data_dir)]
    w = env.work
    run_file = env.data_dir / "msmarco-passage/trec-dl-2019/run.bm25.dl19.top100.rank_llm_data.trec"
    head = b"".join(run_file.read_bytes().splitlines(keepends=True)[:5])
    (w / "latin1.trec").write_bytes(head + "156493 Q0 caf\xe9 6 1.0 x\n".encode("latin-1"))
    (w / "nan.trec").write_bytes(head + b"156493 Q0 7187159 6 nan x\n")
    (w / "inf.trec").write_bytes(head + b"156493 Q0 7187159 6 inf x\n")
    (w / "short.trec").write_bytes(head + b"156493 Q0 7187159 6 1.0\n")
    (w / "dup.trec").write_bytes(head + head.splitlines(keepends=True)[0])
    (w / "empty.trec").write_bytes(b"")
    (w / "outdir").mkdir(exist_ok=True)
    (w / "afile").write_text("x")
    topics_gz = gzip.compress(TOPICS.encode() * 200)
    bad = {
        "latin1-topics": make_folder(w / "b1", topics="q1\twhat causes tides in M\xe4rz\n".encode("latin-1")),
        "latin1-qrels": make_folder(w / "b2", qrels=b"q1 0 d1 1\nq1 0 d\xf62 1\n"),
        "truncated-gz": make_folder(w / "b3", topics=topics_gz[: len(topics_gz) // 2], topics_name="topics.tsv.gz"),
        "conflicting-qrels": make_folder(w / "b4", qrels=b"q1 0 d1 2\nq1 0 d1 0\nq2 0 d2 1\n"),
        "empty-qrels": make_folder(w / "b5", qrels=b""),
        "grade-text": make_folder(w / "b6", qrels=b"q1 0 d1 high\n"),
        "nan-topics-file": make_folder(w / "b7", topics=b"q1 what causes tides\n"),
    }
    ce = ["--reranker", "cross-encoder", "--model", str(env.minilm)] if env.minilm else None
    cases = [
        ("unknown dataset id", ["eval", "--dataset", "beir/no-such-set", *dd], "no-such-set"),
        ("--depth 0", ["eval", "--dataset", dl19, *dd, "--candidates", "bm25", "--depth", "0"], "--depth"),
        ("--depth negative", ["eval", "--dataset", dl19, *dd, "--candidates", "bm25", "--depth", "-3"], "--depth"),
        ("-k 0", ["eval", "--dataset", f, "-k", "0"], "-k"),
        ("--queries 0", ["eval", "--dataset", f, "--queries", "0"], "--queries"),
        ("--depth not a number", ["eval", "--dataset", f, "--depth", "ten"], "--depth"),
        ("unknown metric", ["eval", "--dataset", f, "--metrics", "ndcg@ten"], "metric"),
        ("unknown shipped candidates", ["eval", "--dataset", dl19, *dd, "--candidates", "nope"], "nope"),
        ("-o without =", ["eval", "--dataset", f, "-o", "stemmer"], "key=value"),
        ("-o unknown stemmer", ["eval", "--dataset", f, "-o", "stemmer=klingon"], "unknown stemmer|klingon"),
        ("-o unknown BM25 method", ["eval", "--dataset", f, "-o", "method=bm99"], "unknown BM25 method"),
        ("-o unknown option name", ["eval", "--dataset", f, "-o", "colour=red"], "colour"),
        ("-o k1 not a number", ["eval", "--dataset", f, "-o", "k1=big"], "k1"),
        ("-o stopwords unknown", ["eval", "--dataset", f, "-o", "stopwords=french"], "stopwords"),
        ("-o integer option given text", ["eval", "--dataset", f, "-o", "n_threads=many"], "n_threads|integer"),
        ("--output is a directory", ["eval", "--dataset", f, "--output", str(w / "outdir")], "is a directory"),
        ("--output under a file", ["eval", "--dataset", f, "--output", str(w / "afile" / "run.trec")], "is a file"),
        ("unknown reranker", ["eval", "--dataset", f, "--reranker", "nonexistent"], "unknown reranker"),
        ("reranker model path missing", ["eval", "--dataset", f, "--reranker", "cross-encoder", "--model",
                                         str(w / "no-model")], "not found|no-model"),
        ("unknown engine", ["eval", "--dataset", f, "--reranker", "yes-no", "--engine", "warp",
                            "--model", str(w / "no-model")], "unknown engine|warp"),
        ("non-UTF-8 topics", ["eval", "--dataset", str(bad["latin1-topics"])], "not UTF-8|topics.tsv:1"),
        ("non-UTF-8 qrels", ["eval", "--dataset", str(bad["latin1-qrels"])], "not UTF-8|qrels.txt:2"),
        ("truncated .gz topics", ["eval", "--dataset", str(bad["truncated-gz"])], "truncated or corrupt"),
        ("conflicting duplicate qrels", ["eval", "--dataset", str(bad["conflicting-qrels"])],
         "query 'q1' document 'd1'"),
        ("empty qrels file", ["eval", "--dataset", str(bad["empty-qrels"])], "empty"),
        ("qrels grade not a number", ["eval", "--dataset", str(bad["grade-text"])], "relevance must be an integer"),
        ("topics line without a tab", ["eval", "--dataset", str(bad["nan-topics-file"])], "qid<TAB>text"),
        ("folder that is not a dataset", ["eval", "--dataset", str(w / "outdir")], "not a dataset folder"),
        ("--data-dir is a file", ["eval", "--dataset", "beir/scifact", "--data-dir", str(w / "afile")], "afile"),
        ("rerank: non-UTF-8 run file", ["rerank", "--run", str(w / "latin1.trec"), "--dataset", dl19, *dd,
                                        "--reranker", "yes-no", "--output", str(w / "o.trec")], "not UTF-8"),
        ("rerank: NaN score in run", ["rerank", "--run", str(w / "nan.trec"), "--dataset", dl19, *dd,
                                      "--reranker", "yes-no", "--output", str(w / "o.trec")], "not a finite number"),
        ("rerank: inf score in run", ["rerank", "--run", str(w / "inf.trec"), "--dataset", dl19, *dd,
                                      "--reranker", "yes-no", "--output", str(w / "o.trec")], "not a finite number"),
        ("rerank: 5-field run line", ["rerank", "--run", str(w / "short.trec"), "--dataset", dl19, *dd,
                                      "--reranker", "yes-no", "--output", str(w / "o.trec")], "6 fields"),
        ("rerank: document twice", ["rerank", "--run", str(w / "dup.trec"), "--dataset", dl19, *dd,
                                    "--reranker", "yes-no", "--output", str(w / "o.trec")], "appears twice"),
        ("rerank: empty run file", ["rerank", "--run", str(w / "empty.trec"), "--dataset", dl19, *dd,
                                    "--reranker", "yes-no", "--output", str(w / "o.trec")], "empty"),
        ("rerank: run file missing", ["rerank", "--run", str(w / "missing.trec"), "--dataset", dl19, *dd,
                                      "--reranker", "yes-no", "--output", str(w / "o.trec")], "does not exist"),
        ("rerank: --output a directory", ["rerank", "--run", str(run_file), "--dataset", dl19, *dd,
                                          "--reranker", "yes-no", "--output", str(w / "outdir")], "is a directory"),
        ("rerank: --depth 0", ["rerank", "--run", str(run_file), "--dataset", dl19, *dd, "--reranker", "yes-no",
                               "--depth", "0", "--output", str(w / "o.trec")], "--depth"),
        ("search: blank query", ["search", "--dataset", f, "   "], "empty"),
        ("search: -k 0", ["search", "--dataset", f, "-k", "0", "tides"], "-k"),
        ("search: index folder missing", ["search", "--index", str(w / "no-index"), "tides"], "does not exist"),
        ("search: --dataset and --index", ["search", "--dataset", f, "--index", str(w / "outdir"), "tides"],
         "exactly one"),
        ("search: saved index folder is empty", ["search", "--index", str(w / "outdir"), "tides"], "outdir"),
        ("rag: blank query", ["rag", "--dataset", f, "--query", " ", "--model", str(w / "no-model")], "empty"),
        ("eval without --dataset", ["eval"], "--dataset"),
        ("unknown command", ["evaluate", "--dataset", f], "No such command"),
    ]
    out = [Case("CLI", name, f"error: {words.replace('|', ' + ')}",
                lambda a=args, wd=words: expect_error_cli(a, wd, env)) for name, args, words in cases]
    if ce:
        out.append(Case("CLI", "cross-encoder without a trained head", "error: allow_untrained_head",
                        lambda: expect_error_cli(["eval", "--dataset", f, *ce], "allow_untrained_head|classifier",
                                                 env)))
        out.append(Case("CLI", "rerank id-only candidates (no corpus)", "error: reranking needs the corpus",
                        lambda: expect_error_cli(["eval", "--dataset", "beir/trec-covid", *dd, "--candidates", "bm25",
                                                  *ce, "-o", "allow_untrained_head=true"], "no text", env)))
    out += [
        Case("CLI", "-o stemmer=none (no stemming)", "works: a metrics table",
             lambda: expect_success_cli(["eval", "--dataset", f, "-o", "stemmer=none"], lambda s: "nDCG@10" in s,
                                        env)),
        Case("CLI", "id-only shipped run scored (trec-covid)", "works: nDCG@10 0.5947",
             lambda: expect_success_cli(["eval", "--dataset", "beir/trec-covid", *dd, "--candidates", "bm25"],
                                        lambda s: "0.5947" in s, env)),
    ]
    return out


# ---- Python API cases ----------------------------------------------------------------------------------------------
def api_cases(env: Env) -> list[Case]:
    from rerankit import Pipeline, build, evaluate, load_dataset
    from rerankit.evaluation import compare
    from rerankit.retrievers.bm25 import BM25Retriever
    from rerankit.runs import read_qrels, read_trec_run, write_trec_run
    from rerankit.types import Document, Hit, Query, Ranking

    docs = [Document(i, t) for i, t in DOCS]
    bm25 = BM25Retriever(show_progress=False).index(docs)
    w = env.work
    (w / "api_latin1.trec").write_bytes(b"q1 Q0 d1 1 2.0 x\nq1 Q0 d\xe92 2 1.0 x\n")
    (w / "api_nan.trec").write_text("q1 Q0 d1 1 2.0 x\nq1 Q0 d2 2 NaN x\n")
    (w / "api_conflict.qrels").write_text("q1 0 d1 1\nq1 0 d1 2\n")
    data = gzip.compress(("\n".join(f"q{i} 0 d{i} 1" for i in range(3000)) + "\n").encode())
    (w / "api_cut.qrels.gz").write_bytes(data[: len(data) - 30])
    tied = Ranking(Query("q1", "t"), tuple(Hit(Document(d, ""), s) for d, s in (("a", 1.0), ("b", 1.0), ("c", 0.5))))
    cases: list[Case] = []

    def err(name: str, fn: Callable[[], Any], words: str, error: str = "RerankitError") -> None:
        cases.append(Case("API", name, f"{error}: {words.replace('|', ' + ')}",
                          lambda: expect_error_api(fn, words, error)))

    err('Pipeline("bm25")', lambda: Pipeline("bm25"), "Retriever object", "InputError")
    err('Pipeline(rerankers=["ce"])', lambda: Pipeline(rerankers=["ce"]), "Reranker objects", "InputError")
    err('Pipeline(k="10")', lambda: Pipeline(bm25, k="10"), "k must be an integer", "InputError")
    err("Pipeline(k=0)", lambda: Pipeline(bm25, k=0), "at least 1", "InputError")
    err("Pipeline(depth=0)", lambda: Pipeline(bm25, depth=0), "depth must be at least 1", "InputError")
    err('run_many("abc")', lambda: Pipeline(bm25).run_many("abc"), "list of queries", "InputError")
    err("run(None)", lambda: Pipeline(bm25).run(None), "string or a Query", "InputError")
    err('run("   ")', lambda: Pipeline(bm25).run("   "), "empty", "InputError")
    err('search(k="3")', lambda: bm25.search("tides", k="3"), "k must be an integer", "InputError")
    err("rerank_run(\"q1\")", lambda: Pipeline().rerank_run("q1"), "rerank_run takes", "InputError")
    err("load_dataset(123)", lambda: load_dataset(123), "dataset id", "InputError")
    err('load_dataset("beir/nope")', lambda: load_dataset("beir/nope", data_dir=env.data_dir), "nope",
        "DatasetNotFoundError")
    err("load_dataset(data_dir=5)", lambda: load_dataset("beir/scifact", data_dir=5), "data_dir", "InputError")
    err("Query(None, ...)", lambda: Query(None, "text"), "query id", "InputError")
    err('Query("q", "")', lambda: Query("q", ""), "empty", "InputError")
    err("Query(\"q\", 5)", lambda: Query("q", 5), "text must be a string", "InputError")
    err('Hit(score="high")', lambda: Hit(Document("d", "t"), score="high"), "score must be a number", "InputError")
    err("Document(None, ...)", lambda: Document(None, "t"), "document id", "InputError")
    err("Ranking(hits=['d1'])", lambda: Ranking(Query("q", "t"), ["d1"]), "Hit objects", "InputError")
    err("Ranking.top(-1)", lambda: tied.top(-1), "k >= 0", "InputError")
    err("BM25Retriever(stemmer='klingon')", lambda: BM25Retriever(stemmer="klingon"), "unknown stemmer",
        "ConfigError")
    err("BM25Retriever(k1='x')", lambda: BM25Retriever(k1="x"), "k1", "InputError")
    err("BM25 search before index", lambda: BM25Retriever().search("tides"), "index is empty", "InputError")
    err("BM25 index([])", lambda: BM25Retriever().index([]), "corpus is empty", "InputError")
    err("BM25 duplicate doc ids", lambda: BM25Retriever().index([docs[0], docs[0]]), "duplicate document id",
        "InputError")
    err('build("reranker", "nope")', lambda: build("reranker", "nope"), "unknown reranker", "ConfigError")
    err('build("retriever", "bm25", colour=1)', lambda: build("retriever", "bm25", colour=1), "colour",
        "ConfigError")
    err("build(name=5)", lambda: build("retriever", 5), "must be a string", "ConfigError")
    err('build("retriever", "splade", batch_size="x")', lambda: build("retriever", "splade", model="m",
                                                                      batch_size="x"), "batch_size|integer",
        "ConfigError")
    err('build("reranker", "yes-no", depth="10")', lambda: build("reranker", "yes-no", depth="10"), "depth|integer",
        "ConfigError")
    err("BM25Retriever(stopwords=5)", lambda: BM25Retriever(stopwords=5), "stopwords", "InputError")
    err("evaluate: NaN score", lambda: evaluate({"q1": {"d1": float("nan")}}, {"q1": {"d1": 1}}), "NaN",
        "InputError")
    err("evaluate: inf score in a dict", lambda: evaluate({"q1": {"d1": float("inf")}}, {"q1": {"d1": 1}}), "inf",
        "InputError")
    err("evaluate: empty run", lambda: evaluate({}, {"q1": {"d1": 1}}), "empty", "InputError")
    err("evaluate: unknown metric", lambda: evaluate({"q1": {"d1": 1.0}}, {"q1": {"d1": 1}}, ["ndcg@ten"]),
        "unknown metric", "ConfigError")
    err("evaluate: relevance_level=0", lambda: evaluate({"q1": {"d1": 1.0}}, {"q1": {"d1": 1}}, relevance_level=0),
        "relevance_level", "InputError")
    err("evaluate: no judged query", lambda: evaluate({"qx": {"d1": 1.0}}, {"q1": {"d1": 1}}), "qrels",
        "DataError")
    err("compare: one run", lambda: compare({"a": {"q1": {"d1": 1.0}}}, {"q1": {"d1": 1}}), "at least two",
        "InputError")
    err("read_trec_run: non-UTF-8", lambda: read_trec_run(w / "api_latin1.trec"), "not UTF-8|:2", "FormatError")
    err("read_trec_run: NaN", lambda: read_trec_run(w / "api_nan.trec"), "not a finite number", "FormatError")
    err("read_qrels: conflicting duplicates", lambda: read_qrels(w / "api_conflict.qrels"),
        "grade 1 on line 1, 2 on line 2", "FormatError")
    err("read_qrels: truncated .gz", lambda: read_qrels(w / "api_cut.qrels.gz"), "truncated or corrupt",
        "FormatError")
    err("read_qrels: a directory", lambda: read_qrels(w), "is a directory", "FormatError")
    err("write_trec_run: NaN score", lambda: write_trec_run(
        {"q1": Ranking(Query("q1", "t"), (Hit(Document("a", ""), float("nan")),))}, w / "x.trec"), "NaN",
        "InputError")
    if env.minilm is not None:
        from rerankit.rerankers.cross_encoder import CrossEncoderReranker

        err("cross-encoder without a trained head", lambda: CrossEncoderReranker(str(env.minilm), progress=False),
            "allow_untrained_head|classifier", "ConfigError")
        err("cross-encoder dtype='float64x'", lambda: CrossEncoderReranker(str(env.minilm), dtype="float64x",
                                                                           allow_untrained_head=True), "dtype",
            "ConfigError")
        err("cross-encoder batch_size=0", lambda: CrossEncoderReranker(str(env.minilm), batch_size=0,
                                                                       allow_untrained_head=True), "batch_size",
            "InputError")

        def long_query() -> Any:
            ce = CrossEncoderReranker(str(env.minilm), max_length=64, progress=False, allow_untrained_head=True)
            ranking = Ranking(Query("q1", "why do tides happen " * 60), tuple(Hit(d, 0.0) for d in docs))
            return ce.rerank(ranking)

        cases.append(Case("API", "query longer than the cross-encoder's max_length", "works: query truncated, reported",
                          lambda: expect_success_api(long_query, lambda r: r.meta.get("query_truncated") is True
                                                     and len(r) == 5, "reranked; ranking meta query_truncated=True")))
    cases.append(Case("API", "tied scores: evaluated order", "works: the returned order is scored",
                      lambda: expect_success_api(lambda: evaluate({"q1": tied}, {"q1": {"a": 1}}, ["p@1"]),
                                                 lambda r: r == {"p@1": 1.0}, "P@1 = 1.0 (a, returned first)")))
    cases.append(Case("API", "BM25Retriever(stemmer='none')", "works: no stemming",
                      lambda: expect_success_api(lambda: BM25Retriever(stemmer="none").analyzer("running tides"),
                                                 lambda r: r == ["running", "tides"], "terms not stemmed")))
    return cases


# ---- HTTP cases ----------------------------------------------------------------------------------------------------
def start_server(env: Env) -> tuple[subprocess.Popen, str]:
    import httpx
    import yaml

    from rerankit.retrievers.bm25 import BM25Retriever
    from rerankit.types import Document

    root = env.work / "serve"
    root.mkdir(exist_ok=True)
    BM25Retriever(show_progress=False).index([Document(i, t) for i, t in DOCS]).save(root / "index")
    rerankers = []
    if env.minilm is not None:
        rerankers = [{"name": "cross-encoder", "model": str(env.minilm), "max_length": 64, "progress": False,
                      "allow_untrained_head": True}]
    (root / "pipeline.yaml").write_text(yaml.safe_dump({"retriever": {"index": "index"}, "rerankers": rerankers,
                                                        "k": 5}))
    port = free_local_port()
    proc = subprocess.Popen([sys.executable, "-m", "rerankit.cli", "serve", "--config", str(root / "pipeline.yaml"),
                             "--port", str(port), "--max-body-bytes", "20000"],
                            stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"),
                            env={**os.environ, "TQDM_DISABLE": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(1)
    proc.kill()
    raise SystemExit(f"the server did not become ready; see {root / 'server.log'}")


def expect_http(base: str, method: str, path: str, body: Any, words: str, status: int | None = None,
                raw: bytes | None = None, headers: dict | None = None) -> tuple[str, str]:
    import httpx

    if raw is not None:
        r = httpx.request(method, base + path, content=raw, headers=headers or {"content-type": "application/json"},
                          timeout=60)
    else:
        r = httpx.request(method, base + path, json=body, timeout=60)
    text = r.text
    if r.status_code < 400:
        return "SILENT", _short(f"{r.status_code}: {text}")
    try:
        payload = r.json()
        message = payload.get("error") or payload.get("detail")
    except ValueError:
        return "NOT-JSON", _short(f"{r.status_code} {r.headers.get('content-type')}: {text}")
    if not isinstance(message, str):
        return "NOT-JSON", _short(f"{r.status_code}: no 'error' string in {text}")
    if "Traceback" in text:
        return "TRACEBACK", _short(f"{r.status_code}: {text}")
    if _LEAKS.search(text):
        return "LEAK", _short(f"{r.status_code}: {text}")
    if status is not None and r.status_code != status or not _words_in(words, message):
        return "UNCLEAR", _short(f"{r.status_code}: {message}")
    return "ok", _short(f"{r.status_code}: {message}")


def expect_http_ok(base: str, path: str, body: Any, check: Callable[[dict], bool], what: str) -> tuple[str, str]:
    import httpx

    r = httpx.post(base + path, json=body, timeout=60)
    if r.status_code != 200:
        return "BROKEN", _short(f"{r.status_code}: {r.text}")
    return ("ok", what) if check(r.json()) else ("SILENT", _short(r.text))


def http_cases(base: str, reranker: bool) -> list[Case]:
    p = [{"id": "a", "text": "Tides come from the moon."}, {"id": "b", "text": "Bread rises."}]
    specs: list[tuple[str, str, str, Any, str, int | None, bytes | None, dict | None]] = [
        ("invalid JSON body", "POST", "/search", None, "not valid JSON", 422, b"{query: tides", None),
        ("body is a JSON list", "POST", "/search", ["tides"], "", 422, None, None),
        ("missing query", "POST", "/search", {"k": 3}, "query", 422, None, None),
        ("blank query", "POST", "/search", {"query": "   "}, "query", 422, None, None),
        ("query is a number", "POST", "/search", {"query": 5}, "query", 422, None, None),
        ("k = 0", "POST", "/search", {"query": "tides", "k": 0}, "k", 422, None, None),
        ("k negative", "POST", "/search", {"query": "tides", "k": -4}, "k", 422, None, None),
        ("k is text", "POST", "/search", {"query": "tides", "k": "ten"}, "k", 422, None, None),
        ("k above max_candidates", "POST", "/search", {"query": "tides", "k": 10 ** 6}, "max_candidates", 422,
         None, None),
        ("unknown field", "POST", "/search", {"query": "tides", "colour": "red"}, "colour", 422, None, None),
        ("query over the size limit", "POST", "/search", {"query": "x" * 5000}, "query", 422, None, None),
        ("body over max-body-bytes", "POST", "/search", {"query": "tides " * 4000}, "", 413, None, None),
        ("non-UTF-8 body bytes", "POST", "/search", None, "", None, b'{"query": "caf\xe9"}', None),
        ("wrong content type", "POST", "/search", None, "", None, b"query=tides",
         {"content-type": "application/x-www-form-urlencoded"}),
        ("GET on a POST endpoint", "GET", "/search", None, "", 405, None, None),
        ("unknown endpoint", "POST", "/nope", {"query": "tides"}, "", 404, None, None),
        ("rag without a generator", "POST", "/rag", {"query": "tides"}, "not enabled", 501, None, None),
    ]
    if reranker:
        specs += [
            ("rerank: no passages", "POST", "/rerank", {"query": "tides", "passages": []}, "passages", 422, None,
             None),
            ("rerank: passages is a string", "POST", "/rerank", {"query": "tides", "passages": "a b"}, "passages",
             422, None, None),
            ("rerank: duplicate passage ids", "POST", "/rerank", {"query": "tides", "passages": [p[0], p[0]]},
             "duplicate passage id", 422, None, None),
            ("rerank: passage without text", "POST", "/rerank", {"query": "tides", "passages": [{"id": "a"}]},
             "text", 422, None, None),
            ("rerank: top_n = 0", "POST", "/rerank", {"query": "tides", "passages": p, "top_n": 0}, "top_n", 422,
             None, None),
            ("rerank: NaN literal in JSON", "POST", "/rerank", None, "", None,
             b'{"query": "tides", "passages": [{"id": "a", "text": "x"}], "top_n": NaN}', None),
        ]
    cases = [Case("HTTP", name, f"JSON error{f' {st}' if st else ''}{': ' + w if w else ''}",
                  lambda m=m, path=path, b=b, w=w, st=st, raw=raw, h=h: expect_http(base, m, path, b, w, st, raw, h))
             for name, m, path, b, w, st, raw, h in specs]
    if reranker:
        long_q = "why do the tides of the sea rise and fall " * 40
        cases.append(Case("HTTP", "rerank: query longer than max_length", "works: 200, query truncated",
                          lambda: expect_http_ok(base, "/rerank", {"query": long_q[:4000], "passages": p},
                                                 lambda j: len(j["hits"]) == 2, "200, both passages scored")))
    cases.append(Case("HTTP", "search: valid request", "works: 200",
                      lambda: expect_http_ok(base, "/search", {"query": "what causes tides", "k": 3},
                                             lambda j: {h["id"] for h in j["hits"]} == {"d1", "d3"},
                                             "200, the two tide passages (the only ones matching a term)")))
    return cases


# ---- main ----------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("RERANKIT_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--only", choices=["CLI", "API", "HTTP"], help="run one surface only")
    ap.add_argument("--output", default=str(ROOT / "eval" / "results" / "bad_inputs.md"))
    args = ap.parse_args()
    data_dir = Path(args.data_dir).expanduser().resolve()
    os.environ["RERANKIT_DATA_DIR"] = str(data_dir)
    minilm = _minilm()
    with tempfile.TemporaryDirectory(prefix="rerankit-bad-inputs-") as tmp:
        env = Env(data_dir, Path(tmp), minilm)
        cases: list[Case] = []
        if args.only in (None, "CLI"):
            cases += cli_cases(env)
        if args.only in (None, "API"):
            cases += api_cases(env)
        server = None
        if args.only in (None, "HTTP") and not args.skip_http:
            server, base = start_server(env)
            cases += http_cases(base, reranker=minilm is not None)
        rows = []
        try:
            for c in cases:
                t0 = time.perf_counter()
                try:
                    verdict, got = c.run()
                except Exception as exc:  # the harness itself must never hide a case
                    verdict, got = "TRACEBACK", _short(f"{type(exc).__name__}: {exc}")
                rows.append({"surface": c.surface, "case": c.name, "expected": c.expected, "got": got,
                             "verdict": verdict, "seconds": round(time.perf_counter() - t0, 2)})
                print(f"{verdict:<9} {c.surface:<4} {c.name}: {got}", file=sys.stderr, flush=True)
        finally:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(60)
                except subprocess.TimeoutExpired:
                    server.kill()
    report(rows, args.output, load=os.getloadavg()[0])


def _minilm() -> Path | None:
    root = Path(os.environ.get("RERANKIT_MODELS", Path.home() / ".cache" / "rerankit-models"))
    path = root / "all-MiniLM-L6-v2"
    if (path / "config.json").exists():
        return path
    print(f"note: {path} is not installed: the cross-encoder cases are left out", file=sys.stderr)
    return None


def report(rows: list[dict], output: str, load: float) -> None:
    totals = Counter(r["verdict"] for r in rows)
    by_surface = Counter(r["surface"] for r in rows)
    lines = ["| # | surface | case | expected | got | verdict |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['surface']} | {r['case']} | {r['expected']} | {r['got']} | {r['verdict']} |")
    summary = (f"{len(rows)} cases ({', '.join(f'{s} {n}' for s, n in by_surface.items())}): "
               + ", ".join(f"{v} {n}" for v, n in sorted(totals.items(), key=lambda kv: kv[0] != "ok"))
               + f". Load average at the end: {load:.1f}.")
    text = "\n".join(lines) + "\n\n" + summary + "\n"
    print(text)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"summary": dict(totals), "cases": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
