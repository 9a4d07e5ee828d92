"""The Ray executor on a real local Ray instance: the same rankings and indexes as one process, a killed worker
that Ray restarts without changing the result, and stage errors that come back as themselves."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

from rerankit import Pipeline, build
from rerankit.cache import StageCache
from rerankit.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from rerankit.executors import RemoteStage, get_executor
from rerankit.executors.ray import RayExecutor
from rerankit.types import Query

pytestmark = pytest.mark.slow


def _first(run, n, k):
    return [r.top(k) for r in list(run.values())[:n]]


def _same(a, b, tol=1e-5):
    assert [r.query.id for r in a] == [r.query.id for r in b]
    for x, y in zip(a, b):
        assert x.ids() == y.ids(), x.query.id
        assert np.allclose([h.score for h in x.hits], [h.score for h in y.hits], atol=tol)


def test_yes_no_llm_on_ray_equals_one_process(ray_local, smollm, dl19_bm25):
    first = _first(dl19_bm25, 4, 5)
    opts = dict(model=str(smollm), engine="transformers", template="yes-no", progress=False)
    local = Pipeline(rerankers=[build("reranker", "yes-no", **opts)]).rerank_run(first)
    with RayExecutor(workers=2) as ex:
        stage = RemoteStage("yes-no", **opts)  # loads nothing in this process
        assert "local" not in stage.__dict__
        remote = Pipeline(rerankers=[stage], executor=ex, chunk_size=2).rerank_run(first)
        assert "local" not in stage.__dict__
    _same([r.ranking for r in local], [r.ranking for r in remote], tol=1e-4)


def test_two_workers_equal_one_process_and_a_killed_worker_is_restarted(ray_local, saved_cross_encoder, dl19_bm25,
                                                                           tmp_path):
    first = _first(dl19_bm25, 8, 30)
    ce = build("reranker", "cross-encoder", model=str(saved_cross_encoder), progress=False, batch_size=8)
    expected = [r.ranking for r in Pipeline(rerankers=[ce]).rerank_run(first)]
    # the reranker really reorders, so equality below is not the first stage passing through
    assert any(r.ids() != f.ids() for r, f in zip(expected, first))
    with RayExecutor(workers=2, max_restarts=2, max_task_retries=2) as ex:
        pids = ex.worker_pids(ce)
        assert len(set(pids)) == 2  # two worker processes share the batches
        pipe = Pipeline(rerankers=[ce], executor=ex, chunk_size=1, cache_dir=tmp_path)
        box: dict = {}
        worker = threading.Thread(target=lambda: box.update(out=pipe.rerank_run(first)))
        worker.start()
        cache = None
        deadline = time.time() + 120
        while time.time() < deadline and not box:
            files = list(tmp_path.glob("*.jsonl"))
            if files and files[0].read_text().count("\n") >= 1:
                cache = files[0]
                break
            time.sleep(0.05)
        assert cache is not None, "no batch finished"
        written = cache.read_text().count("\n")
        os.kill(pids[0], signal.SIGKILL)
        worker.join(300)
        assert written < len(first), "the kill came after the run had finished"
        assert "out" in box
        assert pids[0] not in ex.worker_pids(ce)  # Ray started a new process for that worker
    _same(expected, [r.ranking for r in box["out"]])
    stored = StageCache(tmp_path, cache.stem).load()  # every query written once, as batches finished
    assert len(cache.read_text().splitlines()) == len(stored) == len(first)
    assert sorted(c.ranking.query.id for c in stored.values()) == sorted(r.query.id for r in first)


def test_a_stage_error_in_a_worker_is_the_same_rerankit_error(ray_local, dl19_bm25):
    first = _first(dl19_bm25, 2, 3)
    with pytest.raises(ModelNotFoundError) as local_err:
        build("reranker", "cross-encoder", model="/nonexistent/cross-encoder")
    with RayExecutor(workers=1) as ex, pytest.raises(ModelNotFoundError) as remote_err:
        Pipeline(rerankers=[RemoteStage("cross-encoder", model="/nonexistent/cross-encoder")],
                 executor=ex).rerank_run(first)
    assert str(remote_err.value) == str(local_err.value)


def test_dense_index_through_ray_equals_one_process(ray_local, minilm, shared_data):
    from rerankit.data import load_dataset
    from rerankit.retrievers.dense import DenseRetriever

    ds = load_dataset("beir/scifact", data_dir=shared_data)
    docs = list(ds.corpus.values())[:100]  # MiniLM encodes ~12 SciFact abstracts a second here: keep CI short
    queries = [Query(q.id, q.text) for q in list(ds.queries.values())[:20]]
    one = DenseRetriever(str(minilm), show_progress=False).index(docs)
    with RayExecutor(workers=2) as ex:
        many = DenseRetriever(str(minilm), show_progress=False, executor=ex, shard_size=30).index(docs)
    assert one._index.ntotal == many._index.ntotal == 100
    _same(list(one.search_many(queries, 10).values()), list(many.search_many(queries, 10).values()))


def test_splade_index_through_ray_equals_one_process(ray_local, splade_tiny, shared_data):
    from rerankit.data import load_dataset
    from rerankit.retrievers.splade import SpladeRetriever

    ds = load_dataset("beir/scifact", data_dir=shared_data)
    docs = list(ds.corpus.values())[:100]
    queries = [Query(q.id, q.text) for q in list(ds.queries.values())[:20]]
    one = SpladeRetriever(str(splade_tiny), show_progress=False).index(docs)
    with RayExecutor(workers=2) as ex:
        many = SpladeRetriever(str(splade_tiny), show_progress=False, executor=ex, shard_size=30).index(docs)
    _same(list(one.search_many(queries, 10).values()), list(many.search_many(queries, 10).values()))


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does when the package is absent
    with pytest.raises(MissingDependencyError, match=r"rerankit\[ray\]"):
        get_executor("ray")


def test_bad_executor_options_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown executor"):
        Pipeline(executor="spark")
    with pytest.raises(ConfigError, match="need executor='ray'"):
        get_executor(None, workers=2)
    with pytest.raises(Exception, match="workers must be a positive integer"):
        RayExecutor(workers=0)


def _cli(*args, env_extra=None):
    import subprocess

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "rerankit.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_cli_eval_with_ray_executor_matches_in_process(saved_cross_encoder, shared_data, tmp_path):
    common = ["eval", "--dataset", "msmarco-passage/trec-dl-2019", "--data-dir", str(shared_data), "--candidates",
              "bm25", "--reranker", "cross-encoder", "--model", str(saved_cross_encoder), "--depth", "8",
              "--queries", "3", "--no-cache", "--json"]
    local = _cli(*common, "--output", str(tmp_path / "local.trec"))
    remote = _cli(*common, "--output", str(tmp_path / "ray.trec"), "--executor", "ray", "--workers", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert json.loads(local.stdout)["metrics"] == pytest.approx(json.loads(remote.stdout)["metrics"])
    lines = [(tmp_path / f).read_text().splitlines() for f in ("local.trec", "ray.trec")]
    assert [ln.split()[:4] for ln in lines[0]] == [ln.split()[:4] for ln in lines[1]]


def test_cli_ray_flags_need_the_ray_executor(shared_data):
    out = _cli("eval", "--dataset", "msmarco-passage/trec-dl-2019", "--data-dir", str(shared_data), "--candidates",
               "bm25", "--workers", "2")
    assert out.returncode == 2 and "--workers: only with --executor ray" in out.stderr
