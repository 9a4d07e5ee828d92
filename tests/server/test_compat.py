"""The Cohere/Jina-compatible /v1/rerank and /v2/rerank: in-process for the schema, and a real `rerankit serve`
process driven by the real `cohere` SDK (its own request format and response parsing)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from rerankit.server import create_app
from rerankit.server.service import ServerSettings
from rerankit.types import Document, Hit, Query, Ranking

from .conftest import wait_ready
from .test_serve import _start, _wait_ready


@pytest.fixture(scope="module")
def client(pipeline):
    app = create_app(pipeline, ServerSettings(max_candidates=12))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def _direct(reranker, query: str, texts: list[str]) -> list[int]:
    """Indexes of `texts` in the order the reranker itself returns them."""
    return [int(i) for i in reranker.rerank(_ranking(query, texts)).ids()]


@pytest.mark.slow
def test_v1_rerank_returns_the_rerankers_order_with_indexes_and_documents(client, ce_reranker, scifact_docs):
    texts = [d.text[:400] for d in scifact_docs[:8]]
    documents = [t if i % 2 else {"text": t, "source": f"doc-{i}"} for i, t in enumerate(texts)]
    resp = client.post("/v1/rerank", json={"model": "cross-encoder", "query": "cancer treatment",
                                           "documents": documents, "top_n": 5, "return_documents": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == "cross-encoder" and body["meta"]["api_version"] == {"version": "1"} and body["id"]
    results = body["results"]
    assert [r["index"] for r in results] == _direct(ce_reranker, "cancer treatment", texts)[:5]
    for r in results:
        assert r["document"] == (documents[r["index"]] if r["index"] % 2 == 0 else {"text": texts[r["index"]]})
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    bare = client.post("/v2/rerank", json={"model": "cross-encoder", "query": "cancer treatment",
                                           "documents": texts, "return_documents": False}).json()
    assert [r["index"] for r in bare["results"]] == _direct(ce_reranker, "cancer treatment", texts)
    assert all("document" not in r for r in bare["results"]) and bare["meta"]["api_version"] == {"version": "2"}


DOCS = ["alpha beta", "gamma delta"]
MALFORMED = [
    ({"documents": DOCS}, "query: Field required"),
    ({"query": "", "documents": DOCS}, "query: String should have at least 1 character"),
    ({"query": "x", "documents": []}, "documents: List should have at least 1 item"),
    ({"query": "x"}, "documents: Field required"),
    ({"query": "x", "documents": "alpha beta"}, "documents: Input should be a valid list"),
    ({"query": "x", "documents": ["ok", 7]}, "document 1 must be a string or an object with a string 'text'"),
    ({"query": "x", "documents": [{"title": "t"}]}, "document 0 is an object without a 'text' field"),
    ({"query": "x", "documents": ["ok", "  "]}, "document 1 is empty or only whitespace"),
    ({"query": 3, "documents": DOCS}, "query: Input should be a valid string"),
    ({"query": "x", "documents": DOCS, "top_n": 0}, "top_n: Input should be greater than or equal to 1"),
    ({"query": "x", "documents": DOCS, "top_n": "1"}, "top_n: Input should be a valid integer"),
    ({"query": "x", "documents": DOCS, "return_documents": "yes"}, "return_documents: Input should be a valid bool"),
    ({"query": "x", "documents": DOCS, "max_tokens_per_doc": 512}, "max_tokens_per_doc: not supported"),
    ({"query": "x", "documents": DOCS, "rank_fields": ["title"]}, "only ['text'] is supported"),
    ({"query": "x", "documents": DOCS, "temperature": 1}, "temperature: Extra inputs are not permitted"),
    ({"model": "/root/models/evil", "query": "x", "documents": DOCS},
     "model: '<path>' is not a reranker of this server; it serves 'cross-encoder'"),
    ({"model": "rerank-v3.5", "query": "x", "documents": DOCS},
     "model: 'rerank-v3.5' is not a reranker of this server; it serves 'cross-encoder'"),
    ({"query": "x", "documents": ["d"] * 13}, "13 documents, more than this server's max_candidates (12)"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED)
@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
def test_schema_errors_are_422_in_the_servers_error_schema(client, path, body, message):
    resp = client.post(path, json=body)
    assert resp.status_code == 422, resp.text
    err = resp.json()
    assert set(err) == {"error", "type", "detail"} and err["type"] == "invalid_request"
    assert message in err["error"], err["error"]


def test_model_may_be_omitted_and_the_stats_count_it(client):
    before = client.get("/stats").json()["requests"]["completed"]
    resp = client.post("/v1/rerank", json={"query": "stem cells", "documents": DOCS})
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == "cross-encoder" and sorted(r["index"] for r in resp.json()["results"]) == [0, 1]
    assert client.get("/stats").json()["requests"]["completed"] == before + 1
    # a top_n above the number of documents returns them all, as the hosted APIs do
    more = client.post("/v1/rerank", json={"query": "stem cells", "documents": DOCS, "top_n": 3})
    assert more.status_code == 200 and len(more.json()["results"]) == 2


@pytest.fixture(scope="module")
def two_reranker_server(tmp_path_factory, minilm):
    """A real server with two configured rerankers (a cross-encoder at depth 3, then multivector), max_queue 2."""
    root = tmp_path_factory.mktemp("compat")
    (root / "pipeline.yaml").write_text(yaml.safe_dump({"rerankers": [
        {"name": "cross-encoder", "model": str(minilm), "progress": False, "allow_untrained_head": True, "depth": 3},
        {"name": "multivector", "model": str(minilm), "cache_dir": str(root / "vectors")}]}))
    proc, base = _start(root / "pipeline.yaml", "--max-queue", "2", "--max-wait-ms", "1")
    try:
        _wait_ready(proc, base)
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)


@pytest.mark.slow
def test_cohere_sdk_against_a_real_server(two_reranker_server, minilm, scifact_docs, tmp_path):
    cohere = pytest.importorskip("cohere")  # the dev extra installs it
    from rerankit.registry import build

    base = two_reranker_server
    texts = [d.text[:300] for d in scifact_docs[10:18]]
    query = "insulin resistance"
    v2 = cohere.ClientV2(base_url=base, api_key="unused")
    # the multivector stage alone: the same order as that reranker run here (its scores are deterministic)
    local = build("reranker", "multivector", model=str(minilm), cache=False)
    expected = _direct(local, query, texts)
    got = v2.rerank(model="multivector", query=query, documents=texts, top_n=6)
    assert [r.index for r in got.results] == expected[:6]
    assert [r.relevance_score for r in got.results] == pytest.approx(
        sorted((h.score for h in local.rerank(_ranking(query, texts)).hits), reverse=True)[:6], rel=1e-5)
    # the cross-encoder stage alone (depth 3): the first three reordered, the rest kept beneath in their order
    ce = [r.index for r in v2.rerank(model="cross-encoder", query=query, documents=texts).results]
    assert sorted(ce[:3]) == [0, 1, 2] and ce[3:] == [3, 4, 5, 6, 7]
    # every stage in order: what the server's own POST /rerank returns
    chained = [r.index for r in v2.rerank(model="pipeline", query=query, documents=texts).results]
    native = httpx.post(f"{base}/rerank", timeout=120, json={
        "query": query, "passages": [{"id": str(i), "text": t} for i, t in enumerate(texts)]}).json()
    assert chained == [int(h["id"]) for h in native["hits"]]
    # the v1 client: {text} documents, documents returned
    v1 = cohere.Client(base_url=base, api_key="unused")
    old = v1.rerank(model="multivector", query=query, documents=[{"text": t} for t in texts], top_n=2,
                    return_documents=True)
    assert [r.index for r in old.results] == expected[:2]
    assert old.results[0].document.text == texts[expected[0]]
    # LangChain's CohereRerank (a document compressor) unchanged, pointed at this server
    from langchain_core.documents import Document as LCDocument

    CohereRerank = pytest.importorskip("langchain_cohere").CohereRerank  # the dev extra installs it
    compressor = CohereRerank(base_url=base, cohere_api_key="unused", model="multivector", top_n=3)
    lc_docs = [LCDocument(page_content=t, metadata={"n": i}) for i, t in enumerate(texts)]
    kept = compressor.compress_documents(lc_docs, query)
    assert [d.metadata["n"] for d in kept] == expected[:3]
    assert len(compressor.compress_documents(lc_docs[:2], query)) == 2  # its default top_n 3 over 2 documents
    with pytest.raises(cohere.core.api_error.ApiError) as info:
        v2.rerank(model="rerank-v3.5", query=query, documents=texts)
    assert info.value.status_code == 422
    assert "it serves 'cross-encoder', 'multivector', 'pipeline'" in info.value.body["error"]


@pytest.mark.slow
def test_llamaindex_hosted_rerank_postprocessors_against_a_real_server(two_reranker_server, scifact_docs):
    """LlamaIndex's CohereRerank (the cohere SDK's v1 client) and JinaRerank (its own `requests` call to
    `{base_url}/rerank`), both unchanged and pointed at this server, return the server's own order and scores."""
    cohere_rerank = pytest.importorskip("llama_index.postprocessor.cohere_rerank")  # the dev extra installs them
    jina_rerank = pytest.importorskip("llama_index.postprocessor.jinaai_rerank")
    from llama_index.core.schema import NodeWithScore, TextNode

    base = two_reranker_server
    texts = [d.text[:300] for d in scifact_docs[20:28]]
    query = "vitamin D deficiency"
    direct = httpx.post(f"{base}/v2/rerank", timeout=120, json={"model": "multivector", "query": query,
                                                                 "documents": texts}).json()["results"]
    nodes = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.0) for i, t in enumerate(texts)]
    clients = [cohere_rerank.CohereRerank(top_n=3, model="multivector", api_key="unused", base_url=base),
               jina_rerank.JinaRerank(top_n=3, model="multivector", api_key="unused", base_url=f"{base}/v1")]
    for post in clients:
        kept = post.postprocess_nodes(nodes, query_str=query)
        assert [n.node.node_id for n in kept] == [f"n{r['index']}" for r in direct[:3]], type(post).__name__
        assert [n.score for n in kept] == pytest.approx([r["relevance_score"] for r in direct[:3]], rel=1e-6)
    # a model this server does not configure: Jina's client raises with the server's message
    with pytest.raises(RuntimeError):
        jina_rerank.JinaRerank(top_n=2, model="jina-reranker-v2-base-multilingual", api_key="unused",
                               base_url=f"{base}/v1").postprocess_nodes(nodes, query_str=query)


def _ranking(query: str, texts: list[str]) -> Ranking:
    n = len(texts)
    return Ranking(Query("q", query), tuple(Hit(Document(str(i), t), float(n - i)) for i, t in enumerate(texts)))


@pytest.mark.slow
def test_past_max_queue_v1_rerank_is_shed_with_503(two_reranker_server, scifact_docs):
    texts = [d.text[:1500] for d in scifact_docs[:40]]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=two_reranker_server, timeout=300) as c:
            return await asyncio.gather(*(c.post("/v1/rerank", json={"model": "multivector", "query": f"q{i}",
                                                                       "documents": texts[i::4]})
                                          for i in range(8)))

    answers = asyncio.run(burst())
    codes = sorted(r.status_code for r in answers)
    assert 200 in codes and 503 in codes, codes
    shed = next(r for r in answers if r.status_code == 503)
    assert shed.json()["type"] == "overloaded" and int(shed.headers["retry-after"]) >= 1
