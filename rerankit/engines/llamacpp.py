"""The llama.cpp engine: GGUF models on CPU through llama-cpp-python (the optional ``llamacpp`` extra).

Chat prompts are rendered with a local Hugging Face tokenizer when `tokenizer` is given (exactly as the
transformers engine renders them), else with the chat template stored in the GGUF file. Next-token
log-probabilities are a log-softmax over the full vocabulary of the last position's logits, so any candidate
token is exact (no top-k cut-off); which token a candidate is comes from :mod:`rerankit.engines.tokens`.
Prompts run one at a time: llama-cpp-python does not batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt, check_prompts
from rerankit.engines.models import model_load_error, resolve_gguf, resolve_model
from rerankit.engines.tokens import candidate_token_ids
from rerankit.errors import ConfigError, InputError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LlamaCppEngine"]

log = logging.getLogger(__name__)


class LlamaCppEngine(Engine):
    """``Llama(model_path=<gguf>, n_ctx, n_threads)``. `model` is a .gguf file, a folder holding one, or a local
    model name with a GGUF (``$RERANKIT_MODELS/manifest.json``). ``embedding=True`` loads it for :meth:`embed`.
    """

    name = "llamacpp"

    def __init__(self, model: str, n_ctx: int = 4096, n_threads: int | None = None, n_batch: int = 512,
                 embedding: bool = False, tokenizer: str | None = None, seed: int = 0,
                 **llama_kwargs: Any) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise MissingDependencyError("llama-cpp-python", "llamacpp", "the llamacpp engine") from exc
        path = resolve_gguf(model)
        super().__init__(path, n_ctx)
        try:
            self.llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(), n_batch=n_batch,
                             embedding=embedding, seed=seed, verbose=False, **llama_kwargs)
        except (OSError, ValueError) as exc:
            raise model_load_error(model, exc) from exc
        self.capabilities = frozenset({Capability.EMBED} if embedding
                                      else {Capability.GENERATE, Capability.LOGPROBS})
        self.tokenizer = None
        if tokenizer:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer))
        self._chat = None

    @property
    def context_length(self) -> int:
        return int(self.llm.n_ctx())

    # ---- text and tokens -----------------------------------------------------------------------------------
    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if self.tokenizer is not None:
            from rerankit.engines.hf import render_chat

            return render_chat(self.tokenizer, prompt)
        msgs = [{"role": m["role"], "content": m["content"]} for m in prompt]
        cont = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else None
        if cont is not None:
            msgs = msgs[:-1]
        return self._formatter()(messages=msgs).prompt + (cont or "")

    def _formatter(self) -> Any:
        if self._chat is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            meta = self.llm.metadata
            template = meta.get("tokenizer.chat_template")
            if not template:
                raise ConfigError(f"{self.model} has no chat template in its GGUF metadata; pass raw text prompts "
                                  "or tokenizer=<HF id or path>")
            vocab = [self.llm.detokenize([i]).decode("utf-8", "ignore") for i in (self.llm.token_bos(),
                                                                                   self.llm.token_eos())]
            self._chat = Jinja2ChatFormatter(template=template, bos_token=vocab[0], eos_token=vocab[1],
                                             add_generation_prompt=True)
        return self._chat

    def tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.llm.detokenize(list(ids), special=True).decode("utf-8", errors="ignore")

    def _ids(self, prompt: Prompt) -> list[int]:
        ids = self.llm.tokenize(self.render(prompt).encode("utf-8"), add_bos=True, special=True)
        bos = self.llm.token_bos()
        if len(ids) > 1 and ids[0] == bos and ids[1] == bos:  # template already began with BOS
            ids = ids[1:]
        if len(ids) > self.context_length:
            raise InputError(f"a prompt is {len(ids)} tokens, longer than the context of {self.model} "
                             f"({self.context_length}); truncate the passages or raise n_ctx")
        return list(ids)

    # ---- model calls -------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        self.require(Capability.GENERATE, method="generate()")
        p = params or GenerationParams()
        out = []
        for prompt in check_prompts(prompts):
            ids = self._ids(prompt)
            res = self.llm.create_completion(ids, max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p,
                                             stop=list(p.stop) or None, seed=p.seed)
            c = res["choices"][0]
            usage = res.get("usage") or {}
            out.append(Generation(c["text"], "length" if c.get("finish_reason") == "length" else "stop",
                                  int(usage.get("prompt_tokens", len(ids))), int(usage.get("completion_tokens", 0))))
        return out

    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        import llama_cpp
        import numpy as np

        self.require(Capability.LOGPROBS, method="next_token_logprobs()")
        cands = self._check_candidates(candidates)
        tok = candidate_token_ids(self.tokenize, cands)
        out = []
        for prompt in check_prompts(prompts):
            ids = self._ids(prompt)
            self.llm.reset()  # no KV-cache reuse across prompts: how llama.cpp splits tokens into batches
            self.llm.eval(ids)  # changes its quantised kernels' results (~0.05 nats), so scores would depend on order
            # the last position's logits, straight from the context (the Python-side score buffer is only
            # filled when the model was loaded with logits_all=True, which costs n_ctx x vocab floats)
            ptr = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).astype(np.float64)
            m = logits.max()
            lse = m + np.log(np.exp(logits - m).sum())
            out.append({c: float(logits[t] - lse) for c, t in zip(cands, tok)})
        return out

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        import numpy as np

        self.require(Capability.EMBED, method="embed() (load the llamacpp engine with embedding=True)")
        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise InputError("embed() takes a list of strings")
        vecs = np.asarray(self.llm.embed(list(texts), normalize=False), dtype=np.float32)
        if normalize and len(vecs):
            vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return vecs

    def close(self) -> None:
        self.llm.close()
