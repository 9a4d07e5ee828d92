"""Multivector (ColBERT-style) reranking on the packaged all-MiniLM-L6-v2 token vectors (no ColBERT weights are
available offline): MaxSim against a brute-force sum, PyLate's own MaxSim where PyLate imports, the content-keyed
document-vector store (hits, invalidation, damage), and the reranker from the registry, a YAML spec and the CLI."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import yaml

from rerankit.config import pipeline_from_spec
from rerankit.registry import build
from rerankit.rerankers.maxsim import maxsim
from rerankit.types import Document, Hit, Query, Ranking

TEXTS = ["Vitamin D is made in the skin when it is exposed to sunlight.",
         "Paris is the capital of France, on the Seine.",
         "Calcium and vitamin D together support bone density in older adults!",
         "Bananas are rich in potassium."]


def _ranking(texts=TEXTS, query="does vitamin d help bones") -> Ranking:
    return Ranking(Query("q1", query), tuple(Hit(Document(f"d{i}", t), float(10 - i)) for i, t in enumerate(texts)))


@pytest.fixture()
def reranker(minilm, tmp_path):
    return build("reranker", "multivector", model=str(minilm), cache_dir=str(tmp_path / "vectors"))


def _brute_force(q: np.ndarray, d: np.ndarray) -> float:
    total = 0.0
    for qi in q:
        total += max(sum(float(a) * float(b) for a, b in zip(qi, dj)) for dj in d)
    return total


@pytest.mark.slow
def test_maxsim_scores_equal_a_brute_force_sum_and_order_the_ranking(reranker):
    enc = reranker.encoder
    q = enc.encode(["does vitamin d help bones"], is_query=True)[0]
    docs = enc.encode(TEXTS, is_query=False)
    assert q.shape[1] == 384 and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    expected = [_brute_force(q, d) for d in docs]
    assert [maxsim(q, d) for d in docs] == pytest.approx(expected, rel=1e-5)
    out = reranker.rerank(_ranking())
    by_id = {h.doc.id: h.score for h in out.hits}
    assert [by_id[f"d{i}"] for i in range(4)] == pytest.approx(expected, rel=1e-5)
    assert out.ids() == [f"d{i}" for i in np.argsort(-np.array(expected), kind="stable")]
    assert out.ids()[0] in ("d0", "d2") and out.ids()[-1] in ("d1", "d3")


def test_maxsim_equals_pylates_colbert_scores():
    scores = pytest.importorskip("pylate.scores")  # PyLate is optional (see docs/rerankers.md for how it installs)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q = rng.standard_normal((7, 16)).astype(np.float32)
    docs = [rng.standard_normal((n, 16)).astype(np.float32) for n in (3, 11, 5)]
    # one document per call: PyLate's padding mask multiplies masked similarities by 0 (a padded slot then takes
    # part in the max as 0.0), while MaxSim proper, and ours, is over the document's real tokens only
    theirs = [float(scores.colbert_scores(torch.from_numpy(q)[None], torch.from_numpy(d)[None])[0, 0]) for d in docs]
    assert [maxsim(q, d) for d in docs] == pytest.approx(theirs, rel=1e-5)


@pytest.mark.slow
def test_document_vectors_are_stored_by_content_reused_and_invalidated(minilm, tmp_path, caplog):
    store = str(tmp_path / "vectors")
    first = build("reranker", "multivector", model=str(minilm), cache_dir=store)
    docs = [(f"d{i}", t) for i, t in enumerate(TEXTS)]
    vectors, encoded = first.document_vectors(docs)
    assert encoded == 4
    before = first.rerank(_ranking())
    # a new reranker (a new process, in effect: nothing in memory) reads every document from the store
    second = build("reranker", "multivector", model=str(minilm), cache_dir=store)
    again, encoded = second.document_vectors(docs)
    assert encoded == 0 and all(np.array_equal(a, b) for a, b in zip(vectors, again))
    assert [(h.doc.id, h.score) for h in second.rerank(_ranking())] == [(h.doc.id, h.score) for h in before.hits]
    # an edited text, or the same text under another id, is encoded again; the others still come from the store
    changed = [docs[0], ("d1", TEXTS[1] + " It has many museums."), docs[2], ("d9", TEXTS[3])]
    _, encoded = second.document_vectors(changed)
    assert encoded == 2
    # a damaged file is reported and recomputed, never used
    victim = next(p for p in (tmp_path / "vectors").rglob("*.npz"))
    victim.write_bytes(b"not a zip file")
    third = build("reranker", "multivector", model=str(minilm), cache_dir=store)
    with caplog.at_level(logging.WARNING, logger="rerankit.rerankers.token_cache"):
        fresh, encoded = third.document_vectors(docs + changed)
    assert encoded == 1 and "damaged" in caplog.text
    # other encoder settings (a shorter document budget) are another store: nothing is reused
    short = build("reranker", "multivector", model=str(minilm), cache_dir=store, document_length=8)
    cut, encoded = short.document_vectors(docs)
    assert encoded == 4 and all(len(v) <= 8 for v in cut)
    off = build("reranker", "multivector", model=str(minilm), cache=False)
    assert off.store is None and off.document_vectors(docs)[1] == 4


def test_bad_options_fail_before_any_work(minilm, tmp_path):
    from rerankit.errors import ConfigError, InputError

    with pytest.raises(InputError, match="query_length must be at least 2"):
        build("reranker", "multivector", model=str(minilm), query_length=1)
    with pytest.raises(ConfigError, match="is not a token of"):
        build("reranker", "multivector", model=str(minilm), query_prefix="[Q] ", cache=False)


@pytest.mark.slow
def test_multivector_from_a_yaml_spec_and_the_cli(minilm, tmp_path, shared_data):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"rerankers": [{"name": "colbert", "model": str(minilm), "depth": 3,
                                                   "cache_dir": str(tmp_path / "v")}]}))
    pipe = pipeline_from_spec(spec)
    assert pipe.rerankers[0].name == "multivector"
    (result,) = pipe.rerank_run([_ranking()])
    assert set(result.ranking.ids()[:3]) == {"d0", "d1", "d2"} and result.ranking.ids()[3] == "d3"

    from click.testing import CliRunner

    from rerankit.cli import main

    env = {"RERANKIT_DATA_DIR": str(shared_data), "RERANKIT_CACHE": str(tmp_path / "cache")}
    res = CliRunner().invoke(main, ["eval", "--dataset", "dl19", "--candidates", "bm25", "--queries", "2",
                                    "--depth", "10", "--reranker", "multivector", "--model", str(minilm), "--json"],
                             env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["queries"] == 2 and 0.0 < out["metrics"]["ndcg@10"] <= 1.0
    assert list((tmp_path / "cache" / "token-vectors").rglob("*.npz"))  # the CLI run stored its document vectors
