"""No silent wrong answers from stored state (issue 10, items 1 and 2), proven on real data, real models, real kills.

Each test reproduces a case that used to give a wrong result with exit code 0: a changed corpus served an old
index, an edited run file served old reranker output, a damaged BM25 index searched, a killed `rerankit index`
destroying the index it was replacing, a torn cache line swallowing the next record, and a killed evaluation that
must resume to the very same run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rerankit.cache import StageCache
from rerankit.cli import main
from rerankit.rerankers.base import Reranker
from rerankit.types import Document, Hit, Query, Ranking

DL19 = "msmarco-passage/trec-dl-2019"


def _cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, [*args], env=env)


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _rerankit(*args: str, **kw) -> subprocess.Popen:
    """`rerankit ARGS` as a real process (this checkout's package first on the path)."""
    # One thread: identical arithmetic in every run, and no oversubscription of a shared CI machine.
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), TQDM_DISABLE="1",
               OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "rerankit.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    t_end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (rc {proc.returncode}) before the moment to kill it: "
                        f"{proc.stderr.read()[-2000:] if proc.stderr else ''}")
        if time.monotonic() > t_end:
            proc.kill()
            pytest.fail("timed out waiting for the moment to kill the process")
        time.sleep(0.002)


# ---- the index store is keyed by the corpus ----------------------------------------------------------------------
@pytest.fixture()
def small_beir(shared_data, tmp_path) -> Path:
    """A BEIR folder cut from real SciFact: 15 judged queries, their relevant documents and 600 others."""
    src = shared_data / "beir" / "scifact"
    qrels_lines = (src / "qrels" / "test.tsv").read_text().splitlines()
    header, rows = qrels_lines[0], [r.split("\t") for r in qrels_lines[1:]]
    qids = list(dict.fromkeys(r[0] for r in rows))[:15]
    rows = [r for r in rows if r[0] in qids]
    wanted = {r[1] for r in rows}
    docs = []
    with open(src / "corpus.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n < 600 or json.loads(line)["_id"] in wanted:
                docs.append(line)
    folder = tmp_path / "mini-scifact"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(docs), encoding="utf-8")
    queries = [line for line in (src / "queries.jsonl").read_text(encoding="utf-8").splitlines()
               if json.loads(line)["_id"] in qids]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n")
    return folder


def _scramble_texts(corpus: Path) -> None:
    """Same ids, texts shuffled among documents: a different corpus that a stale index cannot tell apart by name."""
    records = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    texts = [(r["title"], r["text"]) for r in records]
    random.Random(7).shuffle(texts)
    for r, (title, text) in zip(records, texts):
        r["title"], r["text"] = title, text
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _ndcg(folder: Path, cache: Path) -> float:
    out = _ok(_cli("eval", "--dataset", str(folder), "--cache-dir", str(cache), "--json"))
    return json.loads(out)["metrics"]["ndcg@10"]


def test_changed_corpus_rebuilds_the_bm25_index(small_beir, tmp_path):
    cache = tmp_path / "cache"
    before = _ndcg(small_beir, cache)
    assert _ndcg(small_beir, cache) == before  # unchanged corpus: the stored index is reused
    _scramble_texts(small_beir / "corpus.jsonl")
    after = _ndcg(small_beir, cache)
    assert after == _ndcg(small_beir, tmp_path / "fresh-cache")  # what a first-ever run over the new corpus gives
    assert after < before - 0.3, (before, after)
    stored = [p for p in (cache / "indexes").rglob("rerankit.json")]
    assert len(stored) == 1, stored  # the index of the old corpus version was replaced, not kept beside it


def test_damaged_stored_index_is_rebuilt_not_searched(small_beir, tmp_path):
    from rerankit.indexes import load_index

    cache = tmp_path / "cache"
    before = _ndcg(small_beir, cache)
    (stored,) = [p.parent for p in (cache / "indexes").rglob("rerankit.json")]
    docs = stored / "docs.jsonl"
    data = bytearray(docs.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4] = b"XXXX"
    docs.write_bytes(bytes(data))
    assert _ndcg(small_beir, cache) == before
    load_index(stored)  # rebuilt whole: every file matches its checksum again


# ---- saved indexes are checksummed and written atomically --------------------------------------------------------
@pytest.fixture(scope="module")
def scifact_index(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("index") / "scifact-bm25"
    _ok(_cli("index", "--dataset", "beir/scifact", "--data-dir", str(shared_data), "--output", str(out)))
    return out


def _search(index: Path, query: str = "vitamin D and bone density") -> list:
    result = _cli("search", "--index", str(index), "-k", "10", "--json", query)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_every_damaged_bm25_index_file_is_a_clear_error(scifact_index, tmp_path):
    import shutil

    good = _search(scifact_index)
    files = sorted(p.relative_to(scifact_index).as_posix() for p in scifact_index.rglob("*")
                   if p.is_file() and p.name not in ("rerankit.json", "corpus.json"))
    assert "docs.jsonl" in files and any(f.startswith("bm25s/") for f in files)
    for name in files:
        copy = tmp_path / name.replace("/", "_")
        shutil.copytree(scifact_index, copy)
        target = copy / name
        data = bytearray(target.read_bytes())
        mid = len(data) // 2
        data[mid:mid + 4] = b"XXXX"  # four overwritten bytes, same size
        target.write_bytes(bytes(data))
        result = _cli("search", "--index", str(copy), "--json", "vitamin D and bone density")
        assert result.exit_code == 2, (name, result.output)
        assert f"index file {name} does not match its checksum" in result.output
        assert "Traceback" not in result.output
    assert _search(scifact_index) == good


@pytest.mark.slow
def test_kill_during_index_output_leaves_the_old_index_intact(scifact_index, tmp_path, shared_data):
    import shutil

    target = tmp_path / "idx"
    shutil.copytree(scifact_index, target)
    good = _search(target)
    snapshot = {p: p.stat().st_mtime_ns for p in target.rglob("*") if p.is_file()}

    def writing_started() -> bool:
        temps = [p for p in tmp_path.glob(".idx.tmp-*") if p.is_dir() and any(p.rglob("docs.jsonl"))]
        in_place = any(p.stat().st_mtime_ns != m for p, m in snapshot.items() if p.exists())
        return bool(temps) or in_place or len(snapshot) != sum(1 for p in target.rglob("*") if p.is_file())

    proc = _rerankit("index", "--dataset", "beir/scifact", "--data-dir", str(shared_data), "--output", str(target))
    _wait_for(writing_started, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _search(target) == good  # the old index is whole: every file matches its checksum
    assert list(tmp_path.glob(".idx.tmp-*")), "expected the killed write's temporary folder"
    # The next build replaces the index and removes what the killed one left behind.
    proc = _rerankit("index", "--dataset", "beir/scifact", "--data-dir", str(shared_data), "--output", str(target))
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert not list(tmp_path.glob(".idx.tmp-*"))
    assert _search(target) == good


def test_concurrent_saves_of_one_index_never_collide(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from rerankit.indexes import load_index, save_index
    from rerankit.retrievers.bm25 import BM25Retriever

    versions = [BM25Retriever(show_progress=False).index([Document(f"v{v}-{i}", f"passage {i} of version {v} " * 50)
                                                          for i in range(300)]) for v in range(4)]
    target = tmp_path / "idx"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda v: [save_index(v, target) for _ in range(5)], versions))
    loaded = load_index(target)  # verifies every checksum: one complete version, not a mix
    assert loaded.num_docs == 300 and len({d.id.split("-")[0] for d in loaded._docs}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temporary folder left behind


def test_index_output_refuses_a_folder_that_is_not_an_index(tmp_path, small_beir):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    result = _cli("index", "--dataset", str(small_beir), "--output", str(tmp_path / "notes"))
    assert result.exit_code == 2 and "not a rerankit index folder" in result.output
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"


# ---- the stage cache is keyed by each input ranking's content ----------------------------------------------------
def _dl19_run(root: Path, path: Path, picks: dict[str, range]) -> None:
    """A TREC run of some DL19 queries with the shipped BM25 candidates at the given positions."""
    lines: dict[str, list[str]] = {}
    src = root / "msmarco-passage" / "trec-dl-2019" / "run.bm25.dl19.top100.rank_llm_data.trec"
    for line in src.read_text().splitlines():
        qid, _, doc, rank, score, _tag = line.split()
        if qid in picks and int(rank) - 1 in picks[qid]:
            lines.setdefault(qid, []).append(f"{qid} Q0 {doc} {rank} {score} bm25")
    path.write_text("".join(line + "\n" for qid in picks for line in lines[qid]))


def _run_ids(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, *_ = line.split()
        out.setdefault(qid, []).append(doc)
    return out


@pytest.mark.slow
def test_edited_run_file_gets_new_rerank_output(shared_data, minilm, tmp_path):
    run = tmp_path / "first.trec"
    qids = ["19335", "47923", "87181"]
    _dl19_run(shared_data, run, {q: range(5) for q in qids})
    env = {"RERANKIT_DATA_DIR": str(shared_data), "RERANKIT_CACHE": str(tmp_path / "cache")}

    def rerank(out: str, *extra: str) -> Path:
        _ok(_cli("rerank", "--run", str(run), "--dataset", DL19, "--reranker", "e2rank", "--model", str(minilm),
                 "--output", str(tmp_path / out), *extra, env=env))
        return tmp_path / out

    first = rerank("a.trec")
    assert (rerank("a-again.trec").read_bytes() == first.read_bytes())  # same input: served from the cache
    _dl19_run(shared_data, run, {qids[0]: range(5), qids[1]: range(50, 55), qids[2]: range(5)})  # edited in place
    edited = rerank("b.trec")
    assert set(_run_ids(edited)[qids[1]]) == set(_run_ids(run)[qids[1]])  # the new candidates, all of them
    assert edited.read_bytes() == rerank("b-nocache.trec", "--no-cache").read_bytes()
    assert edited.read_bytes() != first.read_bytes()


class _Tagger(Reranker):
    """A stand-in stage (reverses each list) that records what it was asked to rerank: the cache is under test."""

    name = "tagger"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def _rerank_batch(self, rankings):
        self.calls.append([r.query.id for r in rankings])
        return [Ranking(r.query, tuple(Hit(h.doc, -float(i)) for i, h in enumerate(reversed(r.hits))))
                for r in rankings]


def _pipeline(tmp_path, stage):
    from rerankit.pipeline import Pipeline

    return Pipeline(rerankers=[stage], cache_dir=tmp_path / "stages", chunk_size=2)


def _rankings(tag: str, n: int = 3) -> list[Ranking]:
    return [Ranking(Query(f"q{i}", f"query {i}"), tuple(Hit(Document(f"{tag}{i}-{j}", f"text {tag} {j}"), 1.0 - j / 10)
                                                       for j in range(3))) for i in range(n)]


def test_two_candidate_sets_with_the_same_query_ids_do_not_collide(tmp_path):
    a, b = _rankings("a"), _rankings("b")
    stage = _Tagger()
    out_a = _pipeline(tmp_path, stage).rerank_run(a)
    out_b = _pipeline(tmp_path, stage).rerank_run(b)
    assert [r.ranking.ids() for r in out_b] == [list(reversed(r.ids())) for r in b]
    assert [r.ranking.ids() for r in out_a] == [list(reversed(r.ids())) for r in a]
    assert stage.calls == [["q0", "q1"], ["q2"], ["q0", "q1"], ["q2"]]
    # A changed score or query text is a changed input too; an unchanged one is served from the cache.
    c = list(b)
    c[1] = Ranking(Query("q1", "query 1 edited"), c[1].hits)
    c[2] = Ranking(c[2].query, (Hit(c[2].hits[0].doc, 0.5), *c[2].hits[1:]))
    _pipeline(tmp_path, stage).rerank_run(c)
    assert stage.calls[4:] == [["q1", "q2"]]


def test_torn_cache_line_is_cut_off_and_recomputed(tmp_path, caplog):
    rankings = _rankings("a", 4)
    stage = _Tagger()
    _pipeline(tmp_path, stage).rerank_run(rankings)
    cache = next((tmp_path / "stages").glob("*.jsonl"))
    data = cache.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    cache.write_bytes(data[: last_start + 40])  # a crash in the middle of writing the last record (q3)
    stage.calls.clear()
    out = _pipeline(tmp_path, stage).rerank_run(rankings)
    assert stage.calls == [["q3"]]
    assert "incomplete" in caplog.text
    # The torn tail is gone and q3 is on a line of its own again (not glued onto the torn one and lost).
    fixed = cache.read_bytes()
    assert fixed.startswith(data[:last_start]) and fixed.endswith(b"\n") and fixed.count(b"\n") == 4
    caplog.clear()
    assert len(StageCache(cache.parent, cache.stem).load()) == 4 and not caplog.text
    stage.calls.clear()
    again = _pipeline(tmp_path, stage).rerank_run(rankings)
    assert stage.calls == [] and [r.ranking for r in again] == [r.ranking for r in out]


def test_damaged_cache_record_is_recomputed_not_served(tmp_path, caplog):
    rankings = _rankings("a", 2)
    stage = _Tagger()
    _pipeline(tmp_path, stage).rerank_run(rankings)
    cache = next((tmp_path / "stages").glob("*.jsonl"))
    data = cache.read_bytes()
    cache.write_bytes(data.replace(b'"id": "a0-2"', b'"id": "a0-9"', 1))  # still valid JSON, wrong content
    stage.calls.clear()
    out = _pipeline(tmp_path, stage).rerank_run(rankings)
    assert stage.calls == [["q0"]] and "damaged" in caplog.text
    assert out[0].ranking.ids() == ["a0-2", "a0-1", "a0-0"]


class _Slow(_Tagger):
    name = "slow"

    def _rerank_batch(self, rankings):
        time.sleep(0.05 * len(rankings))
        return super()._rerank_batch(rankings)


def test_cached_rerun_reports_the_cost_of_computing_not_of_reading(tmp_path):
    rankings = _rankings("a", 4)
    first = _pipeline(tmp_path, _Slow())
    first.rerank_run(rankings)
    stage = _Slow()
    again = _pipeline(tmp_path, stage)
    again.rerank_run(rankings)
    assert stage.calls == []  # all four from the cache ...
    assert again.last_timings["slow"] == pytest.approx(first.last_timings["slow"])  # ... at the cost they had
    assert first.last_timings["slow"] >= 0.2


# ---- kill -9 during a real evaluation, then resume ---------------------------------------------------------------
@pytest.mark.slow
def test_kill_during_eval_resumes_to_a_byte_identical_run(shared_data, minilm, tmp_path):
    args = ["eval", "--dataset", DL19, "--data-dir", str(shared_data), "--candidates", "bm25", "--reranker",
            "e2rank", "--model", str(minilm), "--queries", "20", "--depth", "5", "--json"]

    # Uninterrupted, with its own cache (so its batches are the same 16-query chunks as the resumed run's).
    full = _rerankit(*args, "--cache-dir", str(tmp_path / "c1"), "--output", str(tmp_path / "full.trec"))
    _, err = full.communicate(timeout=600)
    assert full.returncode == 0, err

    # Killed once the first chunk (16 queries) is stored, then run again to the end.
    stages = tmp_path / "c2" / "stages"
    proc = _rerankit(*args, "--cache-dir", str(tmp_path / "c2"), "--output", str(tmp_path / "resumed.trec"))

    def first_chunk_stored() -> bool:
        return any(f.stat().st_size > 0 for f in stages.glob("*.jsonl")) if stages.is_dir() else False

    _wait_for(first_chunk_stored, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = sum(f.read_bytes().count(b"\n") for f in stages.glob("*.jsonl"))
    assert 0 < stored < 20 and not (tmp_path / "resumed.trec").exists()
    resumed = _rerankit(*args, "--cache-dir", str(tmp_path / "c2"), "--output", str(tmp_path / "resumed.trec"), "-v")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert f"resuming, {stored} of 20" in err
    assert (tmp_path / "resumed.trec").read_bytes() == (tmp_path / "full.trec").read_bytes()
