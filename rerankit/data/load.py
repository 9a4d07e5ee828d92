"""`load_dataset` and `list_datasets`: local mirror roots first (explicit, then ``$RERANKIT_DATA_DIR``), then
ir_datasets when online. Offline and missing gives one error naming every place looked and how to provide the data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rerankit.data.cards import load_card
from rerankit.data.catalog import CatalogEntry, known_ids, lookup, resolve_id
from rerankit.data.dataset import Dataset, DatasetCard, DatasetInfo
from rerankit.data.local import find_in_mirror, inspect_folder
from rerankit.data.online import OnlineUnavailable, load_online
from rerankit.errors import DatasetNotFoundError, InputError

__all__ = ["load_dataset", "list_datasets", "data_dir_from_env", "is_offline", "DATA_DIR_ENV", "OFFLINE_ENV"]

DATA_DIR_ENV = "RERANKIT_DATA_DIR"
OFFLINE_ENV = "RERANKIT_OFFLINE"


def data_dir_from_env() -> Path | None:
    """The mirror root named by ``$RERANKIT_DATA_DIR`` (None when unset or empty), made absolute when read.

    A relative value is resolved against the working directory of the process that reads it, once, here: code that
    changes directory later (a notebook kernel, a subprocess) still sees the folder the user meant.
    """
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser().absolute() if value else None


def is_offline() -> bool:
    """True when ``$RERANKIT_OFFLINE`` is set to 1/true/yes: ir_datasets is then never tried."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _roots(data_dir: str | Path | None) -> list[Path]:
    roots = [Path(data_dir).expanduser().absolute()] if data_dir is not None else []
    env = data_dir_from_env()
    if env is not None and env not in roots:
        roots.append(env)
    return roots


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", ".", "~")) or Path(text).expanduser().exists()


def load_dataset(dataset_id: str | Path, data_dir: str | Path | None = None, *, online: bool | None = None,
                 relevance_level: int | None = None) -> Dataset:
    """Load a dataset by id (``beir/scifact``, ``dl19``, ``bright/biology``) or from a local folder path.

    `data_dir` is a mirror root searched before ``$RERANKIT_DATA_DIR``; then ir_datasets is tried unless `online`
    is False (default: online unless ``$RERANKIT_OFFLINE`` is set). `relevance_level` overrides the threshold for
    binary metrics (2 for TREC DL passage, 1 otherwise).
    """
    if not isinstance(dataset_id, (str, Path)) or not str(dataset_id).strip():
        raise InputError(f"a dataset id must be a non-empty string (e.g. 'beir/scifact') or a folder Path, got "
                         f"{dataset_id!r} ({type(dataset_id).__name__})")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise InputError(f"data_dir must be a folder path, got {data_dir!r} ({type(data_dir).__name__})")
    if relevance_level is not None and (isinstance(relevance_level, bool) or not isinstance(relevance_level, int)
                                        or relevance_level < 1):
        raise InputError(f"relevance_level must be an integer >= 1, got {relevance_level!r}")
    if isinstance(dataset_id, Path):
        return _load_folder(dataset_id, relevance_level)
    try:
        cid = resolve_id(dataset_id)
    except DatasetNotFoundError:
        if _looks_like_path(dataset_id):
            return _load_folder(Path(dataset_id), relevance_level)
        raise
    entry = lookup(cid)
    card = load_card(cid, entry.family)
    level = relevance_level if relevance_level is not None else entry.relevance_level
    looked: list[str] = []
    roots = _roots(data_dir)
    for root in roots:
        found, why = find_in_mirror(entry, root)
        looked.extend(why)
        if found is not None:
            return found.build(cid, card, level, _corpus_hint(entry))
    use_online = (not is_offline()) if online is None else online
    if use_online:
        try:
            ds = load_online(entry, card)
            if relevance_level is not None:
                ds.relevance_level = relevance_level
            return ds
        except OnlineUnavailable as e:
            looked.append(f"ir_datasets: {e}")
    else:
        why = "online=False" if online is False else f"{OFFLINE_ENV}={os.environ.get(OFFLINE_ENV)}"
        looked.append(f"ir_datasets {entry.irds_id!r}: not tried ({why})" if entry.irds_id else
                      f"ir_datasets: not tried ({why}); it does not distribute {cid} anyway")
    raise DatasetNotFoundError(_not_found(cid, entry, roots, looked))


def _corpus_hint(entry: CatalogEntry) -> str:
    where = f"; put a corpus.jsonl there, or load {entry.id!r} online"
    return f"{where} (ir_datasets {entry.irds_id!r}) without a mirror that holds it" if entry.irds_id else ""


def _not_found(cid: str, entry: CatalogEntry, roots: list[Path], looked: list[str]) -> str:
    lines = [f"dataset {cid!r} is not available. Looked in:"]
    if not roots:
        lines.append(f"  no local mirror (neither a data_dir / --data-dir nor ${DATA_DIR_ENV} is set)")
    lines += [f"  {p}" for p in looked]
    lines.append("To provide it: put the files under a mirror root laid out as in docs/datasets.md (e.g. "
                 f"ROOT/{'beir/<name>/' if entry.family == 'beir' else entry.id + '/'}) and pass --data-dir ROOT or "
                 f"set {DATA_DIR_ENV}=ROOT")
    if entry.irds_id:
        lines.append(f"  or go online: pip install 'rerankit[online]', unset {OFFLINE_ENV}, and ir_datasets "
                     f"downloads {entry.irds_id!r} on first use.")
    return "\n".join(lines)


def _load_folder(folder: Path, relevance_level: int | None) -> Dataset:
    folder = folder.expanduser()
    found, why = inspect_folder(folder)
    if found is None:
        raise DatasetNotFoundError(f"{folder} is not a dataset folder: {why}. A folder needs BEIR layout "
                                   f"(corpus.jsonl, queries.jsonl, qrels/test.tsv) or TREC files (one topics file "
                                   f"'qid<TAB>text', one qrels file, optional run.<name>.trec and corpus.jsonl).")
    if relevance_level is None:
        relevance_level = 2 if re.search(r"trec-dl-\d{4}|\bdl\d\d", str(folder.resolve())) else 1
    card = DatasetCard(str(folder), f"local dataset folder {folder}")
    return found.build(str(folder), card, relevance_level)


def list_datasets(data_dir: str | Path | None = None) -> list[DatasetInfo]:
    """Every known id (plus TREC DL years found in a mirror), whether it is available locally and where."""
    roots = _roots(data_dir)
    ids = known_ids()
    for root in roots:
        for folder in sorted((root / "msmarco-passage").glob("trec-dl-*")) if root.is_dir() else []:
            cid = f"msmarco-passage/{folder.name}"
            if re.fullmatch(r"msmarco-passage/trec-dl-\d{4}", cid) and cid not in ids:
                ids.append(cid)
    infos = []
    for cid in ids:
        entry = lookup(cid)
        found = next((f for f in (find_in_mirror(entry, r)[0] for r in roots) if f is not None), None)
        infos.append(DatasetInfo(
            id=cid, family=entry.family, available_locally=found is not None,
            location=found.location if found else None, has_corpus=bool(found and found.corpus),
            candidate_names=found.candidate_names if found else (), online_id=entry.irds_id,
            description=load_card(cid, entry.family).description,
            candidate_text=found.candidate_text if found else {}))
    return infos
