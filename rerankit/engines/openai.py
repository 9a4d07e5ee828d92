"""The OpenAI-compatible engine: any server speaking ``/v1/completions`` and ``/v1/chat/completions``.

Works with ``vllm serve``, SGLang, llama.cpp's server, llama-cpp-python's server and hosted APIs. Requests run
concurrently (at most `concurrency` in flight), with retries and exponential backoff on timeouts, connection
errors, 429 and 5xx.

Next-token log-probabilities: a vLLM server (``vllm serve``, recognised by its ``/v1/models`` answer) with a local
`tokenizer` is asked for exactly the candidates' token ids (vLLM's ``logprob_token_ids`` extension of
``/v1/completions``: a log-softmax over the full vocabulary, as the in-process vllm engine uses), so every value is
exact. Other servers only return the top `top_logprobs` tokens: a candidate outside them gets the lowest returned
value (an upper bound), and a warning says how often that happened. `logprob_mode` forces one way.

With a local `tokenizer` (a Hugging Face id or path of the same model), chat prompts are rendered here with the
model's own template and sent to the completions endpoint, so the server sees exactly the text the transformers
engine would; token counts and truncation are then exact. Without one, chat prompts go to the chat endpoint
(the server applies its template) and token counts are estimated at 4 characters per token.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt, check_prompts, is_chat
from rerankit.errors import ConfigError, InputError, MissingDependencyError, RerankitError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OpenAIEngine", "ServerError"]

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_MAX_TOKEN_IDS = 128  # vLLM's limit on logprob_token_ids per request (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS)


class ServerError(RerankitError):
    """The server refused a request or kept failing after all retries."""


class OpenAIEngine(Engine):
    """An OpenAI-compatible HTTP endpoint. `model` is the name the server knows the model by."""

    name = "openai"
    capabilities = frozenset({Capability.GENERATE, Capability.LOGPROBS, Capability.EMBED})

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 tokenizer: str | None = None, api: str = "auto", concurrency: int = 8, timeout: float = 120.0,
                 max_retries: int = 4, backoff: float = 0.5, top_logprobs: int = 20,
                 context_length: int | None = None, extra_body: dict[str, Any] | None = None,
                 logprob_mode: str = "auto") -> None:
        try:
            import httpx
        except ImportError as exc:
            raise MissingDependencyError("httpx", "openai", "the openai engine") from exc
        if api not in ("auto", "completions", "chat"):
            raise ConfigError(f"api must be 'auto', 'completions' or 'chat', got {api!r}")
        if logprob_mode not in ("auto", "token_ids", "top"):
            raise ConfigError(f"logprob_mode must be 'auto', 'token_ids' (vLLM servers) or 'top', got {logprob_mode!r}")
        if logprob_mode == "token_ids" and not tokenizer:
            raise ConfigError("logprob_mode='token_ids' needs tokenizer=<HF id or path of the served model> to know "
                              "the candidates' token ids")
        if concurrency < 1 or max_retries < 0 or timeout <= 0 or top_logprobs < 1:
            raise ConfigError("concurrency and top_logprobs must be >= 1, max_retries >= 0 and timeout > 0")
        super().__init__(model, context_length)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://localhost:8000/v1").rstrip("/")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.api = api
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.top_logprobs = top_logprobs
        self.logprob_mode = logprob_mode
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.tokenizer = None
        if tokenizer:
            from transformers import AutoTokenizer

            from rerankit.engines.models import model_load_error, resolve_model
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer))
            except OSError as exc:
                raise model_load_error(tokenizer, exc) from exc
        self._warned_estimate = False
        self._vllm: bool | None = None  # whether the server is vLLM; asked once, on first use
        self._bos: int | None = None
        if self.tokenizer is not None:  # BOS rule of the in-process engines: only if the tokenizer adds one itself
            bos = getattr(self.tokenizer, "bos_token_id", None)
            probe = self.tokenizer("a").input_ids
            self._bos = bos if bos is not None and probe and probe[0] == bos else None

    # ---- text and tokens -----------------------------------------------------------------------------------
    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if self.tokenizer is not None:
            from rerankit.engines.hf import render_chat

            return render_chat(self.tokenizer, prompt)
        # The server applies its own template; this transcript is only for display and token estimates.
        return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)

    def tokenize(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise ConfigError("the openai engine needs tokenizer=<HF id or path of the served model> for exact "
                              "token ids")
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def detokenize(self, ids: Sequence[int]) -> str:
        if self.tokenizer is None:
            raise ConfigError("the openai engine needs tokenizer=... to decode token ids")
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenize(text))
        self._estimate_note()
        return math.ceil(len(text) / 4)

    def truncate(self, text: str, max_tokens: int) -> tuple[str, bool]:
        if self.tokenizer is not None:
            return super().truncate(text, max_tokens)
        if max_tokens < 0:
            raise InputError(f"max_tokens must be >= 0, got {max_tokens}")
        self._estimate_note()
        limit = 4 * max_tokens
        if len(text) <= limit:
            return text, False
        cut = text.rfind(" ", 0, limit + 1)
        return text[:cut if cut > limit // 2 else limit], True

    def _estimate_note(self) -> None:
        if not self._warned_estimate:
            log.warning("openai engine without a tokenizer: token counts and truncation are estimated at 4 "
                        "characters per token (pass tokenizer=... for exact counts)")
            self._warned_estimate = True

    # ---- HTTP ------------------------------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries and exponential backoff; ServerError with the server's message otherwise."""
        return self._send("POST", path, {**body, **self.extra_body})

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        for attempt in range(self.max_retries + 1):
            try:
                resp = self._client.request(method, path, json=body)
            except httpx.TransportError as exc:  # timeouts, refused connections, broken streams
                err = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 400:
                    return resp.json()
                err = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in _RETRY_STATUS:
                    raise ServerError(f"{self.base_url}{path} refused the request ({err})")
            if attempt < self.max_retries:
                delay = self.backoff * 2 ** attempt
                log.info("%s%s failed (%s); retry %d/%d in %.1fs", self.base_url, path, err, attempt + 1,
                         self.max_retries, delay)
                time.sleep(delay)
        raise ServerError(f"{self.base_url}{path} failed after {self.max_retries + 1} attempts: {err}")

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def _use_chat(self, prompt: Prompt) -> bool:
        if self.api == "chat":
            return True
        return self.api == "auto" and is_chat(prompt) and self.tokenizer is None

    def _request(self, prompt: Prompt, body: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        if self._use_chat(prompt):
            msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else \
                [{"role": m["role"], "content": m["content"]} for m in prompt]
            if msgs[-1]["role"] == "assistant":  # continue the final message (vLLM / SGLang extension)
                body = {**body, "continue_final_message": True, "add_generation_prompt": False}
            return True, self._post("/chat/completions", {"model": self.model, "messages": msgs, **body})
        return False, self._post("/completions", {"model": self.model, "prompt": self._completion_prompt(prompt),
                                                  **body})

    def _vllm_server(self) -> bool:
        """Whether to use vLLM's extensions (token-id prompts, ``logprob_token_ids``): with a local tokenizer, when
        `logprob_mode` says so or ("auto") the server's ``/models`` answer names vLLM as the owner. Asked once."""
        if self.tokenizer is None or self.logprob_mode == "top":
            return False
        if self.logprob_mode == "token_ids":
            return True
        if self._vllm is None:
            try:
                models = self._send("GET", "/models").get("data") or []
            except ServerError as exc:
                if "refused the request" not in str(exc):  # unreachable after retries: the real calls fail too
                    raise
                models = []  # a server without /models is not vLLM
            self._vllm = any(isinstance(m, dict) and m.get("owned_by") == "vllm" for m in models)
            log.info("%s is %sa vLLM server: %s", self.base_url, "" if self._vllm else "not ",
                     "exact log-probabilities of requested token ids" if self._vllm
                     else f"log-probabilities from the top {self.top_logprobs}")
        return self._vllm

    def _completion_prompt(self, prompt: Prompt) -> str | list[int]:
        """Rendered text; for a vLLM server token ids built as the in-process engines build them (BOS only when the
        tokenizer adds one itself and the text lacks it), so the server tokenises nothing."""
        text = self.render(prompt)
        if not self._vllm_server():
            return text
        ids = self.tokenize(text)
        if self._bos is not None and (not ids or ids[0] != self._bos):
            ids = [self._bos] + ids
        return ids

    # ---- model calls -------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        p = params or GenerationParams()
        body: dict[str, Any] = {"max_tokens": p.max_tokens, "temperature": p.temperature, "top_p": p.top_p}
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed is not None:
            body["seed"] = p.seed

        self._vllm_server()  # settle the server kind before requests run in threads

        def one(prompt: Prompt) -> Generation:
            chat, data = self._request(prompt, body)
            choice = _first_choice(data)
            text = ((choice.get("message") or {}).get("content") or "") if chat else (choice.get("text") or "")
            usage = data.get("usage") or {}
            reason = "length" if choice.get("finish_reason") == "length" else "stop"
            return Generation(text, reason, int(usage.get("prompt_tokens") or 0),
                              int(usage.get("completion_tokens") or 0))

        return self._map(one, check_prompts(prompts))

    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        cands = self._check_candidates(candidates)
        prompts = check_prompts(prompts)
        if self._vllm_server() and not any(self._use_chat(p) for p in prompts):
            return self._exact_logprobs(prompts, cands)
        keys = [self._first_token_text(c) for c in cands]
        missing = [0]

        def one(prompt: Prompt) -> dict[str, float]:
            chat, data = self._request(prompt, {"max_tokens": 1, "temperature": 0.0, **(
                {"logprobs": True, "top_logprobs": self.top_logprobs} if self._use_chat(prompt)
                else {"logprobs": self.top_logprobs})})
            top = _top_logprobs(_first_choice(data), chat)
            if not top:
                raise ServerError(f"{self.base_url} returned no logprobs: the server or model does not support "
                                  "logprobs/top_logprobs")
            floor = min(top.values())
            out = {}
            for c, k in zip(cands, keys):
                if k in top:
                    out[c] = top[k]
                else:
                    out[c] = floor
                    missing[0] += 1
            return out

        res = self._map(one, prompts)
        if missing[0]:
            log.warning("%d candidate logprobs were outside the server's top %d and were set to the lowest returned "
                        "value (an upper bound)", missing[0], self.top_logprobs)
        return res

    def _exact_logprobs(self, prompts: Sequence[Prompt], cands: list[str]) -> list[dict[str, float]]:
        """vLLM's ``logprob_token_ids``: the full-vocabulary log-probability of each requested id, never a floor."""
        from rerankit.engines.tokens import candidate_token_ids

        tok = candidate_token_ids(self.tokenize, cands)
        unique = list(dict.fromkeys(tok))

        def one(prompt: Prompt) -> dict[str, float]:
            got: dict[int, float] = {}
            for s in range(0, len(unique), _MAX_TOKEN_IDS):
                _, data = self._request(prompt, {"max_tokens": 1, "temperature": 0.0, "logprobs": 0,
                                                 "logprob_token_ids": unique[s:s + _MAX_TOKEN_IDS],
                                                 "return_tokens_as_token_ids": True})
                tops = (_first_choice(data).get("logprobs") or {}).get("top_logprobs") or []
                for key, value in (tops[0] if tops and isinstance(tops[0], dict) else {}).items():
                    if key.startswith("token_id:"):
                        got[int(key[len("token_id:"):])] = float(value)
            lost = [c for c, t in zip(cands, tok) if t not in got]
            if lost:  # never a floor: a missing value is an error
                raise ServerError(f"{self.base_url} returned no log-probability for the candidates {lost}: the "
                                  "server does not support vLLM's logprob_token_ids (use logprob_mode='top')")
            return {c: got[t] for c, t in zip(cands, tok)}

        return self._map(one, prompts)

    def _first_token_text(self, candidate: str) -> str:
        """The server's name for the candidate's scored token: its text, decoded from the token id the shared
        in-context rule picks (:mod:`rerankit.engines.tokens`) when a local tokenizer is given."""
        if self.tokenizer is None:
            return candidate
        from rerankit.engines.tokens import candidate_token_ids

        return self.tokenizer.decode(candidate_token_ids(self.tokenize, [candidate]))

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        import numpy as np

        if isinstance(texts, str) or any(not isinstance(t, str) for t in texts):
            raise InputError("embed() takes a list of strings")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        data = self._post("/embeddings", {"model": self.model, "input": list(texts)})
        rows = sorted(data.get("data") or [], key=lambda d: d.get("index", 0))
        if len(rows) != len(texts):
            raise ServerError(f"{self.base_url}/embeddings returned {len(rows)} vectors for {len(texts)} texts")
        vecs = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        if normalize:
            vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return vecs

    def config(self) -> dict[str, Any]:
        return {**super().config(), "base_url": self.base_url, "logprob_mode": self.logprob_mode}

    def close(self) -> None:
        self._client.close()


def _first_choice(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices") or []
    if not choices:
        raise ServerError(f"the server answered without choices: {str(data)[:200]}")
    return choices[0]


def _top_logprobs(choice: dict[str, Any], chat: bool) -> dict[str, float]:
    """token text -> logprob at the first generated position, from either response shape."""
    lp = choice.get("logprobs") or {}
    if chat:
        content = lp.get("content") or []
        if not content:
            return {}
        return {t["token"]: float(t["logprob"]) for t in content[0].get("top_logprobs") or []}
    tops = lp.get("top_logprobs") or []
    if not tops or not tops[0]:
        return {}
    first = tops[0]
    if isinstance(first, dict):
        return {str(k): float(v) for k, v in first.items()}
    return {t["token"]: float(t["logprob"]) for t in first}
