"""Every error answer is the one JSON schema, and none shows a server path or an exception class name.

The app runs in-process on real SciFact BM25; the 500 cases use a reranker that fails the way a bug would
(a plain exception naming a file), since no packaged model fails on purpose.
"""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from rerankit.errors import CapabilityError
from rerankit.pipeline import Pipeline
from rerankit.rerankers.base import Reranker
from rerankit.server import create_app
from rerankit.server.errors import ERROR_TYPES, error_body, public_message
from rerankit.server.service import ServerSettings

from .conftest import wait_ready


class _Failing(Reranker):
    """Fails every call with `exc` (a stand-in for a bug inside a stage)."""

    name = "failing"

    def __init__(self, exc: Exception) -> None:
        super().__init__(depth=5)
        self.exc = exc

    def _rerank_batch(self, rankings):
        raise self.exc


def _client(bm25_small, exc: Exception) -> TestClient:
    app = create_app(Pipeline(bm25_small, [_Failing(exc)], k=5), ServerSettings(warmup=False))
    return TestClient(app, raise_server_exceptions=False)


def _assert_schema(resp, status: int, type_: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error", "type", "detail"} and body["type"] == type_
    assert isinstance(body["error"], str) and body["error"]
    assert ERROR_TYPES[type_] == status or type_ == "invalid_request"
    return body


@pytest.mark.parametrize(("message", "public"), [
    ("index folder /work/x/index missing", "index folder <path> missing"),
    ("cannot read '/tmp/a b/c.json' now", "cannot read '<path>' now"),
    ("/rag is not enabled: poll GET /ready", "/rag is not enabled: poll GET /ready"),
    ("see http://localhost:8000/v1/models and ~/models/q", "see http://localhost:8000/v1/models and <path>"),
    ("No such file or directory: '/root/.cache/x/y.pt'", "No such file or directory: '<path>'"),
])
def test_public_messages_hide_server_paths(message, public):
    assert public_message(message) == public
    assert error_body("internal", message) == {"error": public, "type": "internal", "detail": None}


def test_unknown_endpoint_and_method_are_json(client_ok):
    body = _assert_schema(client_ok.get("/nope"), 404, "not_found")
    assert "GET /nope" in body["error"]
    resp = client_ok.get("/search")
    body = _assert_schema(resp, 405, "method_not_allowed")
    assert "POST" in body["error"] and resp.headers["allow"] == "POST"
    _assert_schema(client_ok.post("/search", json={"query": ""}), 422, "invalid_request")
    body = _assert_schema(client_ok.post("/search", content=b'{"query": "caf\xe9"}',
                                         headers={"content-type": "application/json"}), 400, "invalid_request")
    assert "UTF-8 JSON" in body["error"]
    _assert_schema(client_ok.post("/rag", json={"query": "x"}), 501, "not_enabled")
    _assert_schema(client_ok.post("/search", content=b"x" * 9000, headers={"content-type": "application/json"}),
                   413, "body_too_large")


@pytest.fixture(scope="module")
def client_ok(bm25_small):
    with TestClient(create_app(Pipeline(bm25_small, [], k=5), ServerSettings(max_body_bytes=8192))) as c:
        wait_ready(c)
        yield c


def test_a_bug_inside_a_stage_is_a_json_500_without_class_or_path(bm25_small, caplog):
    with _client(bm25_small, RuntimeError("tensor mismatch in /opt/site-packages/torch/nn/x.py")) as c:
        wait_ready(c)
        with caplog.at_level(logging.ERROR, logger="rerankit.server.app"):
            resp = c.post("/search", json={"query": "stem cells", "k": 3})
        body = _assert_schema(resp, 500, "internal")
        assert "RuntimeError" not in resp.text and "/opt/" not in resp.text and "torch" not in resp.text
        error_id = body["error"].split("error id ")[1].split(")")[0]
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert error_id in logged and "RuntimeError" in logged and "/opt/site-packages" in logged  # for operators
        assert c.post("/search", json={"query": "stem cells", "k": 3, "rerank": False}).status_code == 200


def test_a_rerankit_error_inside_a_stage_keeps_its_message_not_its_class(bm25_small):
    with _client(bm25_small, CapabilityError("the engine at /srv/models/qwen cannot return attentions")) as c:
        wait_ready(c)
        resp = c.post("/search", json={"query": "stem cells", "k": 3})
        body = _assert_schema(resp, 500, "internal")
        assert "cannot return attentions" in body["error"] and "<path>" in body["error"]
        assert "CapabilityError" not in resp.text and "/srv/" not in resp.text
