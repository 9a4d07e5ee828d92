"""Query-row attention for the transformers engine, without any [heads, seq, seq] matrix.

ICR reads only the attention that the query rows at the end of a prompt pay to every token. An attention function
registered with transformers' ``AttentionInterface`` runs the forward pass itself on SDPA (memory-efficient kernels)
and, for each layer, recomputes ``softmax(q·kᵀ)`` for the query rows alone from the layer's post-rotary queries and
keys (cached keys included), reduces it at once to one number per key token (mean over rows, sum over heads) and
adds it to a running total. Memory per layer is ``heads x rows x seq``: linear in the prompt. This is the reference's
own method (In-Context-Reranking ``_get_attn_weights``: FlashAttention for the pass, a recomputation of the query
rows for the scores).

The tokens before the query rows run in chunks of ``CHUNK_TOKENS`` on a growing key/value cache, so activations
stay chunk-sized; the key/value cache itself is the only part that grows with the prompt.

Prompts of one call that share leading tokens (ICR's query and calibration prompts share every passage) reuse the
first prompt's key/value cache, so the passages are encoded once.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Sequence
from typing import Any

from rerankit.engines.base import QueryAttention
from rerankit.errors import CapabilityError, InputError

__all__ = ["IMPLEMENTATION", "LOCK", "query_attention", "tokens_with_offsets", "use_implementation", "with_cache",
           "returned_cache"]

log = logging.getLogger(__name__)

IMPLEMENTATION = "rerankit_query_rows"
LOCK = threading.RLock()  # one attention-implementation switch and forward pass at a time
_ACTIVE: contextvars.ContextVar[_RowCollector | None] = contextvars.ContextVar("rerankit_query_rows", default=None)
_registered = False
CHUNK_TOKENS = 4096  # tokens per forward call before the query rows (bounds the MLP and projection activations)


class _RowCollector:
    """Accumulates, over layers, the attention from absolute token positions >= `row_start` to every key."""

    def __init__(self, row_start: int) -> None:
        self.row_start = row_start
        self.total: Any = None
        self.layers: set[int] = set()

    def observe(self, module: Any, query: Any, key: Any, mask: Any, kw: dict[str, Any]) -> None:
        import torch

        b, heads, q_len, dim = query.shape
        kv_heads, kv_len = key.shape[1], key.shape[2]
        if b != 1:
            raise RuntimeError("query-row attention takes one sequence at a time")
        offset = kv_len - q_len  # absolute position of the first query of this pass
        lo = self.row_start - offset
        if lo < 0:
            raise RuntimeError(f"query rows start at token {self.row_start}, before this pass's tokens ({offset})")
        rows = q_len - lo
        scaling = kw.get("scaling") or getattr(module, "scaling", None) or dim ** -0.5
        # grouped-query attention: query head h reads key head h // groups, so group the queries per key head
        q = query[:, :, lo:, :].float().reshape(b, kv_heads, (heads // kv_heads) * rows, dim)
        s = torch.matmul(q, key.float().transpose(-1, -2)).mul_(scaling).view(b, heads, rows, kv_len)
        softcap = kw.get("softcap")
        if softcap:
            s = torch.tanh(s / softcap) * softcap
        if mask is not None and getattr(mask, "ndim", 0) == 4:
            m = mask[:, :, lo:, :kv_len]
            s = s.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else s + m.float()
        else:  # no mask given: causal, nothing padded
            pos = torch.arange(offset + lo, offset + q_len, device=s.device)
            future = torch.arange(kv_len, device=s.device)[None, :] > pos[:, None]
            s = s.masked_fill(future, float("-inf"))
        per_key = torch.softmax(s, dim=-1)[0].mean(dim=1).sum(dim=0).double()
        self.total = per_key if self.total is None else self.total + per_key
        self.layers.add(int(getattr(module, "layer_idx", len(self.layers))))


def _register() -> bool:
    """Register the attention function (SDPA plus query-row recomputation) and its mask function once."""
    global _registered
    with LOCK:
        if _registered:
            return True
        try:
            from transformers import AttentionInterface
            from transformers.integrations.sdpa_attention import sdpa_attention_forward
            from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
        except ImportError:
            return False

        def forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kw: Any) -> Any:
            collector = _ACTIVE.get()
            if collector is not None:
                collector.observe(module, query, key, attention_mask, kw)
            return sdpa_attention_forward(module, query, key, value, attention_mask, **kw)

        AttentionInterface.register(IMPLEMENTATION, forward)
        AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)
        _registered = True
        return True


def use_implementation(model: Any, name: str) -> None:
    """Switch `model` to attention implementation `name` (callers hold :data:`LOCK`)."""
    if getattr(model.config, "_attn_implementation", None) != name:
        log.info("switching %s to %s attention", type(model).__name__, name)
        model.set_attn_implementation(name)


def with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The forward keyword that passes a key/value cache: ``cache`` (transformers 5) or ``past_key_values``."""
    import inspect

    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    return {name: cache}


def returned_cache(output: Any) -> Any:
    """The key/value cache of a forward output (``cache`` in transformers 5, ``past_key_values`` before)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def tokens_with_offsets(tokenizer: Any, text: str, bos: int | None) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of raw `text`, with the model's BOS first when it expects one."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc.input_ids), [tuple(o) for o in enc.offset_mapping]
    if bos is not None and (not ids or ids[0] != bos):
        ids, offsets = [bos] + ids, [(0, 0)] + offsets
    return ids, offsets


def _first_row(offsets: list[tuple[int, int]], start: int) -> int:
    for i, (a, b) in enumerate(offsets):
        if i > 0 and a >= start and b > a:
            return i
    raise InputError(f"no token starts at or after character {start} (the query rows are empty)")


def shared_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading token ids `a` and `b` have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def query_attention(engine: Any, texts: Sequence[str], query_starts: Sequence[int], reuse_cache: bool = True,
                    chunk_tokens: int = CHUNK_TOKENS) -> list[QueryAttention]:
    """See :meth:`rerankit.engines.base.Engine.query_attention`; `engine` is a TransformersEngine."""
    import numpy as np
    import torch

    if isinstance(texts, str) or len(texts) != len(query_starts) or not texts:
        raise InputError("query_attention() takes a non-empty list of texts and one query start per text")
    if any(not isinstance(t, str) or not t for t in texts):
        raise InputError("query_attention() takes non-empty raw texts (render chat prompts first)")
    if not _register():
        raise CapabilityError("query-row attention needs transformers with AttentionInterface and "
                              "AttentionMaskInterface (transformers>=4.53); use forward_attentions() instead")
    encoded = [tokens_with_offsets(engine.tokenizer, t, engine._bos) for t in texts]
    firsts = [_first_row(off, int(s)) for (_, off), s in zip(encoded, query_starts)]
    for ids, _ in encoded:
        if len(ids) > engine.context_length:
            raise InputError(f"text is {len(ids)} tokens, longer than the context of {engine.model} "
                             f"({engine.context_length}); use fewer or shorter passages")
    # tokens every later text shares with the first, before its own query rows: computed once
    shared = min((min(shared_prefix_length(encoded[0][0], ids), first) for (ids, _), first
                  in zip(encoded[1:], firsts[1:])), default=0) if reuse_cache else 0
    n_layers = engine.hf_model.config.get_text_config().num_hidden_layers
    model = engine.hf_model
    out: list[QueryAttention] = []
    cache = None

    def run(ids: list[int], past: Any) -> Any:
        t = torch.tensor([ids], device=engine.device)
        with torch.inference_mode():
            return returned_cache(model(input_ids=t, use_cache=True, logits_to_keep=1, **with_cache(model, past)))

    with LOCK:
        use_implementation(model, IMPLEMENTATION)
        for k, ((ids, offsets), first) in enumerate(zip(encoded, firsts)):
            reused = shared if k > 0 and cache is not None else 0
            past, pos = (cache if reused else None), reused
            while pos < first:  # the tokens before the query rows, in chunks: activations stay chunk-sized
                end = min(first, pos + chunk_tokens)
                past, pos = run(ids[pos:end], past), end
            collector = _RowCollector(first)
            token = _ACTIVE.set(collector)
            try:
                past = run(ids[first:], past)
            finally:
                _ACTIVE.reset(token)
            if shared > 0:
                extra = past.get_seq_length() - shared
                if extra > 0:
                    past.crop(-extra)  # keep only the shared tokens for the next text
                if past.get_seq_length() != shared:
                    raise RuntimeError(f"cannot crop the key/value cache of {engine.model} to {shared} tokens")
                cache = past
            del past
            if len(collector.layers) != n_layers:
                raise CapabilityError(f"{engine.model}: {len(collector.layers)} of {n_layers} layers went through the "
                                      "attention interface; this architecture needs forward_attentions() (eager)")
            scores = collector.total.cpu().numpy().astype(np.float64)
            out.append(QueryAttention(texts[k], ids, offsets, list(range(first, len(ids))), scores, reused))
    return out
