"""Registry names of the listwise / FIRST / setwise rerankers: method, default checkpoint and template, overridable."""

from __future__ import annotations

import pytest

from rerankit.registry import build, resolve
from rerankit.rerankers.first import FirstReranker
from rerankit.rerankers.listwise import ListwiseReranker
from rerankit.rerankers.reasonrank import ReasonRankReranker
from rerankit.rerankers.setwise import SetwiseReranker

EXPECTED = {
    "rankgpt": (ListwiseReranker, "rankgpt", None),
    "rankzephyr": (ListwiseReranker, "rankzephyr", "castorini/rank_zephyr_7b_v1_full"),
    "rankvicuna": (ListwiseReranker, "rankvicuna", "castorini/rank_vicuna_7b_v1"),
    "reasonrank": (ReasonRankReranker, "reasonrank", "liuwenhan/reasonrank-7B"),
    "first": (FirstReranker, "first", "castorini/first_mistral"),
    "rank-r1": (SetwiseReranker, "rank-r1", "ielabgroup/Rank-R1-7B-v0.1"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registered_defaults(name, smollm_engine):
    cls, template, model = EXPECTED[name]
    entry = resolve("reranker", name)
    assert entry.defaults.get("model") == model and entry.defaults["template"] == template
    rr = build("reranker", name, engine=smollm_engine, depth=30)  # an Engine instance replaces the default model
    assert type(rr) is cls and rr.depth == 30
    cfg = rr.config()
    assert cfg["template"] == template and cfg["engine"]["model"] == str(smollm_engine.model)


def test_options_are_overridable_and_change_the_cache_key(smollm_engine):
    a = build("reranker", "rankzephyr", engine=smollm_engine, window_size=10, stride=5)
    b = build("reranker", "rankzephyr", engine=smollm_engine)
    assert (a.window_size, a.stride) == (10, 5) and (b.window_size, b.stride) == (20, 10)
    assert a.config() != b.config()
    c = build("reranker", "rankzephyr", engine=smollm_engine, template="rankgpt")
    assert c.config()["template"] == "rankgpt" and c.config()["template_digest"] != b.config()["template_digest"]
    assert build("reranker", "reasonrank", engine=smollm_engine)._max_tokens(20) == 3172
    r1 = build("reranker", "rank-r1", engine=smollm_engine, num_child=3, method="bubblesort")
    assert r1.config()["num_child"] == 3 and r1.config()["method"] == "bubblesort"
