"""FIRST: windows ranked by first-identifier logits through the same sliding-window framework (real SmolLM2)."""

from __future__ import annotations

import copy

import pytest

from rerankit.engines.base import Capability
from rerankit.errors import CapabilityError, ConfigError
from rerankit.rerankers.first import FirstReranker
from rerankit.rerankers.templates import PROMPTS_DIR


@pytest.mark.slow
def test_first_end_to_end(smollm_engine, dl19):
    ds, run = dl19
    rankings = list(run.values())[:2]
    rr = FirstReranker(engine=smollm_engine, depth=8, window_size=4, stride=2, max_passage_words=40,
                       keep_history=True, progress=False)
    out = rr.rerank_many(rankings)
    for r, orig in zip(out, rankings):
        assert sorted(r.ids()[:8]) == sorted(orig.ids()[:8]) and r.ids()[8:] == orig.ids()[8:]
        hist = r.meta["first"]["history"]
        assert [h["span"] for h in hist] == [[4, 8], [2, 6], [0, 4]]
        for h in hist:
            lp = h["logprobs"]
            assert set(lp) == {"A", "B", "C", "D"} and all(v <= 0 for v in lp.values())
            labels = "ABCD"
            # the window order is the labels sorted by log-probability, best first
            assert [labels[i] for i in h["permutation"]] == sorted(labels, key=lambda x: -lp[x])
            assert h["prompt"].endswith("<|im_start|>assistant\n[")
    assert rr.repair_counts(out) == {"outputs": 6, "clean": 6, "loose": 0, "duplicates": 0, "missing": 0,
                                  "out_of_range": 0, "unparseable": 0, "truncated": 0}
    looped = FirstReranker(engine=smollm_engine, depth=8, window_size=4, stride=2, max_passage_words=40,
                           batch_queries=False, progress=False).rerank_many(rankings)
    assert [r.ids() for r in looped] == [r.ids() for r in out]


def test_first_needs_logprobs(smollm_engine):
    generate_only = copy.copy(smollm_engine)
    generate_only.capabilities = frozenset({Capability.GENERATE})
    with pytest.raises(CapabilityError, match="logprobs"):
        FirstReranker(engine=generate_only)


def test_first_needs_an_answer_prefix_and_distinct_labels(smollm_engine, tmp_path):
    with pytest.raises(ConfigError, match="answer_prefix"):
        FirstReranker(engine=smollm_engine, template="rankzephyr")
    numeric = tmp_path / "first_numeric.yaml"
    numeric.write_text((PROMPTS_DIR / "first.yaml").read_text().replace("identifiers: alpha",
                                                                        "identifiers: numeric"))
    FirstReranker(engine=smollm_engine, template=str(numeric), window_size=9, stride=4)  # 1..9: distinct tokens
    with pytest.raises(ConfigError, match="first token"):
        FirstReranker(engine=smollm_engine, template=str(numeric), window_size=12, stride=4)  # "1" vs "10"
    with pytest.raises(ConfigError, match="26"):
        FirstReranker(engine=smollm_engine, window_size=27, stride=10)
