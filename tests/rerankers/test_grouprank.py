"""GroupRank: groups, lenient score parsing with repair counts, and an end-to-end run with SmolLM2."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit.errors import ConfigError, InputError
from rerankit.rerankers.grouprank import make_groups, parse_group_scores
from rerankit.types import Document, Hit, Query, Ranking


def test_groups_cover_the_list_with_overlap():
    assert make_groups(5, 2) == [[0, 1], [2, 3], [4]]
    assert make_groups(5, 3, overlap=1) == [[0, 1, 2], [2, 3, 4]]
    assert make_groups(3, 10) == [[0, 1, 2]]
    assert make_groups(0, 4) == []
    for n, g, o in ((25, 10, 5), (100, 20, 0), (7, 3, 2)):
        groups = make_groups(n, g, o)
        assert sorted({i for grp in groups for i in grp}) == list(range(n))
        assert all(len(grp) <= g for grp in groups)
    with pytest.raises(InputError, match="overlap"):
        make_groups(5, 3, overlap=3)
    with pytest.raises(InputError, match="group_size"):
        make_groups(5, 0)


@pytest.mark.parametrize("text, n, scores, repairs", [
    ("[1] 7\n[2] 3\n[3] 10", 3, [7, 3, 10], {}),
    ("[1]: 8\n[2] - 2", 2, [8, 2], {}),
    ("Passage 2: 6\nPassage 1 - 4", 2, [4, 6], {}),
    ("1. 9\n2) 3", 2, [9, 3], {}),
    ('<think>[1] 1 maybe</think><answer>{"1": 5, "2": 9}</answer>', 2, [5, 9], {}),
    ("[4, 1, 8]", 3, [4, 1, 8], {}),
    ("scores: 3, 8, 1", 3, [3, 8, 1], {"positional": 1}),
    ("[1] 7\n[2] 13\n[1] 4\n[9] 2", 3, [7, 10, 0], {"duplicate": 1, "out_of_range": 1, "missing": 1,
                                                   "unknown_id": 1}),
    ("The seasons are caused by the tilt.", 2, [0, 0], {"unparsed": 1, "missing": 2}),
])
def test_parse_group_scores(text, n, scores, repairs):
    got, fixes = parse_group_scores(text, n, 10)
    assert got == scores
    assert dict(fixes) == repairs


def _ranking():
    docs = ["Paris is the capital of France.", "Tides are caused by the gravity of the moon.",
            "The moon's pull raises the sea twice a day."]
    return Ranking(Query("q1", "what causes tides"), tuple(Hit(Document(f"d{i}", t), 3.0 - i) for i, t in
                                                           enumerate(docs)))


@pytest.mark.slow
def test_end_to_end_with_smollm(smollm):
    from rerankit.rerankers.grouprank import GroupRankReranker

    rr = GroupRankReranker(str(smollm), group_size=2, overlap=1, max_tokens=8, progress=False)
    out = rr.rerank(_ranking())
    assert sorted(out.ids()) == ["d0", "d1", "d2"]
    assert out.meta["grouprank_groups"] == 2 and len(out.meta["grouprank_outputs"]) == 2
    assert all(isinstance(t, str) for t in out.meta["grouprank_outputs"])
    assert all(isinstance(v, int) and v > 0 for v in out.meta["grouprank_repairs"].values())
    assert all(0.0 <= h.score <= 10.0 and np.isfinite(h.score) for h in out)
    # the stored score of each passage is the mean of its parsed group scores, re-derivable from the outputs
    parsed = [parse_group_scores(t, 2, 10)[0] for t in out.meta["grouprank_outputs"]]
    by_id = {h.id: h.score for h in out}
    assert by_id["d1"] == pytest.approx((parsed[0][1] + parsed[1][0]) / 2)
    assert by_id["d0"] == pytest.approx(parsed[0][0])
    assert rr.config()["overlap"] == 1


@pytest.mark.slow
def test_bad_options(smollm):
    from rerankit.engines.hf import TransformersEngine
    from rerankit.rerankers.grouprank import GroupRankReranker

    eng = TransformersEngine(str(smollm))
    with pytest.raises(ConfigError, match="normalize"):
        GroupRankReranker(engine=eng, normalize="softmax")
    with pytest.raises(ConfigError, match="merge"):
        GroupRankReranker(engine=eng, merge="median")
    with pytest.raises(InputError, match="overlap"):
        GroupRankReranker(engine=eng, group_size=4, overlap=4)
