"""The RAG generator with a real small LLM (smollm2-135m-instruct) on real SciFact passages.

Checks what must always hold whatever the model writes: the prompt fits the token budget, passages go in
rank order, and every citation points at a passage that was in the context.
"""

from __future__ import annotations

import pytest

from rerankit.config import pipeline_from_spec
from rerankit.data import load_dataset
from rerankit.errors import ConfigError, InputError
from rerankit.generators.rag import RAGGenerator
from rerankit.pipeline import Pipeline
from rerankit.retrievers.bm25 import BM25Retriever
from rerankit.types import Query, Ranking


@pytest.fixture(scope="module")
def scifact(shared_data):
    return load_dataset("beir/scifact", data_dir=shared_data)


@pytest.fixture(scope="module")
def bm25(scifact):
    return BM25Retriever(show_progress=False).index(scifact.corpus.values())


@pytest.fixture(scope="module")
def engine(smollm):
    from rerankit.engines import get_engine

    return get_engine("transformers", str(smollm), device="cpu")


@pytest.fixture(scope="module")
def ranking(bm25):
    return bm25.search(Query("q1", "vitamin D supplementation and bone mineral density"), 10)


def test_packing_fits_the_budget_in_rank_order_and_reports_cuts(engine, ranking):
    gen = RAGGenerator(model=None, engine=engine, max_passages=6, context_budget=500, max_passage_tokens=None)
    packed = gen.pack(ranking)
    rendered = engine.render(packed.prompt)
    assert packed.prompt_tokens == engine.count_tokens(rendered) <= 500
    n = len(packed.passages)
    assert 1 <= n < 6  # SciFact abstracts are ~250 tokens: the budget, not max_passages, stops the packing
    assert [d.id for d in packed.passages] == ranking.ids()[:n]
    for i, doc in enumerate(packed.passages, 1):
        assert f"[{i}] {' '.join(doc.title.split())}:" in rendered
    assert f"\n[{n + 1}] " not in rendered
    assert packed.truncated and set(packed.truncated) <= {d.id for d in packed.passages}
    assert "vitamin D supplementation" in rendered


def test_default_budget_is_context_minus_answer_and_max_passages_caps(engine, ranking):
    gen = RAGGenerator(model=None, engine=engine, max_passages=2, max_new_tokens=100, max_passage_tokens=50)
    assert gen.budget() == engine.context_length - 100
    packed = gen.pack(ranking)
    assert [d.id for d in packed.passages] == ranking.ids()[:2]
    assert set(packed.truncated) == set(ranking.ids()[:2])  # each cut to 50 tokens


def test_budget_too_small_is_a_clear_error(engine, ranking):
    gen = RAGGenerator(model=None, engine=engine, context_budget=60)
    with pytest.raises(InputError, match="context budget"):
        gen.pack(ranking)
    gen = RAGGenerator(model=None, engine=engine, context_budget=engine.count_tokens(
        engine.render(gen._fill(ranking.query.text, []))) + 10)
    with pytest.raises(InputError, match="no passage fits"):
        gen.pack(ranking)


def test_bad_options_and_templates(engine, tmp_path):
    with pytest.raises(InputError, match="max_passages"):
        RAGGenerator(model=None, engine=engine, max_passages=0)
    with pytest.raises(InputError, match="max_tokens"):
        RAGGenerator(model=None, engine=engine, max_new_tokens=0)
    with pytest.raises(ConfigError, match="needs a model"):
        RAGGenerator(model=None, engine="transformers")
    with pytest.raises(ConfigError, match="unknown generator prompt template"):
        RAGGenerator(model=None, engine=engine, template="no-such-template")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsource: test\nformat: raw\ntemplate: 'Question: {query}\\nAnswer:'\n")
    with pytest.raises(ConfigError, match="documents"):
        RAGGenerator(model=None, engine=engine, template=str(bad))
    gen = RAGGenerator(model=None, engine=engine, max_passages=2)
    with pytest.raises(InputError, match="Ranking"):
        gen.generate_many(["not a ranking"])
    with pytest.raises(ConfigError, match="no room"):
        RAGGenerator(model=None, engine=engine, max_new_tokens=engine.context_length).budget()


def test_empty_ranking_gets_an_empty_answer_without_a_model_call(engine):
    ans = RAGGenerator(model=None, engine=engine).generate(Ranking(Query("q", "anything"), ()))
    assert ans.text == "" and ans.citations == () and ans.passages_used == ()
    assert "no passages" in ans.meta["reason"]


def test_citation_mapping_drops_numbers_outside_the_context(engine, ranking):
    gen = RAGGenerator(model=None, engine=engine, max_passages=3, max_passage_tokens=40)
    packed = gen.pack(ranking)
    ids = [d.id for d in packed.passages]
    ans = gen._answer("Bone density rises [2]. Unclear [5][1]. See [5].", packed, "stop", 12)
    assert ans.citations == (ids[1], ids[0])
    assert ans.meta["citation_numbers"] == [2, 1]
    assert ans.meta["dropped_citations"] == [5] and ans.meta["n_dropped_citations"] == 2
    assert ans.meta["citation_map"] == {"1": ids[0], "2": ids[1], "3": ids[2]}


@pytest.mark.slow
@pytest.mark.llm
def test_pipeline_returns_ranking_and_answer_with_citations_in_context(engine, bm25, scifact):
    gen = RAGGenerator(model=None, engine=engine, max_passages=3, max_new_tokens=48, max_passage_tokens=60)
    pipe = Pipeline(bm25, [], gen, k=10)
    queries = [q for q in list(scifact.queries.values())[:2]]
    results = pipe.run_many(queries)
    assert len(results) == 2
    for res in results:
        ans = res.answer
        assert ans is not None and ans.text.strip()
        used = [d.id for d in ans.passages_used]
        assert used == res.ranking.ids()[:len(used)] and 1 <= len(used) <= 3
        assert set(ans.citations) <= set(used)  # never a document outside the context
        assert all(1 <= n <= len(used) for n in ans.meta["citation_numbers"])
        assert all(n < 1 or n > len(used) for n in ans.meta["dropped_citations"])
        assert [used[n - 1] for n in ans.meta["citation_numbers"]] == list(dict.fromkeys(ans.citations))
        assert ans.meta["prompt_tokens"] <= ans.meta["context_budget"]
        assert 0 < ans.meta["completion_tokens"] <= 48


def test_spec_builds_a_rag_generator_lazily(scifact, smollm):
    docs = list(scifact.corpus.values())[:50]
    pipe = pipeline_from_spec({"retriever": "bm25", "generator": {"name": "rag", "model": str(smollm),
                                                                  "max_passages": 2}}, corpus=docs)
    assert isinstance(pipe.generator, RAGGenerator)
    assert pipe.generator.max_passages == 2 and pipe.generator._engine is None  # loads on first use
    assert pipe.generator.config()["model"] == str(smollm)
