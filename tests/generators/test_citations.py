"""Citation markers are read against the passages in the context; numbers outside it are dropped and counted."""

from __future__ import annotations

from rerankit.generators.citations import parse_citations


def test_markers_in_common_forms_map_to_passage_numbers():
    p = parse_citations("Vitamin D helps [1]. Both agree [2][3], see also [1, 3] and [Document 2].", 3)
    assert p.numbers == (1, 2, 3)
    assert p.dropped == () and p.dropped_mentions == 0
    assert p.markers == 5
    assert p.ids(["a", "b", "c"]) == ("a", "b", "c")


def test_out_of_range_numbers_are_dropped_and_counted():
    p = parse_citations("Claim [2]. Another [4]. Again [4] and [0] and [2, 9].", 3)
    assert p.numbers == (2,)
    assert p.dropped == (4, 0, 9)
    assert p.dropped_mentions == 4
    assert p.ids(["a", "b", "c"]) == ("b",)


def test_ranges_expand_and_plain_brackets_are_not_citations():
    p = parse_citations("Shown in [1-3] and [2–3]; [a note], [x1] and [see above] are not citations.", 5)
    assert p.numbers == (1, 2, 3)
    assert p.markers == 2


def test_first_citation_order_and_repeated_ids():
    # Two numbers may hold the same document id (a corpus with duplicate texts): ids stay unique.
    p = parse_citations("[3] then [1] then [3]", 3)
    assert p.numbers == (3, 1)
    assert p.ids(["x", "y", "x"]) == ("x",)


def test_no_text_no_citations():
    assert parse_citations("", 3).numbers == ()
    assert parse_citations("no brackets here", 0).markers == 0
