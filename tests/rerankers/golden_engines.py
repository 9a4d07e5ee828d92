"""Engines for golden tests: a packaged tokenizer without its weights, and a replay of fixed completions.

Golden tests compare the prompts and parses rerankit builds with the ones the reference code built on the same
inputs; the model's weights play no part in that, so these engines carry only what the prompt code reads (a real
tokenizer and its chat template) or replay the completions the reference was given.
"""

from __future__ import annotations

from collections.abc import Sequence

from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt
from rerankit.engines.hf import HFTokenizerText


class TokenizerEngine(HFTokenizerText, Engine):
    """A packaged model's real tokenizer (optionally with another chat template); generation is not available."""

    name = "tokenizer-only"
    capabilities = frozenset({Capability.GENERATE, Capability.LOGPROBS})

    def __init__(self, path: str, chat_template: str | None = None, context_length: int = 131072) -> None:
        from transformers import AutoTokenizer

        super().__init__(str(path), context_length)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        if chat_template is not None:
            self.tokenizer.chat_template = chat_template
        bos = self.tokenizer.bos_token_id
        probe = self.tokenizer("a").input_ids
        self._bos = bos if bos is not None and probe and probe[0] == bos else None


class ReplayEngine(Engine):
    """Answers each prompt with the next of `completions` (in call order) and records the prompts."""

    name = "replay"
    capabilities = frozenset({Capability.GENERATE})

    def __init__(self, completions: Sequence[str]) -> None:
        super().__init__("replay", 131072)
        self.completions, self.prompts = list(completions), []

    def render(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)

    def tokenize(self, text: str) -> list[int]:
        raise NotImplementedError("the replay engine has no tokenizer")

    def detokenize(self, ids: Sequence[int]) -> str:
        raise NotImplementedError("the replay engine has no tokenizer")

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        out = []
        for p in prompts:
            out.append(Generation(self.completions[len(self.prompts) % len(self.completions)], "stop"))
            self.prompts.append(p)
        return out
