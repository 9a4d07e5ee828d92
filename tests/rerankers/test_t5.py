"""monoT5/duoT5 against pygaggle (goldens/make_t5.py ran its MonoT5/DuoT5 on the same tiny T5).

The tiny T5 has random weights (no T5 checkpoint is available offline): these tests show that rerankit builds the
same inputs, reads the same logits and aggregates them as the reference does; they show nothing about ranking
quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankit.errors import ConfigError
from rerankit.rerankers.t5 import DuoT5Reranker, MonoT5Reranker
from rerankit.types import Document, Hit, Query, Ranking

from .t5_tiny import build_tiny_t5

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "t5.json").read_text())


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("t5") / "tiny-t5"
    texts = [q["query"] for q in GOLDEN["queries"]] + [d["text"] for q in GOLDEN["queries"] for d in q["docs"]]
    digest = build_tiny_t5(folder, texts)
    assert digest == GOLDEN["weights_sha256"], "the tiny T5 rebuilt differently from the golden's"
    return folder


def _rankings() -> list[Ranking]:
    return [Ranking(Query(str(i), q["query"]), [Hit(Document(d["docid"], d["text"]), float(-j))
                                                for j, d in enumerate(q["docs"])])
            for i, q in enumerate(GOLDEN["queries"])]


def test_monot5_scores_equal_pygaggle(tiny_t5):
    rr = MonoT5Reranker(model=str(tiny_t5), progress=False)
    for out, q in zip(rr.rerank_many(_rankings()), GOLDEN["queries"]):
        got = {h.doc.id: h.score for h in out.hits}
        assert got == pytest.approx(q["monot5"], abs=1e-5)
        assert out.ids() == sorted(q["monot5"], key=lambda d: -q["monot5"][d])


def test_duot5_sym_sum_equals_pygaggle(tiny_t5):
    rr = DuoT5Reranker(model=str(tiny_t5), depth=GOLDEN["duo_depth"], progress=False)
    for out, q in zip(rr.rerank_many(_rankings()), GOLDEN["queries"]):
        head = out.hits[:GOLDEN["duo_depth"]]
        assert {h.doc.id: h.score for h in head} == pytest.approx(q["duot5"], abs=1e-5)
        assert [h.doc.id for h in head] == sorted(q["duot5"], key=lambda d: -q["duot5"][d])
        assert out.ids()[GOLDEN["duo_depth"]:] == [d["docid"] for d in q["docs"]][GOLDEN["duo_depth"]:]
        assert out.meta["pairs"] == GOLDEN["duo_depth"] * (GOLDEN["duo_depth"] - 1)


def test_engine_and_token_errors(tiny_t5):
    with pytest.raises(ConfigError, match="vLLM 0.32"):
        MonoT5Reranker(model=str(tiny_t5), engine="vllm")
    with pytest.raises(ConfigError, match="transformers"):
        DuoT5Reranker(model=str(tiny_t5), engine="openai")
    with pytest.raises(ConfigError, match="no token"):
        MonoT5Reranker(model=str(tiny_t5), token_true="▁yes", token_false="▁no")
    with pytest.raises(ConfigError, match="device and dtype"):
        MonoT5Reranker(model=str(tiny_t5), engine_options={"batch": 3})


def test_registered_by_name(tiny_t5):
    from rerankit.registry import build

    rr = build("reranker", "monot5", model=str(tiny_t5), progress=False)
    assert isinstance(rr, MonoT5Reranker)
    assert isinstance(build("reranker", "duot5", model=str(tiny_t5), progress=False), DuoT5Reranker)


def test_yaml_spec_chains_monot5_then_duot5(tiny_t5, tmp_path):
    from rerankit.config import pipeline_from_spec

    docs = [Document(d["docid"], d["text"]) for d in GOLDEN["queries"][0]["docs"]]
    (tmp_path / "p.yaml").write_text(f"retriever: bm25\nk: 6\nrerankers:\n  - {{name: monot5, model: '{tiny_t5}'}}\n"
                                     f"  - {{name: duot5, model: '{tiny_t5}', depth: 3}}\n")
    pipe = pipeline_from_spec(tmp_path / "p.yaml", corpus=docs)
    assert [type(r) for r in pipe.rerankers] == [MonoT5Reranker, DuoT5Reranker]
    ranking = pipe.run(GOLDEN["queries"][0]["query"]).ranking
    assert sorted(ranking.ids()) == sorted(d.id for d in docs) and ranking.meta["pairs"] == 6


def test_cli_rerank_with_duot5(tiny_t5, tmp_path, shared_data):
    from click.testing import CliRunner

    from rerankit.cli import main

    qid, docs = "1", ["31715818", "4983", "5836", "7912"]  # a SciFact query and corpus ids (small corpus: fast)
    (tmp_path / "in.trec").write_text("".join(f"{qid} Q0 {d} {i + 1} {10 - i} bm25\n" for i, d in enumerate(docs)))
    res = CliRunner().invoke(main, ["rerank", "--run", str(tmp_path / "in.trec"), "--dataset", "beir/scifact",
                                    "--reranker", "duot5", "--model", str(tiny_t5), "--output",
                                    str(tmp_path / "out.trec"), "--no-cache"],
                             env={"RERANKIT_DATA_DIR": str(shared_data), "RERANKIT_CACHE": str(tmp_path / "c")})
    assert res.exit_code == 0, res.output
    out = [ln.split() for ln in (tmp_path / "out.trec").read_text().splitlines()]
    assert sorted(r[2] for r in out) == sorted(docs) and {r[0] for r in out} == {qid}
