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


@pytest.mark.slow
@pytest.mark.llm
def test_one_loaded_model_serves_the_reranker_and_the_generator(bm25_small, smollm, tmp_path):
    """A spec naming the same model and engine twice loads it once; its rerank and generate batches take turns."""
    from concurrent.futures import ThreadPoolExecutor

    from rerankit.server import app_from_config

    bm25_small.save(tmp_path / "index")
    model, opts = str(smollm), {"device": "cpu"}
    (tmp_path / "p.yaml").write_text(
        "retriever: {index: index}\n"
        f"rerankers: [{{name: yes-no, model: '{model}', engine: transformers, engine_options: {opts}, depth: 3, "
        "progress: false}]\n"
        f"generator: {{name: rag, model: '{model}', engine: transformers, engine_options: {opts}, max_passages: 1, "
        "max_new_tokens: 8}\n"
        "k: 5\n")
    app = app_from_config(tmp_path / "p.yaml", ServerSettings())
    with TestClient(app) as client:
        wait_ready(client, timeout=300)
        service = app.state.service
        pipe = service.pipeline
        assert pipe.generator.engine is pipe.rerankers[0].engine
        assert service.rerank_q._executor is service.generate_q._executor  # one thread drives the shared engine
        with ThreadPoolExecutor(4) as pool:
            rag = [pool.submit(client.post, "/rag", json={"query": "How do stem cells differentiate?", "k": 3})
                   for _ in range(2)]
            search = [pool.submit(client.post, "/search", json={"query": q, "k": 3}) for q in ("insulin", "cancer")]
            answers = [f.result() for f in rag + search]
        assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
        assert all(r.json()["stages"] == ["bm25", "yes-no"] for r in answers[2:])
        assert all(r.json()["answer"].strip() for r in answers[:2])
