"""Shared-prefix reuse for next-token log-probabilities: same values as the plain path, fewer tokens computed."""

from __future__ import annotations

import pytest

from rerankit.engines.hf_prefix import group_by_prefix


def test_groups_share_a_long_enough_prefix_and_leave_each_member_a_token():
    seqs = [[1, 2, 3, 4, 9], [5, 6], [1, 2, 3, 4, 7, 7], [1, 2, 3, 8], [1, 2, 3, 4]]
    assert group_by_prefix(seqs, min_prefix=3) == [(3, [4, 2, 0, 3])]
    assert group_by_prefix(seqs, min_prefix=4) == [(4, [2, 0])]  # [1,2,3,4] itself would have no token left
    assert group_by_prefix(seqs, min_prefix=5) == []
    assert group_by_prefix([[1, 2, 3]] * 3, min_prefix=2) == [(2, [0, 1, 2])]


@pytest.mark.slow
@pytest.mark.llm
def test_prefix_reuse_gives_the_plain_logprobs_with_fewer_tokens(smollm):
    from rerankit.engines import get_engine
    from rerankit.rerankers.templates import load_template

    engine = get_engine("transformers", str(smollm), batch_size=3)
    template = load_template("qwen3-reranker")  # the query comes before the document
    docs = ["The Moon's gravity raises tides.", "Bananas hold potassium.", "Glass is melted sand and soda.",
            "Tides rise twice a day.", "A short one."]
    prompts = [template.fill(query=q, document=d) for q in ("what raises tides", "fruit minerals") for d in docs]
    prompts.append("an unrelated prompt with no shared prefix")
    seen: list[int] = []
    hook = engine.hf_model.register_forward_pre_hook(lambda _m, args, kw: seen.append(kw["input_ids"].numel()),
                                                     with_kwargs=True)
    try:
        reused = engine.next_token_logprobs(prompts, ["yes", "no"])
        with_prefix = sum(seen)
        seen.clear()
        engine.prefix_cache = False
        plain = engine.next_token_logprobs(prompts, ["yes", "no"])
    finally:
        hook.remove()
        engine.close()
    for a, b in zip(reused, plain):
        assert a == pytest.approx(b, abs=2e-4)
    assert with_prefix < 0.7 * sum(seen)
