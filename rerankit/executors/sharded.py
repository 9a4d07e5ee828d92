"""Encode a large corpus in shards over an executor's workers, gathered back in corpus order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from rerankit.errors import InputError
from rerankit.executors.base import Executor

__all__ = ["map_shards"]


def map_shards(executor: Executor, stage: Any, method: str, items: Sequence[Any], shard_size: int,
               desc: str = "shards", progress: bool = True) -> list[Any]:
    """``[stage.method(shard) for shard in shards of items]``, run on `executor`, results in shard order."""
    if shard_size < 1:
        raise InputError(f"shard_size must be at least 1, got {shard_size}")
    shards = [(list(items[s:s + shard_size]),) for s in range(0, len(items), shard_size)]
    out: list[Any] = [None] * len(shards)
    with tqdm(total=len(items), desc=desc, unit="doc", disable=not progress) as bar:
        for i, result in executor.imap(stage, method, shards):
            out[i] = result
            bar.update(len(shards[i][0]))
    return out
