"""The transformers engine: causal LMs on CPU or GPU, batched with left padding.

bf16 on GPU and fp32 on CPU by default; ``attn_implementation="eager"`` only when full attention matrices are
requested (it is several times slower than SDPA), either at construction (``attentions=True``) or by
:meth:`forward_attentions`. :meth:`query_attention` (ICR) runs on SDPA and recomputes only the query rows
(``hf_attention``). The only engine with the ATTENTION capability.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rerankit.engines import hf_prefix
from rerankit.engines.adapters import find_adapter
from rerankit.engines.base import (
    Attentions,
    Capability,
    Engine,
    Generation,
    GenerationParams,
    Prompt,
    QueryAttention,
    check_prompts,
)
from rerankit.engines.models import model_load_error, resolve_model
from rerankit.engines.tokens import candidate_token_ids
from rerankit.errors import ConfigError, InputError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TransformersEngine", "render_chat"]

log = logging.getLogger(__name__)

def render_chat(tokenizer: Any, messages: Sequence[Any]) -> str:
    """Apply the tokenizer's chat template; a final assistant message is continued rather than closed."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    cont = msgs[-1]["role"] == "assistant"
    if getattr(tokenizer, "chat_template", None) is None:
        log.warning("%s has no chat template: joining message contents with blank lines",
                    getattr(tokenizer, "name_or_path", "the tokenizer"))
        return "\n\n".join(m["content"] for m in msgs)
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=not cont,
                                         continue_final_message=cont)


class HFTokenizerText:
    """Prompt rendering and tokenisation through a Hugging Face tokenizer (``self.tokenizer``), shared by the
    engines that load one (transformers, vLLM)."""

    tokenizer: Any

    def render(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else render_chat(self.tokenizer, prompt)

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


class TransformersEngine(HFTokenizerText, Engine):
    """A Hugging Face causal LM. Options: device ("auto", "cpu", "cuda", "cuda:1"), dtype ("auto", "bfloat16",
    "float16", "float32"), batch_size, attentions (load with eager attention), pooling for embed ("last"/"mean"),
    prefix_cache (next-token log-probabilities of prompts sharing a prefix of at least 16 tokens compute it once:
    ``hf_prefix``; default True).
    A `model` that is a PEFT LoRA adapter loads its base model (from the adapter's config, or `base_model`) with the
    adapter merged in (needs ``peft``).
    """

    name = "transformers"
    capabilities = frozenset({Capability.GENERATE, Capability.LOGPROBS, Capability.ATTENTION, Capability.EMBED})

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", batch_size: int = 8,
                 attentions: bool = False, pooling: str = "last", context_length: int | None = None,
                 trust_remote_code: bool = False, progress: bool = False, base_model: str | None = None,
                 prefix_cache: bool = True) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("transformers", "llm", "the transformers engine") from exc
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if pooling not in ("last", "mean"):
            raise ConfigError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        path = resolve_model(model)
        super().__init__(path, context_length)
        self.adapter = find_adapter(model, base_model)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        if dtype not in ("bfloat16", "float16", "float32"):
            raise ConfigError(f"dtype must be auto, bfloat16, float16 or float32, got {dtype!r}")
        self.dtype = dtype
        self.batch_size = batch_size
        self.pooling = pooling
        self.progress = progress
        self.prefix_cache = prefix_cache
        weights = self.adapter.base if self.adapter else path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(_tokenizer_path(path, weights),
                                                           trust_remote_code=trust_remote_code)
            self.hf_model = AutoModelForCausalLM.from_pretrained(
                weights, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code,
                attn_implementation="eager" if attentions else "sdpa")
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        if self.adapter:
            self.hf_model = _merge_adapter(self.hf_model, self.adapter.path)
        self.hf_model.to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        bos = self.tokenizer.bos_token_id
        probe = self.tokenizer("a").input_ids
        self._bos = bos if bos is not None and probe and probe[0] == bos else None
        log.info("loaded %s on %s (%s)", path, self.device, dtype)

    # ---- text and tokens -----------------------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        if self._context_length:
            return int(self._context_length)
        cfg = self.hf_model.config
        n = getattr(cfg, "max_position_embeddings", None) or getattr(cfg.get_text_config(), "max_position_embeddings",
                                                                     None)
        return int(n or 2048)

    def _ids(self, text: str) -> list[int]:
        """Model input ids of rendered text: BOS first when the model expects one and the text lacks it."""
        ids = self.tokenize(text)
        if self._bos is not None and (not ids or ids[0] != self._bos):
            ids = [self._bos] + ids
        return ids

    def _encode(self, prompts: Sequence[Prompt], reserve: int = 0) -> list[list[int]]:
        out = [self._ids(self.render(p)) for p in check_prompts(prompts)]
        for i, ids in enumerate(out):
            if len(ids) + reserve > self.context_length:
                raise InputError(f"prompt {i} is {len(ids)} tokens, which with {reserve} tokens to generate "
                                 f"exceeds the context length of {self.model} ({self.context_length}); truncate "
                                 "the passages or use a model with a longer context")
        return out

    def _batches(self, seqs: list[list[int]], desc: str) -> Iterator[tuple[list[int], Any, Any]]:
        """Length-sorted, left-padded batches: (original indices, input_ids, attention_mask) on the device."""
        import torch
        from tqdm.auto import tqdm

        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        pad = self.tokenizer.pad_token_id
        starts = range(0, len(order), self.batch_size)
        for s in tqdm(starts, desc=desc, disable=not self.progress or len(order) <= self.batch_size, leave=False):
            idx = order[s:s + self.batch_size]
            width = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(seqs[i])
                ids[r, width - n:] = torch.tensor(seqs[i], dtype=torch.long)
                mask[r, width - n:] = 1
            yield idx, ids.to(self.device), mask.to(self.device)

    def _forward(self, ids: Any, mask: Any, **kw: Any) -> Any:
        import torch

        pos = (mask.cumsum(-1) - 1).clamp(min=0)  # positions count from each sequence's first real token
        with torch.inference_mode():
            return self.hf_model(input_ids=ids, attention_mask=mask, position_ids=pos, **kw)

    # ---- model calls -------------------------------------------------------------------------------------
    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        import torch

        cands = self._check_candidates(candidates)
        tok = candidate_token_ids(self.tokenize, cands)
        seqs = self._encode(prompts)
        out: list[dict[str, float]] = [{} for _ in seqs]
        shared = hf_prefix.prefix_logprobs(self, seqs, tok) if self.prefix_cache else {}
        for i, lp in shared.items():
            out[i] = dict(zip(cands, lp))
        rest = [i for i in range(len(seqs)) if i not in shared]
        for idx, ids, mask in self._batches([seqs[i] for i in rest], "logprobs"):
            logits = self._forward(ids, mask, logits_to_keep=1).logits[:, -1, :].float()
            lp = torch.log_softmax(logits, dim=-1)[:, tok].cpu().tolist()
            for r, i in enumerate(idx):
                out[rest[i]] = dict(zip(cands, lp[r]))
        return out

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        import torch

        p = params or GenerationParams()
        seqs = self._encode(prompts, reserve=0)
        out: list[Generation | None] = [None] * len(seqs)
        eos = _eos_ids(self.hf_model, self.tokenizer)
        if p.seed is not None:
            torch.manual_seed(p.seed)
        for idx, ids, mask in self._batches(seqs, "generate"):
            kw: dict[str, Any] = {"max_new_tokens": p.max_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                                  "eos_token_id": sorted(eos)}
            if p.temperature > 0:
                kw.update(do_sample=True, temperature=p.temperature, top_p=p.top_p, top_k=0)
            else:
                kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if p.stop:
                kw.update(stop_strings=list(p.stop), tokenizer=self.tokenizer)
            with torch.inference_mode():
                gen = self.hf_model.generate(input_ids=ids, attention_mask=mask, **kw)
            new = gen[:, ids.shape[1]:].cpu().tolist()
            for r, i in enumerate(idx):
                out[i] = self._finish(new[r], eos, p, len(seqs[i]))
        return [g for g in out if g is not None]

    def _finish(self, new: list[int], eos: set[int], p: GenerationParams, n_prompt: int) -> Generation:
        """Cut a generated sequence at EOS or the first stop string (excluded, as OpenAI does)."""
        stopped = False
        for k, t in enumerate(new):
            if t in eos:
                new, stopped = new[:k], True
                break
        pad = self.tokenizer.pad_token_id
        while new and new[-1] == pad:  # sequences stopped by a stop string are padded, not ended with EOS
            new = new[:-1]
        # keep special tokens: a stop string such as "</think>" may be one (EOS and padding are already cut)
        text = self.tokenizer.decode(new, skip_special_tokens=False)
        cut = min((text.find(s) for s in p.stop if s in text), default=-1)
        if cut >= 0:
            text, stopped = text[:cut], True
        n = len(new) if cut < 0 else len(self.tokenize(text))
        reason = "stop" if stopped or len(new) < p.max_tokens else "length"
        return Generation(text, reason, n_prompt, n)

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        import numpy as np
        import torch

        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise InputError("embed() takes a list of strings")
        if not texts:
            return np.zeros((0, self.hf_model.config.get_text_config().hidden_size), dtype=np.float32)
        seqs = self._encode(list(texts))
        vecs: list[Any] = [None] * len(seqs)
        for idx, ids, mask in self._batches(seqs, "embed"):
            hidden = self._forward(ids, mask, output_hidden_states=True).hidden_states[-1].float()
            if self.pooling == "last":
                pooled = hidden[:, -1, :]
            else:
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            for r, i in enumerate(idx):
                vecs[i] = pooled[r].cpu().numpy()
        return np.stack(vecs).astype(np.float32)

    def forward_attentions(self, text: str, rows: Sequence[int] | None = None,
                           layers: Sequence[int] | None = None) -> Attentions:
        import numpy as np
        import torch

        from rerankit.engines import hf_attention

        if not isinstance(text, str) or not text:
            raise InputError("forward_attentions() takes a non-empty raw text (render chat prompts first)")
        ids, offsets = hf_attention.tokens_with_offsets(self.tokenizer, text, self._bos)
        if len(ids) > self.context_length:
            raise InputError(f"text is {len(ids)} tokens, longer than the context of {self.model} "
                             f"({self.context_length})")
        n_layers = self.hf_model.config.get_text_config().num_hidden_layers
        sel_layers = list(range(n_layers)) if layers is None else [int(x) % n_layers for x in layers]
        sel_rows = list(range(len(ids))) if rows is None else [int(x) % len(ids) for x in rows]
        t = torch.tensor([ids], device=self.device)
        with hf_attention.LOCK:
            hf_attention.use_implementation(self.hf_model, "eager")
            w = self._attention_rows(t, sel_layers, sel_rows).numpy()
        return Attentions(text, ids, offsets, sel_rows, sel_layers, w.astype(np.float32))

    def query_attention(self, texts: Sequence[str], query_starts: Sequence[int],
                        reuse_cache: bool = True) -> list[QueryAttention]:
        """Query-row attention on SDPA, layer by layer, without the full matrix (see ``hf_attention``);
        `reuse_cache=False` recomputes every text from its first token."""
        from rerankit.engines import hf_attention

        return hf_attention.query_attention(self, texts, query_starts, reuse_cache=reuse_cache)

    def _attention_rows(self, t: Any, layers: list[int], rows: list[int]) -> Any:
        """[layers, heads, rows, seq] attention of one forward pass, kept row-sliced layer by layer.

        Forward hooks on each decoder layer's ``self_attn`` keep only the selected rows, so memory holds one
        layer's full matrix at a time instead of all of them (``output_attentions=True`` keeps every layer's
        [heads, seq, seq], gigabytes for a few thousand tokens). Falls back to ``output_attentions`` for
        architectures without ``*.self_attn`` modules.
        """
        import torch

        mods = [m for n, m in self.hf_model.named_modules() if n.endswith("self_attn")]
        if len(mods) != self.hf_model.config.get_text_config().num_hidden_layers:
            with torch.inference_mode():
                att = self.hf_model(input_ids=t, output_attentions=True, logits_to_keep=1).attentions
            return torch.stack([att[k][0][:, rows, :].float() for k in layers]).cpu()
        kept: dict[int, Any] = {}
        idx = torch.tensor(rows, device=t.device)

        def keep(k: int) -> Any:
            def hook(_mod: Any, _inp: Any, out: Any) -> None:
                weights = out[1] if isinstance(out, tuple) and len(out) > 1 else None
                if weights is None:
                    raise RuntimeError(f"layer {k} of {self.model} returned no attention weights (not eager?)")
                kept[k] = weights[0].index_select(1, idx).float().cpu()
            return hook

        handles = [mods[k].register_forward_hook(keep(k)) for k in sorted(set(layers))]
        try:
            with torch.inference_mode():
                self.hf_model(input_ids=t, logits_to_keep=1)
        finally:
            for h in handles:
                h.remove()
        return torch.stack([kept[k] for k in layers])

    def config(self) -> dict[str, Any]:
        return {**super().config(), "dtype": self.dtype, **({"base_model": self.adapter.base} if self.adapter else {})}

    def close(self) -> None:
        import gc

        self.hf_model = None
        gc.collect()


def _tokenizer_path(path: str, weights: str) -> str:
    """An adapter folder's own tokenizer when it ships one (it may add tokens), else the base model's."""
    from pathlib import Path

    own = Path(path)
    return path if own.is_dir() and (own / "tokenizer_config.json").is_file() else weights


def _merge_adapter(model: Any, adapter: str) -> Any:
    """The base model with the LoRA adapter at `adapter` merged into its weights (peft)."""
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise MissingDependencyError("peft", "llm", "loading a LoRA adapter with the transformers engine") from exc
    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """All end-of-sequence ids: the generation config's (may be a list) and the tokenizer's."""
    ids: set[int] = set()
    gc = getattr(model, "generation_config", None)
    for src in (getattr(gc, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(src, int):
            ids.add(src)
        elif src:
            ids.update(int(x) for x in src)
    return ids
