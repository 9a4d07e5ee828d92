"""Dataset cards: packaged YAML files (``rerankit/data/cards/*.yaml``) with source, licence, counts, scores.

A card file describes one id (``id: beir/scifact``) or a family (``family: bright`` with ``members:`` holding
per-id counts and scores). Ids without a card get a minimal one built from the catalog.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from rerankit.data.dataset import DatasetCard
from rerankit.errors import FormatError

__all__ = ["load_card", "card_files"]

_FAMILY_TEXT = {
    "beir": "BEIR zero-shot retrieval benchmark, test split",
    "msmarco-passage": "TREC Deep Learning passage ranking track over the MS MARCO v1 passage corpus (judged topics)",
    "bright": "BRIGHT reasoning-intensive retrieval benchmark",
}


def card_files() -> list[str]:
    """Names of the packaged card files."""
    root = resources.files("rerankit.data") / "cards"
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=1)
def _all_cards() -> dict[str, DatasetCard]:
    family: dict[str, DatasetCard] = {}
    single: dict[str, DatasetCard] = {}
    root = resources.files("rerankit.data") / "cards"
    for name in card_files():
        try:
            data = yaml.safe_load((root / name).read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise FormatError(f"dataset card {name}: not valid YAML ({e})") from None
        if not isinstance(data, dict):
            raise FormatError(f"dataset card {name}: expected a mapping at the top level")
        for card in _cards_of(data, name):
            (single if "id" in data else family)[card.id] = card
    return {**family, **single}  # a card for one id wins over its family card


def _cards_of(data: dict[str, Any], file: str) -> list[DatasetCard]:
    shared = {k: data.get(k, "") for k in ("description", "source", "licence", "notes")}
    if "id" in data:
        return [_card(data["id"], shared, data, file)]
    members = data.get("members")
    if not isinstance(members, dict):
        raise FormatError(f"dataset card {file}: needs 'id' (one dataset) or 'members' (a family)")
    return [_card(cid, shared, m or {}, file) for cid, m in members.items()]


def _card(cid: str, shared: dict[str, Any], data: dict[str, Any], file: str) -> DatasetCard:
    counts = data.get("counts") or {}
    scores = data.get("reference_scores") or []
    if not isinstance(counts, dict) or not isinstance(scores, list):
        raise FormatError(f"dataset card {file} ({cid}): 'counts' must be a mapping and 'reference_scores' a list")
    text = {k: str(data.get(k) or shared.get(k) or "").strip() for k in ("description", "source", "licence", "notes")}
    return DatasetCard(cid, text["description"], text["source"], text["licence"], dict(counts), tuple(scores),
                       text["notes"], f"rerankit/data/cards/{file}")


def load_card(dataset_id: str, family: str = "") -> DatasetCard:
    """The card of a canonical id; a minimal card (family description only) when none is packaged."""
    card = _all_cards().get(dataset_id)
    if card is not None:
        return card
    return DatasetCard(dataset_id, _FAMILY_TEXT.get(family, ""))
