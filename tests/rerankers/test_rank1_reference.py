"""Rank1 against its reference (orionw/rank1 rank1.py): prompt, budgets, the forced-answer fallback and the score,
from a fixture the reference produced (goldens/make_rank1.py) on recorded model outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankit.types import Document, Hit, Query, Ranking

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "rank1.json").read_text())


@pytest.fixture(scope="module")
def run(qwen):
    from rerankit.rerankers.pointwise import Rank1Reranker

    from .goldens.replay import ReplayEngine

    eng = ReplayEngine(str(qwen), GOLDEN["outputs"], GOLDEN["finish"], GOLDEN["logprobs"])
    rr = Rank1Reranker(engine=eng, progress=False)
    hits = tuple(Hit(Document(f"p{i}", t), float(-i)) for i, t in enumerate(GOLDEN["passages"]))
    return rr, eng, rr.rerank(Ranking(Query("q", GOLDEN["query"]), hits))


def test_defaults_are_the_reference_budgets(run):
    rr, eng, _ = run
    assert GOLDEN["repo"] == "orionw/rank1" and len(GOLDEN["commit"]) == 40
    assert rr.max_reasoning_tokens == GOLDEN["defaults"]["max_output_tokens"] == 8192
    assert rr.max_passage_tokens is None  # the reference never cuts passages
    p = eng.params[0]
    assert (p.max_tokens, p.temperature) == (GOLDEN["sampling"]["max_tokens"], GOLDEN["sampling"]["temperature"])


def test_prompts_are_the_reference_prompts(run):
    _, eng, _ = run
    assert eng.rendered == GOLDEN["prompts"]


def test_forced_answers_and_scores_are_the_reference(run):
    _, eng, out = run
    forced = [t for t in eng.scored if t in GOLDEN["forced_prompts"]]
    assert forced == GOLDEN["forced_prompts"]  # every output without </think> took the fallback, same text
    by_id = {h.id: h for h in out}
    for i, ref in enumerate(GOLDEN["scores"]):
        h = by_id[f"p{i}"]
        assert h.score == pytest.approx(ref, abs=1e-12)
        assert h.meta["forced"] is ("</think>" not in GOLDEN["outputs"][i])
        assert h.meta["capped"] is (GOLDEN["finish"][i] == "length")


@pytest.mark.parametrize("name", sorted(GOLDEN["query_prompts"]))
def test_dataset_query_prompts_are_the_reference_prompts(name, qwen):
    from rerankit.errors import ConfigError
    from rerankit.rerankers.pointwise import Rank1Reranker

    from .goldens.replay import ReplayEngine

    rr = Rank1Reranker(engine=ReplayEngine(str(qwen), []), query_prompt=name, progress=False)
    got = rr.template.fill(query=rr.query_text(GOLDEN["query"]), document=GOLDEN["passages"][0])
    assert got == GOLDEN["query_prompts"][name]
    with pytest.raises(ConfigError, match="FILL_QUERY_HERE"):
        Rank1Reranker(engine=ReplayEngine(str(qwen), []), query_prompt="NoSuchDataset", progress=False)
