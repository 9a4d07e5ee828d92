"""The permutation parser on adversarial strings and on real outputs collected from the packaged small LLMs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankit.errors import InputError
from rerankit.rerankers.permutation import (
    RepairCounts,
    extract_answer,
    identifier,
    identifier_index,
    parse_permutation,
)

DATA = Path(__file__).parent / "data" / "llm_outputs.json"


def test_clean_permutation_needs_no_repair():
    perm, c = parse_permutation("[2] > [3] > [1]", 3)
    assert perm == [1, 2, 0]
    assert c.clean == 1 and c.repaired == 0 and c.outputs == 1


@pytest.mark.parametrize("text, size, perm, fixes", [
    # duplicates removed, first mention wins
    ("[2] > [2] > [1] > [3] > [1]", 3, [1, 0, 2], {"duplicates": 2}),
    # missing ids appended in their original order
    ("[3] > [1]", 4, [2, 0, 1, 3], {"missing": 2}),
    # out-of-range ids dropped (0 and 25 are not window positions), then the rest appended
    ("[25] > [0] > [2]", 3, [1, 0, 2], {"out_of_range": 2, "missing": 2}),
    # prose with no identifier at all: the window keeps its order
    ("I cannot rank these passages.", 3, [0, 1, 2], {"unparseable": 1}),
    ("", 2, [0, 1], {"unparseable": 1}),
    # brackets missing: bare numbers are read, flagged as loose
    ("2 > 1 > 3", 3, [1, 0, 2], {"loose": 1}),
    # whitespace inside brackets and a different separator are fine
    ("[ 2 ], [1], [3]", 3, [1, 0, 2], {}),
    # look-alike digits (full-width, superscript) are mapped to ASCII
    ("[２] > [¹] > [3]", 3, [1, 0, 2], {}),
    # bracketed ids win over numbers in prose
    ("Ranking of 10 passages: [3] > [1] > [2]", 3, [2, 0, 1], {}),
    # a huge number must not crash
    ("[99999999999999999999] > [1]", 2, [0, 1], {"out_of_range": 1, "missing": 1}),
])
def test_adversarial_strings(text, size, perm, fixes):
    got, c = parse_permutation(text, size)
    assert got == perm
    expected = {"duplicates": 0, "missing": 0, "out_of_range": 0, "unparseable": 0, "loose": 0, **fixes}
    assert {k: getattr(c, k) for k in expected} == expected
    assert c.clean == int(not any(fixes.values()))


def test_alphabetical_identifiers():
    perm, c = parse_permutation("[C] > [a] > [B]", 3, identifiers="alpha")
    assert perm == [2, 0, 1] and c.clean == 1
    perm, c = parse_permutation("[D] > [B]", 3, identifiers="alpha")  # D is outside a window of 3
    assert perm == [1, 0, 2] and c.out_of_range == 1 and c.missing == 2
    assert identifier(0, "alpha") == "A" and identifier_index("c", "alpha") == 2
    with pytest.raises(InputError, match="26"):
        identifier(26, "alpha")


def test_reasoning_answer_is_read_from_the_answer_tags():
    text = "<think>[3] looks weak, [1] answers it.</think> <answer>[1] > [2] > [3]</answer>"
    perm, c = parse_permutation(text, 3, answer_tags=True)
    assert perm == [0, 1, 2] and c.clean == 1
    # no answer tag: what follows </think> counts, flagged loose; the reasoning's ids are ignored
    perm, c = parse_permutation("<think>[3] is best?</think> [2] > [3]", 3, answer_tags=True)
    assert perm == [1, 2, 0] and c.loose == 1 and c.missing == 1
    # cut off inside the reasoning: no answer to read, the window keeps its order
    perm, c = parse_permutation("<think>passage [3] is about", 3, answer_tags=True)
    assert perm == [0, 1, 2] and c.unparseable == 1
    assert extract_answer("x <answer>[2]</answer> y <answer>[1]") == ("[1]", True)


def test_bad_arguments():
    with pytest.raises(InputError):
        parse_permutation("[1]", 0)
    with pytest.raises(InputError):
        parse_permutation("[1]", 2, identifiers="roman")


def test_counts_add_up():
    a = RepairCounts(outputs=2, clean=1, missing=3)
    a.add(RepairCounts(outputs=1, duplicates=2))
    assert (a + RepairCounts(outputs=1)).as_dict()["outputs"] == 4
    assert a.duplicates == 2 and a.repaired == 2


def _records():
    if not DATA.exists():
        pytest.fail(f"{DATA} is missing: run tests/rerankers/data/collect_llm_outputs.py")
    return json.loads(DATA.read_text())


def test_real_small_model_outputs_become_permutations():
    records = _records()
    assert len(records) >= 8
    totals = RepairCounts()
    for rec in records:
        size = rec["window_size"]
        perm, c = parse_permutation(rec["output"], size, answer_tags=rec["template"] == "reasonrank")
        assert sorted(perm) == list(range(size)), rec
        assert c.clean + c.repaired == 1
        assert c.missing <= size and (c.unparseable == 0 or c.missing == 0)
        totals.add(c)
    # the tiny models rarely answer a clean permutation: the parser must have repaired most outputs
    assert totals.repaired >= totals.outputs // 2


def test_known_real_outputs():
    """Hand-checked outputs of SmolLM2-135M and Qwen2.5-Coder-0.5B (greedy) with the RankGPT and RankZephyr prompts."""
    by_text = {r["output"]: r for r in _records()}
    # Qwen pairs identifiers up instead of writing one chain: "[4] > [3], [2] > [1], [5] > [4]"
    pairs = [t for t, r in by_text.items() if "qwen" in r["model"] and "], [" in t]
    assert pairs
    perm, c = parse_permutation("[4] > [3], [2] > [1], [5] > [4]", 5)
    assert perm == [3, 2, 1, 0, 4] and c.duplicates == 1 and c.missing == 0 and c.clean == 0
    for t in pairs:
        perm, c = parse_permutation(t, 5)
        assert sorted(perm) == [0, 1, 2, 3, 4] and c.duplicates >= 1
    echo = next(t for t, r in by_text.items() if r["template"] == "rankgpt" and t.startswith("Received passage"))
    perm, c = parse_permutation(echo, by_text[echo]["window_size"])
    size = by_text[echo]["window_size"]
    named = identifier_index(echo.split("[")[1].split("]")[0])
    if 0 <= named < size:  # "Received passage [k]." names one passage: it goes first, the rest follow
        assert perm[0] == named and c.missing == size - 1
    else:
        assert perm == list(range(size)) and c.out_of_range == 1
