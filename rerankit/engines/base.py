"""The engine interface: where a model runs (transformers, vLLM, an OpenAI-compatible server, llama.cpp).

Methods (rerankers) talk only to this interface and declare the :class:`Capability` values they need; an engine
that lacks one raises :class:`~rerankit.errors.CapabilityError` naming the method, the engine and the engines that
can. A prompt is either raw text (sent as is: the caller has applied any template) or chat messages
(``[{"role": ..., "content": ...}]``) that the engine renders with the model's own chat template. A chat prompt
whose last message has role ``"assistant"`` is *continued*: the model writes on after that message's text.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from rerankit.errors import CapabilityError, InputError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Capability", "Message", "Prompt", "GenerationParams", "Generation", "Attentions", "QueryAttention", "Engine",
    "check_prompts", "is_chat", "ENGINES_WITH",
]

log = logging.getLogger(__name__)


class Capability(str, Enum):
    """What an engine can do for a method."""

    GENERATE = "generate"      # batched text generation (temperature, max tokens, stop, seed)
    LOGPROBS = "logprobs"      # log-probabilities of chosen next tokens (yes/no, Rank1, FIRST)
    ATTENTION = "attention"    # attention weights of a forward pass (ICR)
    EMBED = "embed"            # pooled hidden states as embeddings (E²Rank)


# Which built-in engines offer each capability (for error messages that say what to use instead).
ENGINES_WITH: dict[Capability, tuple[str, ...]] = {
    Capability.GENERATE: ("transformers", "vllm", "openai", "llamacpp"),
    Capability.LOGPROBS: ("transformers", "vllm", "openai", "llamacpp"),
    Capability.ATTENTION: ("transformers",),
    Capability.EMBED: ("transformers", "vllm (task='embed')", "openai (/v1/embeddings)", "llamacpp"),
}

Message = Mapping[str, str]
Prompt = str | Sequence[Message]


def is_chat(prompt: Prompt) -> bool:
    """True for chat messages, False for raw text."""
    return not isinstance(prompt, str)


def check_prompts(prompts: Sequence[Prompt]) -> list[Prompt]:
    """Validate a batch of prompts: raw strings or non-empty lists of {role, content} messages."""
    if isinstance(prompts, str) or (isinstance(prompts, Sequence) and prompts and isinstance(prompts[0], Mapping)):
        raise InputError("engines take a list of prompts; wrap a single prompt in a list")
    out = list(prompts)
    for i, p in enumerate(out):
        if isinstance(p, str):
            continue
        if not isinstance(p, Sequence) or not p:
            raise InputError(f"prompt {i} must be a string or a non-empty list of chat messages, got {p!r:.80}")
        for m in p:
            if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
                raise InputError(f"prompt {i}: chat messages need 'role' and 'content' keys, got {m!r:.80}")
    return out


@dataclass(frozen=True)
class GenerationParams:
    """Sampling options shared by all engines. temperature 0 means greedy decoding."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise InputError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))


@dataclass(frozen=True)
class Generation:
    """One generated completion. `finish_reason` is "stop" (EOS or a stop string) or "length" (hit max_tokens)."""

    text: str
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Attentions:
    """Attention weights of one forward pass (transformers engine only).

    `weights` has shape ``[layers, heads, rows, seq]``: attention from the selected query positions (`rows`,
    default all) to every position. `offsets[i]` is the character span ``(start, end)`` of token i in `text`,
    so a method can map passage character ranges to token positions.
    """

    text: str
    token_ids: list[int]
    offsets: list[tuple[int, int]]
    rows: list[int]
    layers: list[int]
    weights: Any  # numpy.ndarray, float32

    def token_span(self, start: int, end: int) -> list[int]:
        """Token positions whose character span overlaps text[start:end]."""
        return [i for i, (a, b) in enumerate(self.offsets) if a < end and b > start and b > a]


@dataclass(frozen=True)
class QueryAttention:
    """The attention a prompt's query rows pay to each of its tokens (transformers engine only).

    `scores[j]` is the attention from the rows (token positions `rows`, the query at the end of the prompt) to
    token j: mean over the rows, summed over all layers and heads. `reused_tokens` is how many leading tokens came
    from the key/value cache of an earlier prompt of the same call instead of being recomputed.
    """

    text: str
    token_ids: list[int]
    offsets: list[tuple[int, int]]
    rows: list[int]
    scores: Any  # numpy.ndarray [seq], float64
    reused_tokens: int = 0

    def token_span(self, start: int, end: int) -> list[int]:
        """Token positions whose character span overlaps text[start:end]."""
        return [i for i, (a, b) in enumerate(self.offsets) if a < end and b > start and b > a]


class Engine(ABC):
    """A loaded model behind one interface. Subclasses set `capabilities` and implement what they declare."""

    name: str = "engine"
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, model: str, context_length: int | None = None) -> None:
        self.model = model  # the resolved id or path
        self._context_length = context_length

    # ---- capabilities --------------------------------------------------------------------------------------
    def supports(self, *caps: Capability) -> bool:
        return all(Capability(c) in self.capabilities for c in caps)

    def require(self, *caps: Capability | str, method: str = "this method") -> None:
        """Raise CapabilityError unless this engine has every capability in `caps`."""
        for c in caps:
            cap = Capability(c)
            if cap not in self.capabilities:
                others = ", ".join(ENGINES_WITH.get(cap, ())) or "none"
                have = ", ".join(sorted(x.value for x in self.capabilities)) or "nothing"
                raise CapabilityError(
                    f"{method} needs the {cap.value!r} capability, which the {self.name!r} engine "
                    f"(model {self.model}) does not offer (it offers: {have}); engines that do: {others}")

    progress: bool = False
    """Show a progress bar that moves per batch (or per request) during long calls; engines without batches ignore it.
    Set by whoever runs the engine for a user at a terminal (see `rerankit.progress.engine_progress`)."""

    # ---- text and tokens -----------------------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        """The longest prompt + completion the model takes, in tokens."""
        return int(self._context_length or 2048)

    @abstractmethod
    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for `prompt` (chat messages rendered with the model's template)."""

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` (no special tokens added)."""

    @abstractmethod
    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of token ids."""

    def count_tokens(self, text: str) -> int:
        """Number of tokens in `text` (no special tokens added)."""
        return len(self.tokenize(text))

    def input_length(self, text: str) -> int:
        """Tokens the model reads for rendered `text`: a BOS the engine adds is counted (as ``tokenizer.encode``)."""
        ids = self.tokenize(text)
        bos = getattr(self, "_bos", None)
        return len(ids) + int(bos is not None and (not ids or ids[0] != bos))

    def truncate(self, text: str, max_tokens: int) -> tuple[str, bool]:
        """Cut `text` to at most `max_tokens` tokens; returns (text, whether it was cut)."""
        if max_tokens < 0:
            raise InputError(f"max_tokens must be >= 0, got {max_tokens}")
        ids = self.tokenize(text)
        if len(ids) <= max_tokens:
            return text, False
        return self.detokenize(ids[:max_tokens]), True

    def check_fits(self, prompts: Sequence[Prompt], reserve: int = 0) -> list[int]:
        """Token lengths of rendered prompts; InputError naming the first that leaves < `reserve` tokens free."""
        lengths = [self.count_tokens(self.render(p)) for p in prompts]
        for i, n in enumerate(lengths):
            if n + reserve > self.context_length:
                raise InputError(
                    f"prompt {i} is {n} tokens, which with {reserve} tokens to generate exceeds the context "
                    f"length of {self.model} ({self.context_length}); truncate the passages (e.g. the "
                    f"reranker's max_passage_tokens option) or use a model with a longer context")
        return lengths

    # ---- model calls -------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        """Complete every prompt (batched); one Generation per prompt, in order."""
        self.require(Capability.GENERATE, method="generate()")
        raise NotImplementedError

    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        """For each prompt, log P(first token of each candidate) at the next position (log-softmax, full vocab)."""
        self.require(Capability.LOGPROBS, method="next_token_logprobs()")
        raise NotImplementedError

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        """One vector per text, shape [len(texts), dim]; L2-normalised unless `normalize` is False."""
        self.require(Capability.EMBED, method="embed()")
        raise NotImplementedError

    def forward_attentions(self, text: str, rows: Sequence[int] | None = None,
                           layers: Sequence[int] | None = None) -> Attentions:
        """Attention weights of one forward pass over raw `text` (see :class:`Attentions`)."""
        self.require(Capability.ATTENTION, method="forward_attentions()")
        raise NotImplementedError

    def query_attention(self, texts: Sequence[str], query_starts: Sequence[int]) -> list[QueryAttention]:
        """For each raw text, the attention its query rows (the tokens from character `query_starts[i]` to the end)
        pay to every token (see :class:`QueryAttention`). Texts that share leading tokens reuse the first text's
        key/value cache."""
        self.require(Capability.ATTENTION, method="query_attention()")
        raise NotImplementedError

    # ---- helpers shared by implementations ---------------------------------------------------------------
    @staticmethod
    def _check_candidates(candidates: Sequence[str]) -> list[str]:
        if isinstance(candidates, str) or not candidates:
            raise InputError("next_token_logprobs needs a non-empty list of candidate strings, e.g. ['yes', 'no']")
        if any(not isinstance(c, str) or c == "" for c in candidates):
            raise InputError(f"candidates must be non-empty strings, got {list(candidates)!r}")
        return list(candidates)

    def config(self) -> dict[str, Any]:
        """What determines this engine's outputs (part of a reranker's cache key)."""
        return {"engine": self.name, "model": str(self.model)}

    def close(self) -> None:
        """Release the model (GPU memory, server connections). The engine cannot be used afterwards."""
        return None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

