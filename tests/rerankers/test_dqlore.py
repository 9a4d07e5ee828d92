"""DQ-LoRe on the shipped arithmetic pool: LoRe changes the selection, selections are pool items, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rerankit.errors import FormatError, InputError
from rerankit.rerankers.dqlore import (
    exemplar_from_document,
    extract_answer,
    load_exemplars,
    low_rank_scores,
    reference_lore_scores,
)
from rerankit.types import Document

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "dqlore.json").read_text())


def test_shipped_pool_is_consistent():
    pool = load_exemplars()
    assert 60 <= len(pool) <= 100
    assert len({e.id for e in pool}) == len(pool) and len({e.question for e in pool}) == len(pool)
    for e in pool:
        assert e.solution.endswith(f"The answer is {e.answer}.")
        assert extract_answer(e.solution) == e.answer
        for expr, value in re.findall(r"((?:\d+ [x+\-/] )+\d+) = (\d+)", e.solution):  # every step is right
            assert eval(expr.replace("x", "*").replace("/", "//")) == int(value), (e.id, expr)


def test_low_rank_scores_are_a_pca_projection():
    rng = np.random.default_rng(0)
    q, c = rng.normal(size=16), rng.normal(size=(10, 16))
    full = low_rank_scores(q, c, 11)  # all components: plain inner products of centred vectors
    x = np.vstack([q, c])
    x = x - x.mean(0)
    assert np.allclose(full, x[1:] @ x[0])
    low = low_rank_scores(q, c, 2)
    assert not np.allclose(np.argsort(-low), np.argsort(-full))
    with pytest.raises(InputError):
        low_rank_scores(q, c, 0)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"dim{c['dim']}-seed{c['seed']}")
def test_lore_is_the_reference_pca_svd(case):
    """Scores and order equal those of the reference's PCA_svd + inner-product index (goldens/make_dqlore.py)."""
    assert GOLDEN["repo"] == "AI4fun/DQ-LoRe" and len(GOLDEN["commit"]) == 40
    x = np.asarray(case["embeddings"], dtype=np.float32)
    s = reference_lore_scores(x[0], x[1:], case["k"])
    assert s[case["order"]] == pytest.approx(case["scores_in_order"], abs=1e-6)
    if case["dim"] > case["k"]:  # with dim <= 128 the rows are orthonormal: every score is ~0 and order is noise
        assert list(np.argsort(-s, kind="stable")) == case["order"]
    else:
        assert np.abs(s).max() < 1e-6


def test_candidates_are_read_as_exemplars():
    pool = load_exemplars()
    e = pool[0]
    assert exemplar_from_document(e.to_document()) == e.__class__(e.id, e.question, e.solution, e.answer)
    assert exemplar_from_document(Document("x", "What is 2 + 2?\n2 + 2 = 4. The answer is 4.")).question == \
        "What is 2 + 2?"
    with pytest.raises(InputError, match="not an exemplar"):
        exemplar_from_document(Document("t", "a passage with a title but no question", title="Title"))


def test_extract_answer():
    assert extract_answer("so 3 x 4 = 12. The answer is 12.") == "12"
    assert extract_answer("The answer is $1,250.") == "1250"
    assert extract_answer("we get 7 and then 9") == "9"
    assert extract_answer("no numbers") is None


def test_bad_pools_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q"}\n')
    with pytest.raises(FormatError, match="bad.jsonl:1"):
        load_exemplars(bad)
    dup = tmp_path / "dup.jsonl"
    row = json.dumps({"id": "a", "question": "q", "solution": "s"})
    dup.write_text(row + "\n" + row + "\n")
    with pytest.raises(FormatError, match="duplicate"):
        load_exemplars(dup)
    with pytest.raises(InputError, match="does not exist"):
        load_exemplars(tmp_path / "none.jsonl")


@pytest.fixture(scope="module")
def split():
    pool = load_exemplars()
    held = pool[::8]
    return [e for e in pool if e not in held], held


def test_low_rank_reranking_changes_the_selection(minilm, split):
    from rerankit.rerankers.dqlore import DQLoReSelector

    train, held = split
    lore = DQLoReSelector(engine=None, encoder=str(minilm), pool=train, k=4)
    assert lore.lore == "reference" and lore.n_components == 128
    plain = DQLoReSelector(engine=None, encoder=str(minilm), pool=train, k=4, low_rank=False)
    questions = [e.question for e in held]
    cots = [e.solution for e in held]  # reasoning given (an oracle CoT): this test needs no LLM
    a, b = lore.select_many(questions, cots), plain.select_many(questions, cots)
    ids = {e.id for e in train}
    changed = 0
    for x, y in zip(a, b):
        assert len(x.exemplars) == 4 and len({e.id for e in x.exemplars}) == 4
        assert {e.id for e in x.exemplars} <= ids and {e.id for e in x.exemplars} <= set(x.candidates)
        assert x.candidates == y.candidates  # same second-query candidates, different re-ranking
        changed += [e.id for e in x.exemplars] != [e.id for e in y.exemplars]
    assert changed >= 1, "LoRe never changed the selection"
    assert any({e.id for e in x.exemplars} != {e.id for e in y.exemplars} for x, y in zip(a, b))


@pytest.mark.slow
def test_end_to_end_with_a_real_llm(minilm, smollm, split):
    from rerankit.rerankers.dqlore import DQLoReSelector

    train, held = split
    sel = DQLoReSelector(str(smollm), encoder=str(minilm), pool=train, k=3, max_tokens=24)
    out = sel.select(held[0].question)
    assert isinstance(out.reasoning, str) and out.reasoning
    assert len(out.exemplars) == 3 and all(e in train for e in out.exemplars)
    assert out.prompt.endswith(f"Question: {held[0].question}\nAnswer:")
    for e in out.exemplars:
        assert f"Question: {e.question}\nAnswer: {e.solution}" in out.prompt
    assert sel.config()["low_rank"] is True


def test_cli_needs_a_question():
    from click.testing import CliRunner

    from rerankit.cli import main

    res = CliRunner().invoke(main, ["exemplars"])
    assert res.exit_code != 0 and "at least one question" in res.output


@pytest.mark.slow
def test_dq_lore_as_a_registered_reranker(minilm, smollm, split):
    from rerankit.registry import build
    from rerankit.types import Hit, Query, Ranking

    train, held = split
    hits = tuple(Hit(e.to_document(), float(20 - i)) for i, e in enumerate(train[:8]))
    rr = build("reranker", "dq-lore", model=str(smollm), encoder=str(minilm), initial_k=2, max_tokens=16)
    out = rr.rerank(Ranking(Query("t1", held[0].question), hits))
    assert sorted(out.ids()) == sorted(h.id for h in hits)
    assert isinstance(out.meta["dq_lore_reasoning"], str)
    assert out.ids() != [h.id for h in hits]  # reordered by the LoRe scores
    assert rr.config()["n_components"] == 128 and rr.config()["lore"] == "reference"


def test_exemplars_are_written_with_the_templates_format(minilm, tmp_path, split):
    from rerankit.rerankers.dqlore import DQLoReSelector

    t = tmp_path / "mine.yaml"
    t.write_text('name: mine\nsource: a test format\nformat: raw\ntemplate: "{exemplars}Q: {question}\\nA:"\n'
                 'exemplar_format: "Q: {question}\\nA: {solution}\\n---\\n"\n')
    train, held = split
    sel = DQLoReSelector(engine=None, encoder=str(minilm), pool=train[:10], k=2, template=str(t))
    out = sel.select(held[0].question, held[0].solution)
    a, b = out.exemplars[::-1]
    assert out.prompt == f"Q: {a.question}\nA: {a.solution}\n---\nQ: {b.question}\nA: {b.solution}\n---\n" \
                         f"Q: {held[0].question}\nA:"
