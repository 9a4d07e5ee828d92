"""E²Rank against its reference (Alibaba-NLP/E2Rank src/eval.py EvalModel): the texts embedded (documents cut to
1,024 words with "<|endoftext|>", the listwise prompt through the chat template, the query-only prompt) and the
ranking, from a fixture the reference produced with the same stand-in embeddings (goldens/make_e2rank.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankit.types import Document, Hit, Query, Ranking

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "e2rank.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["mode"])
def test_embedded_texts_and_ranking_are_the_reference(case, qwen):
    from rerankit.rerankers.e2rank import E2RankReranker

    from .goldens.replay import ReplayEngine

    assert GOLDEN["repo"] == "Alibaba-NLP/E2Rank" and len(GOLDEN["commit"]) == 40
    eng = ReplayEngine(str(qwen), [])
    mode = "listwise" if case["mode"] == "listwise" else "query"
    rr = E2RankReranker(model=None, engine=eng, mode=mode)
    docs = GOLDEN["docs"]
    hits = tuple(Hit(Document(f"d{i}", t), float(len(docs) - i)) for i, t in enumerate(docs))
    out = rr.rerank(Ranking(Query("q", GOLDEN["query"]), hits))
    ref = case["embedded"]
    n = len(docs)
    assert eng.embedded[:n] == ref[:n]  # every document, cut and suffixed as the reference does
    assert ref[n] in eng.embedded[n:]  # the reference's query text (listwise prompt or query-only prompt)
    assert out.ids() == [f"d{i}" for i in case["ranking"]]
