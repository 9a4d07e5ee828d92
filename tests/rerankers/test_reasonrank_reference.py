"""ReasonRank against its reference (8421BCD/ReasonRank): window prompts byte for byte (DL19 with 100-token
passages; titles, brackets and mojibake with 512) and the window order read from recorded and adversarial outputs,
from a fixture the reference produced (goldens/make_reasonrank.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankit.rerankers.reasonrank import parse_reasonrank
from rerankit.types import Document, Hit, Query, Ranking

GOLDEN = json.loads((Path(__file__).parent / "goldens" / "reasonrank.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["parse_table"], ids=lambda c: f"n{c['n']}:{c['output'][:30]!r}")
def test_window_order_is_the_reference_order(case):
    perm, counts = parse_reasonrank(case["output"], case["n"])
    assert perm == case["order"]
    assert counts.outputs == 1 and sorted(perm) == list(range(case["n"]))


def test_unfinished_reasoning_takes_the_identifiers_it_can_find():
    perm, counts = parse_reasonrank("<think>I compare [4] and [2]. Passage [4] is", 5)
    assert perm == [3, 1, 0, 2, 4] and counts.loose == 1 and counts.duplicates == 1 and counts.clean == 0
    perm, counts = parse_reasonrank("<think>a</think> <answer>[2] > [1] > [3]</answer>", 3)
    assert perm == [1, 0, 2] and counts.clean == 1


@pytest.mark.parametrize("sc", GOLDEN["scenarios"], ids=lambda s: s["name"])
def test_prompts_are_the_reference_prompts_byte_for_byte(sc, qwen):
    from rerankit.rerankers.reasonrank import ReasonRankReranker

    from .goldens.replay import ReplayEngine

    n = len(sc["docs"])
    eng = ReplayEngine(str(qwen), ["<think>x</think> <answer>[1] > [2]</answer>"])
    rr = ReasonRankReranker(engine=eng, window_size=n, stride=n, max_passage_tokens=sc["max_passage_tokens"],
                            progress=False)
    hits = tuple(Hit(Document(d["id"], d["text"], d["title"]), float(n - i)) for i, d in enumerate(sc["docs"]))
    out = rr.rerank(Ranking(Query("q", sc["query"]), hits))
    assert eng.rendered == [sc["prompt"]]
    assert out.ids()[:2] == [sc["docs"][0]["id"], sc["docs"][1]["id"]]
    assert eng.params[0].max_tokens == 3172 and eng.params[0].temperature == 0.0


def test_defaults(qwen):
    from rerankit.rerankers.reasonrank import ReasonRankReranker

    from .goldens.replay import ReplayEngine

    rr = ReasonRankReranker(engine=ReplayEngine(str(qwen), []), progress=False)
    assert (rr.window_size, rr.stride, rr.max_passage_tokens) == (20, 10, 100)
    assert rr.config()["max_passage_tokens"] == 100
