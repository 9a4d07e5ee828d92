"""/rag end to end with a real small LLM (smollm2-135m-instruct): the answer's citations are passages it was given."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rerankit.generators.rag import RAGGenerator
from rerankit.pipeline import Pipeline
from rerankit.server import create_app
from rerankit.server.service import ServerSettings

from .conftest import wait_ready


@pytest.mark.slow
@pytest.mark.llm
def test_rag_answers_with_citations_to_passages_in_its_context(bm25_small, smollm):
    gen = RAGGenerator(model=str(smollm), max_passages=2, max_new_tokens=32, max_passage_tokens=60,
                       engine_options={"device": "cpu"})
    app = create_app(Pipeline(bm25_small, [], gen, k=10), ServerSettings())
    with TestClient(app) as client:
        assert wait_ready(client, timeout=120)["endpoints"]["rag"] is True
        assert gen._engine is not None  # loaded before ready, not on the first request
        resp = client.post("/rag", json={"query": "How do stem cells differentiate?", "k": 5})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["answer"].strip()
        assert body["passages_used"] == [h["id"] for h in body["hits"]][:len(body["passages_used"])]
        assert 1 <= len(body["passages_used"]) <= 2
        for c in body["citations"]:
            assert c["id"] == body["passages_used"][c["number"] - 1]
        assert all(n < 1 or n > len(body["passages_used"]) for n in body["dropped_citations"])
        assert body["meta"]["prompt_tokens"] <= body["meta"]["context_budget"]
        bad = client.post("/rag", json={"query": "x", "k": 101})
        assert bad.status_code == 422 and "max_candidates" in bad.json()["error"]
    assert gen._engine is None  # released at shutdown
