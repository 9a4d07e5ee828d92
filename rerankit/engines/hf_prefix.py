"""Shared-prefix reuse for next-token log-probabilities in the transformers engine.

Pointwise LLM prompts of one query share a long prefix (system prompt, instruction, query: Qwen3-Reranker puts the
query before the document). The prompts of a call are sorted by their token ids, so prompts with a common prefix
sit next to each other; each group whose common prefix is at least ``MIN_PREFIX`` tokens gets the prefix's
key/value cache computed once, then its suffixes run in batches on top of a copy of that cache. Suffixes are
left-padded between prefix and suffix (masked, with positions that skip the padding), so the last position of every
row is its next-token position, exactly as in the plain left-padded path. The last prefix's cache is kept on the
engine, keyed by its token ids, so consecutive calls for the same query (a reranker's chunks) compute it once.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from rerankit.engines.hf_attention import returned_cache, shared_prefix_length, with_cache

__all__ = ["MIN_PREFIX", "group_by_prefix", "prefix_logprobs"]

MIN_PREFIX = 16  # shorter common prefixes are not worth a separate pass
_lock = threading.Lock()


def group_by_prefix(seqs: Sequence[Sequence[int]], min_prefix: int = MIN_PREFIX) -> list[tuple[int, list[int]]]:
    """Groups of at least two sequences sharing at least `min_prefix` leading tokens, as (prefix length, indices);
    each prefix leaves every member at least one token of its own."""
    order = sorted(range(len(seqs)), key=lambda i: tuple(seqs[i]))
    groups: list[tuple[int, list[int]]] = []
    members: list[int] = []
    common = 0

    def close() -> None:
        if len(members) > 1 and common >= min_prefix:
            groups.append((common, list(members)))

    for i in order:
        if members:
            shared = min(common, shared_prefix_length(seqs[members[-1]], seqs[i]), len(seqs[i]) - 1)
            if shared >= min_prefix:
                members.append(i)
                common = shared
                continue
            close()
        members, common = [i], len(seqs[i]) - 1
    close()
    return groups


def _prefix_cache(engine: Any, prefix: list[int]) -> Any:
    """The key/value cache of `prefix` (batch of one), from the engine's last-prefix slot when it matches."""
    import torch

    key = tuple(prefix)
    held = getattr(engine, "_last_prefix", None)
    if held is not None and held[0] == key:
        return held[1]
    with torch.inference_mode():
        cache = returned_cache(engine.hf_model(input_ids=torch.tensor([prefix], device=engine.device),
                                               use_cache=True, logits_to_keep=1))
    with _lock:
        engine._last_prefix = (key, cache)
    return cache


def prefix_logprobs(engine: Any, seqs: list[list[int]], token_ids: list[int],
                    min_prefix: int = MIN_PREFIX) -> dict[int, list[float]]:
    """Log-probabilities of `token_ids` at the next position of each sequence that shares a prefix with others;
    returns {sequence index: values}. Sequences in no group are left out (the caller runs them plainly)."""
    import torch

    out: dict[int, list[float]] = {}
    pad = engine.tokenizer.pad_token_id
    for common, members in group_by_prefix(seqs, min_prefix):
        prefix = seqs[members[0]][:common]
        base = _prefix_cache(engine, prefix)
        members = sorted(members, key=lambda i: -len(seqs[i]))
        for s in range(0, len(members), engine.batch_size):
            idx = members[s:s + engine.batch_size]
            width = max(len(seqs[i]) - common for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), common + width), dtype=torch.long)
            mask[:, :common] = 1
            for r, i in enumerate(idx):
                tail = seqs[i][common:]
                ids[r, width - len(tail):] = torch.tensor(tail, dtype=torch.long)
                mask[r, common + width - len(tail):] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, common:]
            cache = copy.deepcopy(base)
            cache.batch_repeat_interleave(len(idx))
            with torch.inference_mode():
                logits = engine.hf_model(input_ids=ids.to(engine.device), attention_mask=mask.to(engine.device),
                                         position_ids=pos.to(engine.device), use_cache=True, logits_to_keep=1,
                                         **with_cache(engine.hf_model, cache)).logits[:, -1, :].float()
            lp = torch.log_softmax(logits, dim=-1)[:, token_ids].cpu().tolist()
            for r, i in enumerate(idx):
                out[i] = lp[r]
    return out
