"""The known dataset ids: families, aliases, ir_datasets ids and binary-relevance thresholds.

Ids follow ir_datasets where it has them (``beir/scifact``, ``msmarco-passage/trec-dl-2019``, ``bright/biology``)
so the same id works against a local mirror and online.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from rerankit.errors import DatasetNotFoundError

__all__ = ["CatalogEntry", "BEIR_SETS", "BRIGHT_TASKS", "DL_YEARS", "known_ids", "resolve_id", "lookup"]

CQADUPSTACK = ("android", "english", "gaming", "gis", "mathematica", "physics", "programmers", "stats", "tex",
               "unix", "webmasters", "wordpress")

# BEIR name -> ir_datasets id of its test split (None: not redistributed, needs a local copy).
_BEIR_IRDS: dict[str, str | None] = {
    "arguana": "beir/arguana",
    "bioasq": None,
    "climate-fever": "beir/climate-fever",
    **{f"cqadupstack/{s}": f"beir/cqadupstack/{s}" for s in CQADUPSTACK},
    "dbpedia-entity": "beir/dbpedia-entity/test",
    "fever": "beir/fever/test",
    "fiqa": "beir/fiqa/test",
    "hotpotqa": "beir/hotpotqa/test",
    "msmarco": "beir/msmarco/test",
    "nfcorpus": "beir/nfcorpus/test",
    "nq": "beir/nq",
    "quora": "beir/quora/test",
    "robust04": None,
    "scidocs": "beir/scidocs",
    "scifact": "beir/scifact/test",
    "signal1m": None,
    "trec-covid": "beir/trec-covid",
    "trec-news": None,
    "webis-touche2020": "beir/webis-touche2020/v2",
}
BEIR_SETS: tuple[str, ...] = tuple(_BEIR_IRDS)

BRIGHT_TASKS: tuple[str, ...] = ("biology", "earth-science", "economics", "psychology", "robotics", "stackoverflow",
                                 "sustainable-living", "leetcode", "pony", "aops", "theoremqa-theorems",
                                 "theoremqa-questions")
DL_YEARS: tuple[int, ...] = (2019, 2020)


@dataclass(frozen=True)
class CatalogEntry:
    """What rerankit knows about one id before looking at any file."""

    id: str
    family: str  # "beir" | "msmarco-passage" | "bright"
    name: str  # the part after the family: "scifact", "cqadupstack/android", "trec-dl-2019", "biology"
    irds_id: str | None
    relevance_level: int

    @property
    def flat_name(self) -> str:
        """The name as pyserini/anserini spell it in file names ("cqadupstack-android")."""
        return self.name.replace("/", "-")


def _entries() -> dict[str, CatalogEntry]:
    out: dict[str, CatalogEntry] = {}
    for name, irds in _BEIR_IRDS.items():
        out[f"beir/{name}"] = CatalogEntry(f"beir/{name}", "beir", name, irds, 1)
    for year in DL_YEARS:
        cid = f"msmarco-passage/trec-dl-{year}"
        out[cid] = CatalogEntry(cid, "msmarco-passage", f"trec-dl-{year}", f"{cid}/judged", 2)
    for task in BRIGHT_TASKS:
        out[f"bright/{task}"] = CatalogEntry(f"bright/{task}", "bright", task, f"bright/{task}", 1)
    return out


_CATALOG = _entries()


def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for year in DL_YEARS:
        cid = f"msmarco-passage/trec-dl-{year}"
        yy = str(year)[2:]
        for alias in (f"dl{yy}", f"dl{yy}-passage", f"trec-dl-{year}", f"{cid}/judged"):
            out[alias] = cid
    for name, irds in _BEIR_IRDS.items():
        cid = f"beir/{name}"
        if irds and irds != cid:
            out[irds] = cid  # beir/scifact/test -> beir/scifact
        flat = name.replace("/", "-")
        out[f"beir/{flat}"] = cid
        out[f"beir-v1.0.0-{flat}"] = cid
        out[f"beir/{name}/test"] = cid
    for task in BRIGHT_TASKS:
        out[f"bright-{task}"] = f"bright/{task}"
    return out


_ALIASES = _aliases()
_DL_ANY_YEAR = re.compile(r"^msmarco-passage/trec-dl-(\d{4})$")


def known_ids() -> list[str]:
    """Every canonical id rerankit knows, in catalog order."""
    return list(_CATALOG)


def resolve_id(dataset_id: str) -> str:
    """Canonical id for an id or alias (``dl19`` -> ``msmarco-passage/trec-dl-2019``); unknown ids raise."""
    key = dataset_id.strip().strip("/").lower()
    key = _ALIASES.get(key, key)
    if key in _CATALOG or _DL_ANY_YEAR.match(key):
        return key
    raise DatasetNotFoundError(_unknown_message(dataset_id))


def lookup(canonical_id: str) -> CatalogEntry:
    """The catalog entry of a canonical id (any ``msmarco-passage/trec-dl-<year>`` is accepted for mirrors)."""
    if canonical_id in _CATALOG:
        return _CATALOG[canonical_id]
    m = _DL_ANY_YEAR.match(canonical_id)
    if m:
        return CatalogEntry(canonical_id, "msmarco-passage", f"trec-dl-{m.group(1)}", None, 2)
    raise DatasetNotFoundError(_unknown_message(canonical_id))


def _unknown_message(dataset_id: str) -> str:
    matches = difflib.get_close_matches(dataset_id.lower(), list(_CATALOG) + list(_ALIASES), n=6, cutoff=0.6)
    close = list(dict.fromkeys(_ALIASES.get(m, m) for m in matches))[:3]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown dataset id {dataset_id!r}.{hint} Known ids:\n"
        f"  beir/<name>: {', '.join(BEIR_SETS)}\n"
        f"  msmarco-passage/trec-dl-2019, msmarco-passage/trec-dl-2020 (aliases dl19, dl20; any "
        f"msmarco-passage/trec-dl-<year> laid out in a local mirror)\n"
        f"  bright/<task>: {', '.join(BRIGHT_TASKS)}\n"
        f"  or a path to a local folder (BEIR layout, or TREC topics + qrels files). "
        f"`rerankit datasets` lists them with where each is available."
    )
