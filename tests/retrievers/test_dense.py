"""Dense retrieval with the packaged all-MiniLM-L6-v2: ranking, prompts, faiss index types, save/reload, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rerankit.errors import IndexMismatchError, InputError, ModelNotFoundError
from rerankit.registry import build
from rerankit.retrievers.dense import DenseRetriever

from .conftest import QUERIES, SEASONS, as_lists

pytestmark = pytest.mark.slow  # loads a real encoder


@pytest.fixture(scope="module")
def dense(minilm, minilm_encoder):
    retriever = build("retriever", "dense", model=str(minilm), show_progress=False)
    retriever._model = minilm_encoder
    return retriever.index(SEASONS)


def test_ranks_the_relevant_passages_first(dense):
    run = dense.search_many(QUERIES, k=3)
    assert run["q1"].ids()[:2] in (["d1", "d3"], ["d1", "d6"])
    assert run["q2"].ids()[0] == "d5"
    assert run["q3"].ids()[0] == "d2"
    assert run["q4"].ids()[0] == "d4"
    scores = [h.score for h in run["q1"]]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 + 1e-6 for s in scores)
    assert run["q1"][0].doc.title == "Seasons"  # hits carry their documents


def test_encoding_is_normalised_and_order_independent(dense):
    texts = [d.full_text for d in SEASONS]
    emb = dense.encode_documents(texts)
    assert emb.shape == (len(texts), 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # batches are length-sorted inside; the output must still follow the input order
    direct = dense.encoder.encode(texts, normalize_embeddings=True)
    assert np.allclose(emb, direct, atol=1e-5)
    reversed_emb = dense.encode_documents(texts[::-1])
    assert np.allclose(reversed_emb[::-1], emb, atol=1e-5)


def test_prefixes_and_instructions_reach_the_encoder(minilm, dense):
    plain = dense.encode_queries(["seasons"])
    prefixed = DenseRetriever(str(minilm), query_prefix="query: ", show_progress=False)
    prefixed._model = dense.encoder  # same weights, other prompt
    assert np.allclose(prefixed.encode_queries(["seasons"]), dense.encode_documents(["query: seasons"]), atol=1e-5)
    assert not np.allclose(prefixed.encode_queries(["seasons"]), plain, atol=1e-3)
    instructed = DenseRetriever(str(minilm), instruction="Find passages", show_progress=False)
    instructed._model = dense.encoder
    assert np.allclose(instructed.encode_queries(["seasons"]),
                       dense.encode_documents(["Instruct: Find passages\nQuery:seasons"]), atol=1e-5)
    with pytest.raises(InputError, match="either query_prefix or instruction"):
        DenseRetriever(str(minilm), query_prefix="q: ", instruction="x")


@pytest.mark.parametrize("index_type, options", [("hnsw", {"hnsw_m": 8}), ("ivf", {"nlist": 2, "nprobe": 2})])
def test_approximate_indexes_agree_with_flat_on_a_small_corpus(minilm, dense, index_type, options):
    other = DenseRetriever(str(minilm), index_type=index_type, show_progress=False, **options)
    other._model = dense.encoder
    other.index(SEASONS)
    exact, approx = dense.search_many(QUERIES, k=3), other.search_many(QUERIES, k=3)
    for q in exact:
        assert approx[q].ids() == exact[q].ids()
        assert list(approx[q].scores().values()) == pytest.approx(list(exact[q].scores().values()), abs=1e-5)


def test_save_reload_in_a_new_process_gives_identical_results(dense, tmp_path, search_in_new_process):
    dense.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "rerankit.json").read_text())
    assert meta["config"]["name"] == "dense" and meta["encoder"]["dimension"] == 384
    expected = as_lists(dense.search_many(QUERIES, k=5))
    assert search_in_new_process("dense", tmp_path / "idx", QUERIES, 5) == expected


def test_corrupt_or_mismatched_index_is_refused(dense, mpnet, tmp_path):
    dense.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="768-d vectors"):
        DenseRetriever.load(tmp_path / "idx", model=str(mpnet))
    # an index from another 384-d encoder: same dimension, other probe embedding
    manifest = tmp_path / "idx" / "rerankit.json"
    original = manifest.read_text()
    meta = json.loads(original)
    meta["encoder"].update(model="another/384-d-encoder", fingerprint=meta["encoder"]["fingerprint"][::-1])
    manifest.write_text(json.dumps(meta))
    with pytest.raises(IndexMismatchError, match="another/384-d-encoder.*embeds differently"):
        DenseRetriever.load(tmp_path / "idx")
    manifest.write_text(original)
    assert DenseRetriever.load(tmp_path / "idx").num_docs == len(SEASONS)
    blob = bytearray((tmp_path / "idx" / "index.faiss").read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte inside a vector: still a readable faiss file
    (tmp_path / "idx" / "index.faiss").write_bytes(bytes(blob))
    with pytest.raises(IndexMismatchError, match="checksum"):
        DenseRetriever.load(tmp_path / "idx")
    (tmp_path / "idx" / "index.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexMismatchError):
        DenseRetriever.load(tmp_path / "idx", verify=False)
    (tmp_path / "idx" / "index.faiss").unlink()
    with pytest.raises(IndexMismatchError, match="missing"):
        DenseRetriever.load(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="not a rerankit index"):
        DenseRetriever.load(tmp_path / "nothing")


def test_bad_input_errors(minilm, tmp_path):
    with pytest.raises(InputError, match="index_type"):
        DenseRetriever(str(minilm), index_type="annoy")
    with pytest.raises(InputError, match="empty"):
        DenseRetriever(str(minilm)).search("x")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        DenseRetriever(str(tmp_path / "no-such-model")).encoder  # noqa: B018


def test_scifact_slice_quality(minilm, shared_data, dense):
    """A SciFact slice (judged documents of 20 queries + 60 others): dense must rank well above chance."""
    from rerankit.data import load_dataset
    from rerankit.evaluation import evaluate

    ds = load_dataset("beir/scifact", data_dir=shared_data)
    qids = list(ds.queries)[:20]
    judged = {d for q in qids for d in ds.qrels[q]}
    docs = [d for d in ds.corpus.values() if d.id in judged]
    docs += [d for d in ds.corpus.values() if d.id not in judged][:60]
    retriever = DenseRetriever(str(minilm), show_progress=False)
    retriever._model = dense.encoder
    run = retriever.index(docs).search_many([ds.queries[q] for q in qids], k=10)
    ndcg = evaluate(run, {q: ds.qrels[q] for q in qids}, ["ndcg@10"])["ndcg@10"]
    assert ndcg > 0.6, ndcg  # 0.97 measured here; a random ranking of these 80 documents gives about 0.1


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_ties_at_the_cut_are_decided_by_document_id(minilm, minilm_encoder, order):
    """Six copies of one passage score exactly alike: the k that make the cut are those trec_eval ranks first (the
    highest ids), whatever order faiss stored them in; ties inside the cut are ordered by id too."""
    from rerankit.types import Document, Query

    copies = [Document(f"dup-{i}", "Leaves turn sunlight into sugar by photosynthesis.") for i in range(6)]
    docs = [*SEASONS, *(copies if order == "ascending" else copies[::-1])]
    retriever = build("retriever", "dense", model=str(minilm), show_progress=False, batch_size=1)
    retriever._model = minilm_encoder
    retriever.index(docs)
    query = Query("q", "how do leaves make sugar from light")
    for k in (1, 3, 5):
        got = retriever.search(query, k)
        assert got.ids() == [f"dup-{i}" for i in range(5, 5 - k, -1)], (order, k)
        assert len(set(got.score_list())) == 1
    # deeper than the copies: they come first, then the rest by score
    assert retriever.search(query, 8).ids()[:6] == [f"dup-{i}" for i in range(5, -1, -1)]
    # a tie across the cut when one extra result already reaches the last document (k = n - 1)
    only = build("retriever", "dense", model=str(minilm), show_progress=False, batch_size=1)
    only._model = minilm_encoder
    only.index(copies if order == "ascending" else copies[::-1])
    assert only.search(query, 5).ids() == [f"dup-{i}" for i in range(5, 0, -1)]
