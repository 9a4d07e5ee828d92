"""Id resolution: aliases, ir_datasets ids, unknown ids."""

from __future__ import annotations

import pytest

from rerankit.data.catalog import BEIR_SETS, BRIGHT_TASKS, known_ids, lookup, resolve_id
from rerankit.errors import DatasetNotFoundError


@pytest.mark.parametrize("alias, canonical", [
    ("dl19", "msmarco-passage/trec-dl-2019"),
    ("DL20", "msmarco-passage/trec-dl-2020"),
    ("msmarco-passage/trec-dl-2019/judged", "msmarco-passage/trec-dl-2019"),
    ("beir/scifact/test", "beir/scifact"),
    ("beir/scifact", "beir/scifact"),
    ("beir/cqadupstack-android", "beir/cqadupstack/android"),
    ("beir-v1.0.0-trec-covid", "beir/trec-covid"),
    ("beir/webis-touche2020/v2", "beir/webis-touche2020"),
    ("bright-biology", "bright/biology"),
    ("msmarco-passage/trec-dl-2021", "msmarco-passage/trec-dl-2021"),
])
def test_aliases_resolve(alias, canonical):
    assert resolve_id(alias) == canonical


def test_catalog_covers_every_family():
    ids = known_ids()
    assert len([i for i in ids if i.startswith("beir/")]) == len(BEIR_SETS) == 30
    assert [i for i in ids if i.startswith("bright/")] == [f"bright/{t}" for t in BRIGHT_TASKS]
    assert lookup("beir/scifact").irds_id == "beir/scifact/test"
    assert lookup("msmarco-passage/trec-dl-2019").irds_id == "msmarco-passage/trec-dl-2019/judged"
    assert lookup("msmarco-passage/trec-dl-2019").relevance_level == 2
    assert lookup("beir/trec-covid").relevance_level == 1
    assert lookup("beir/bioasq").irds_id is None  # not redistributed


def test_unknown_id_lists_families_and_suggests():
    with pytest.raises(DatasetNotFoundError) as e:
        resolve_id("beir/scifcat")
    msg = str(e.value)
    assert "unknown dataset id 'beir/scifcat'" in msg
    assert "Did you mean 'beir/scifact'" in msg
    for family in ("beir/<name>", "msmarco-passage/trec-dl-2019", "bright/<task>", "local folder"):
        assert family in msg
