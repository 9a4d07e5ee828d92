"""Pipeline specs: YAML and TOML build the same stages as the CLI names; bad specs are clear errors."""

from __future__ import annotations

import pytest

from rerankit.config import load_spec, pipeline_from_spec
from rerankit.errors import ConfigError
from rerankit.retrievers.bm25 import BM25Retriever
from rerankit.types import Document

DOCS = [Document("a", "solar eclipse viewing"), Document("b", "lunar eclipse photography"), Document("c", "tea")]


def test_yaml_and_toml_specs_build_the_same_pipeline(tmp_path):
    (tmp_path / "p.yaml").write_text("retriever: {name: bm25, k1: 1.2}\nk: 2\n")
    (tmp_path / "p.toml").write_text('k = 2\n[retriever]\nname = "bm25"\nk1 = 1.2\n')
    for name in ("p.yaml", "p.toml"):
        pipe = pipeline_from_spec(tmp_path / name, corpus=DOCS)
        assert isinstance(pipe.retriever, BM25Retriever) and pipe.retriever.k1 == 1.2
        assert pipe.run("eclipse").ranking.ids() == ["b", "a"]  # equal scores: trec_eval order (id descending)
        assert pipe.run("solar eclipse").ranking.ids() == ["a", "b"]


def test_spec_with_a_saved_index(tmp_path):
    BM25Retriever(show_progress=False).index(DOCS).save(tmp_path / "idx")
    pipe = pipeline_from_spec({"retriever": {"index": str(tmp_path / "idx")}, "k": 1})
    assert pipe.run("tea").ranking.ids() == ["c"]


@pytest.mark.parametrize("spec, message", [
    ({"retriver": "bm25"}, "unknown pipeline spec keys"),
    ({"retriever": {"k1": 1}}, "needs a 'name'"),
    ({"retriever": "bm99"}, "unknown retriever 'bm99'"),
    ({"rerankers": [{"name": "no-such-reranker"}]}, "unknown reranker"),
])
def test_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        pipeline_from_spec(spec)


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("retriever: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_spec(tmp_path / "bad.yaml")


def test_stages_on_different_models_or_options_keep_their_own_engines():
    from rerankit.config import share_engines

    entries = [("reranker", {"name": "yes-no", "model": "m1"}), ("reranker", "cross-encoder"),
               ("generator", {"name": "rag", "model": "m1", "engine_options": {"dtype": "bfloat16"}}),
               ("reranker", {"name": "rankgpt", "model": "m2"})]
    assert share_engines(entries) == entries  # nothing shared, so nothing was loaded


@pytest.mark.slow
@pytest.mark.llm
def test_a_reranker_and_the_generator_on_one_model_share_one_loaded_engine(smollm):
    model = str(smollm)
    pipe = pipeline_from_spec({
        "retriever": "bm25",
        "rerankers": [{"name": "yes-no", "model": model, "engine": "hf", "engine_options": {"device": "cpu"},
                       "progress": False}],
        "generator": {"name": "rag", "model": model, "engine": "transformers", "engine_options": {"device": "cpu"},
                      "max_new_tokens": 8, "max_passages": 1}}, corpus=DOCS)
    engine = pipe.rerankers[0].engine
    assert pipe.generator.engine is engine  # "hf" is an alias of "transformers"
    result = pipe.run("solar eclipse")
    assert sorted(result.ranking.ids()) == ["a", "b"] and result.answer is not None
    pipe.generator.close()  # the generator does not close an engine it was given: the reranker still has it
    assert pipe.rerankers[0].rerank(result.ranking).hits
