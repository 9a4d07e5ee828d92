"""The HTTP app in-process (FastAPI TestClient runs the real ASGI app with its lifespan)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rerankit.server import create_app
from rerankit.server.service import ServerSettings
from rerankit.types import Query, Ranking

from .conftest import wait_ready


@pytest.fixture(scope="module")
def client(pipeline):
    app = create_app(pipeline, ServerSettings(max_body_bytes=8192, max_candidates=30))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def test_health_ready_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["endpoints"] == {"search": True, "rerank": True, "rag": False}
    schema = client.get("/openapi.json").json()
    assert {"/search", "/rerank", "/rag", "/health", "/ready"} <= set(schema["paths"])
    assert "SearchRequest" in schema["components"]["schemas"]


def test_search_retrieves_then_reranks(client, pipeline):
    resp = client.post("/search", json={"query": "stem cell differentiation", "k": 5})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["stages"] == ["bm25", "cross-encoder"]
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5]
    expected = pipeline.run(Query("x", "stem cell differentiation")).ranking.top(5)
    assert [h["id"] for h in body["hits"]] == expected.ids()
    first = client.post("/search", json={"query": "stem cell differentiation", "k": 5, "rerank": False}).json()
    assert first["stages"] == ["bm25"]
    assert [h["id"] for h in first["hits"]] == pipeline.retriever.search("stem cell differentiation", 5).ids()


def test_rerank_orders_callers_passages_like_the_reranker(client, ce_reranker, scifact_docs):
    docs = scifact_docs[:6]
    passages = [{"id": d.id, "text": d.text[:600], "title": d.title} for d in docs]
    resp = client.post("/rerank", json={"query": "cancer treatment", "passages": passages, "top_n": 4})
    assert resp.status_code == 200, resp.text
    from rerankit.types import Document, Hit

    sent = [Document(p["id"], p["text"], p["title"]) for p in passages]
    direct = ce_reranker.rerank(Ranking(Query("q", "cancer treatment"),
                                        tuple(Hit(d, float(6 - i)) for i, d in enumerate(sent))))
    assert [h["id"] for h in resp.json()["hits"]] == direct.ids()[:4]


MALFORMED = [
    ("/search", {}, "query: Field required"),
    ("/search", {"query": ""}, "query: String should have at least 1 character"),
    ("/search", {"query": "   "}, "query: must not be empty"),
    ("/search", {"query": 42}, "query: Input should be a valid string"),
    ("/search", {"query": "x", "k": "5"}, "k: Input should be a valid integer"),
    ("/search", {"query": "x", "k": 0}, "k: Input should be greater than or equal to 1"),
    ("/search", {"query": "x", "k": 31}, "above this server's max_candidates (30)"),
    ("/search", {"query": "x", "kk": 3}, "kk: Extra inputs are not permitted"),
    ("/search", ["query"], "Input should be a valid dictionary"),
    ("/rerank", {"query": "x"}, "passages: Field required"),
    ("/rerank", {"query": "x", "passages": []}, "passages: List should have at least 1 item"),
    ("/rerank", {"query": "x", "passages": [{"id": "a"}]}, "passages.0.text: Field required"),
    ("/rerank", {"query": "x", "passages": "a b c"}, "passages: Input should be a valid list"),
    ("/rerank", {"query": "x", "passages": [{"id": "a", "text": "t"}, {"id": "a", "text": "u"}]},
     "duplicate passage id 'a'"),
    ("/rerank", {"query": "x", "passages": [{"id": str(i), "text": "t"} for i in range(31)]},
     "31 passages, more than this server's max_candidates (30)"),
    ("/rag", {"query": ""}, "query: String should have at least 1 character"),
]


@pytest.mark.parametrize(("path", "body", "message"), MALFORMED)
def test_malformed_requests_get_422_with_a_message_and_the_service_keeps_serving(client, path, body, message):
    resp = client.post(path, json=body)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["error"]
    assert client.post("/search", json={"query": "protein folding", "k": 2, "rerank": False}).status_code == 200


def test_invalid_json_oversized_and_wrong_content(client):
    bad = client.post("/search", content=b'{"query": "x",', headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "not valid JSON" in bad.json()["error"]
    big = client.post("/search", json={"query": "x" * 9000})
    assert big.status_code == 413 and "at most 8192 bytes" in big.json()["error"]
    many = client.post("/rerank", json={"query": "x", "passages": [{"id": str(i), "text": "word " * 80}
                                                                  for i in range(25)]})
    assert many.status_code == 413
    assert client.post("/search", json={"query": "protein folding", "k": 2}).status_code == 200


def test_rag_without_generator_is_501(client):
    resp = client.post("/rag", json={"query": "what is x?"})
    assert resp.status_code == 501 and "generator" in resp.json()["error"]


def test_stats_count_requests(client):
    before = client.get("/stats").json()["stages"]["rerank"]["items"]
    client.post("/search", json={"query": "insulin resistance", "k": 3})
    after = client.get("/stats").json()["stages"]
    assert after["rerank"]["items"] == before + 1
    assert after["retrieve"]["batches"] >= 1


def _wait_failed(c):
    import time

    for _ in range(200):
        r = c.get("/ready")
        if r.json()["status"] == "failed":
            return r
        time.sleep(0.02)
    raise AssertionError(f"the load never failed: {r.text}")


def test_not_ready_until_loaded_and_failed_load_is_reported():
    from rerankit.errors import DataError

    def broken():
        raise DataError("index folder /srv/rerankit/indexes/scifact missing: build it with rerankit index")

    with TestClient(create_app(broken, ServerSettings())) as c:
        r = _wait_failed(c)
        assert r.status_code == 503 and "index folder <path> missing" in r.json()["error"]
        assert "/srv/" not in r.text and "DataError" not in r.text
        resp = c.post("/search", json={"query": "x"})
        assert resp.status_code == 503 and "poll GET /ready" in resp.json()["error"]
        assert resp.json()["type"] == "not_ready"
        health = c.get("/health")  # liveness reports the failure too, for servers run without `rerankit serve`
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "index folder <path> missing" in health.json()["error"]


def test_an_unexpected_load_failure_is_reported_without_its_class_or_paths():
    def buggy():
        raise KeyError("/home/me/secret/config.json")

    with TestClient(create_app(buggy, ServerSettings())) as c:
        r = _wait_failed(c)
        assert "the server log has the details" in r.json()["error"]
        assert "KeyError" not in r.text and "/home/me" not in r.text
        assert c.get("/health").status_code == 503
