"""The vLLM engine: a thin adapter over vLLM's offline ``LLM`` API (GPU only; vLLM has no CPU wheel here).

Prefix caching is on by default (pointwise and listwise prompts share long prefixes), tensor parallelism through
`tensor_parallel_size`. Prompts go in as token ids built the same way as the transformers engine builds them (chat
template from the tokenizer, BOS added only when the model expects one and the text lacks it), so both engines see
identical inputs. Next-token log-probabilities come from vLLM's top-`top_logprobs` list; a candidate outside it
gets the lowest listed value (an upper bound) and a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt, check_prompts
from rerankit.engines.hf import HFTokenizerText
from rerankit.engines.models import model_load_error, resolve_model
from rerankit.errors import ConfigError, InputError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["VLLMEngine"]

log = logging.getLogger(__name__)


class VLLMEngine(HFTokenizerText, Engine):
    """vLLM ``LLM(model, tensor_parallel_size, enable_prefix_caching, ...)``; extra keyword arguments go to ``LLM``.

    ``task="embed"`` loads the model as a pooling model for :meth:`embed` (E²Rank-style methods) instead of a
    generator.
    """

    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, dtype: str = "auto",
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 enable_prefix_caching: bool = True, task: str = "generate", top_logprobs: int = 20,
                 seed: int = 0, trust_remote_code: bool = False, **llm_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise MissingDependencyError("vllm", "vllm", "the vllm engine (a CUDA GPU is needed)") from exc
        if task not in ("generate", "embed"):
            raise ConfigError(f"task must be 'generate' or 'embed', got {task!r}")
        path = resolve_model(model)
        super().__init__(path, max_model_len)
        self.task = task
        self.top_logprobs = top_logprobs
        self.capabilities = frozenset({Capability.EMBED} if task == "embed"
                                      else {Capability.GENERATE, Capability.LOGPROBS})
        kwargs: dict[str, Any] = dict(model=path, tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                                      gpu_memory_utilization=gpu_memory_utilization, seed=seed,
                                      enable_prefix_caching=enable_prefix_caching,
                                      trust_remote_code=trust_remote_code, **llm_kwargs)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if task == "embed":
            kwargs.setdefault("runner", "pooling")
        try:
            self.llm = LLM(**kwargs)
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        self.tokenizer = self.llm.get_tokenizer()
        bos = getattr(self.tokenizer, "bos_token_id", None)
        probe = self.tokenizer("a").input_ids
        self._bos = bos if bos is not None and probe and probe[0] == bos else None

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
        outs = self.llm.generate(inputs, sp, use_tqdm=self.progress)
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
        ids = []
        for c in cands:
            t = self.tokenize(c)
            if not t:
                raise InputError(f"candidate {c!r} encodes to no tokens")
            ids.append(t[0])
        sp = SamplingParams(max_tokens=1, temperature=0.0, logprobs=self.top_logprobs)
        outs = self.llm.generate(self._inputs(prompts), sp, use_tqdm=self.progress)
        res, missing = [], 0
        for o in outs:
            top = {int(k): float(v.logprob) for k, v in o.outputs[0].logprobs[0].items()}
            floor = min(top.values())
            row = {}
            for c, t in zip(cands, ids):
                if t not in top:
                    missing += 1
                row[c] = top.get(t, floor)
            res.append(row)
        if missing:
            log.warning("%d candidate logprobs were outside vLLM's top %d; set to the lowest listed value",
                        missing, self.top_logprobs)
        return res

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        import numpy as np

        self.require(Capability.EMBED, method="embed() (load the vllm engine with task='embed')")
        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise InputError("embed() takes a list of strings")
        outs = self.llm.embed(list(texts), use_tqdm=self.progress)
        vecs = np.asarray([o.outputs.embedding for o in outs], dtype=np.float32)
        if normalize and len(vecs):
            vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return vecs

    def config(self) -> dict[str, Any]:
        return {**super().config(), "task": self.task}
