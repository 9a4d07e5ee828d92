"""Benchmark datasets by id (``beir/scifact``, ``msmarco-passage/trec-dl-2019``, ``bright/biology``) or folder path.

A local mirror root (``data_dir`` / ``$RERANKIT_DATA_DIR``) is searched first, then ir_datasets when online
(``$RERANKIT_OFFLINE=1`` turns that off). See docs/datasets.md.
"""

from rerankit.data.dataset import CandidateSource, Dataset, DatasetCard, DatasetInfo
from rerankit.data.load import DATA_DIR_ENV, OFFLINE_ENV, data_dir_from_env, is_offline, list_datasets, load_dataset

__all__ = [
    "load_dataset",
    "list_datasets",
    "data_dir_from_env",
    "is_offline",
    "Dataset",
    "DatasetCard",
    "DatasetInfo",
    "CandidateSource",
    "DATA_DIR_ENV",
    "OFFLINE_ENV",
]
