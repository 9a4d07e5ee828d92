"""Packaged dataset cards: they parse, name known ids, and their counts match what the loader reads."""

from __future__ import annotations

import pytest

from rerankit.data import list_datasets, load_dataset
from rerankit.data.cards import _all_cards, card_files, load_card
from rerankit.data.catalog import known_ids


def test_cards_parse_and_name_known_ids():
    assert {"beir.yaml", "beir-scifact.yaml", "beir-trec-covid.yaml", "bright.yaml",
            "msmarco-passage-trec-dl-2019.yaml", "msmarco-passage-trec-dl-2020.yaml"} <= set(card_files())
    cards = _all_cards()
    assert set(cards) <= set(known_ids())
    for card in cards.values():
        assert card.description and card.source and card.licence, card.id
        for ref in card.reference_scores:
            assert ref["source"] and ref["scores"], (card.id, ref)
    assert load_card("beir/scifact").card_file == "rerankit/data/cards/beir-scifact.yaml"  # one-id card wins
    assert load_card("bright/pony").card_file == "rerankit/data/cards/bright.yaml"
    assert load_card("msmarco-passage/trec-dl-2031", "msmarco-passage").description.startswith("TREC Deep Learning")


def test_card_counts_match_the_mirror(shared_data, monkeypatch):
    monkeypatch.setenv("RERANKIT_OFFLINE", "1")
    checked = 0
    for info in list_datasets(shared_data):
        if not info.available_locally:
            continue
        ds = load_dataset(info.id, data_dir=shared_data)
        counts = ds.card.counts
        assert counts, f"{info.id} has no counts in its card"
        assert len(ds.queries) == counts["judged_queries"], info.id
        assert sum(len(d) for d in ds.qrels.values()) == counts["qrels"], info.id
        for name in ds.candidate_names:
            if f"candidates_{name}" in counts:
                assert sum(len(r) for r in ds.candidates(name).values()) == counts[f"candidates_{name}"]
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("cid", ["beir/scifact"])
def test_card_docs_count(shared_data, cid):
    ds = load_dataset(cid, data_dir=shared_data, online=False)
    assert len(ds.corpus) == ds.card.counts["docs"]
