"""An engine that renders prompts with a real Hugging Face tokenizer and answers with recorded model outputs.

Golden tests feed the reference implementation and rerankit the same model outputs, so that prompts, parsing and
scoring can be compared exactly; the model itself is exercised by the end-to-end tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt, check_prompts
from rerankit.engines.hf import HFTokenizerText


@lru_cache(maxsize=4)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def hash_vector(text: str, dim: int = 64) -> np.ndarray:
    """A unit vector determined by `text` alone (a stand-in embedding shared by a reference run and rerankit)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


class ReplayEngine(HFTokenizerText, Engine):
    name = "replay"
    capabilities = frozenset({Capability.GENERATE, Capability.LOGPROBS, Capability.EMBED})

    def __init__(self, tokenizer_path: str, outputs: Sequence[str], finish: Sequence[str] | None = None,
                 logprobs: Mapping[str, Sequence[float]] | None = None) -> None:
        super().__init__(str(tokenizer_path), context_length=32768)
        self.tokenizer = _tokenizer(str(tokenizer_path))  # shared: the tests only read it
        self.outputs = list(outputs)
        self.finish = list(finish) if finish is not None else ["stop"] * len(self.outputs)
        self.logprobs = dict(logprobs or {})
        self.scored: list[str] = []
        self.embedded: list[str] = []
        self.rendered: list[str] = []
        self.params: list[GenerationParams] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        prompts = check_prompts(prompts)
        if len(prompts) > len(self.outputs):
            raise AssertionError(f"{len(prompts)} prompts but only {len(self.outputs)} recorded outputs left")
        self.rendered.extend(self.render(p) for p in prompts)
        self.params.append(params or GenerationParams())
        out, self.outputs = self.outputs[:len(prompts)], self.outputs[len(prompts):]
        fin, self.finish = self.finish[:len(prompts)], self.finish[len(prompts):]
        return [Generation(t, f, 0, len(self.tokenize(t))) for t, f in zip(out, fin)]  # type: ignore[arg-type]

    def next_token_logprobs(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        """The recorded log-probabilities of `candidates` after each rendered prompt (KeyError if unrecorded)."""
        out = []
        for p in check_prompts(prompts):
            text = self.render(p)
            self.scored.append(text)
            if text not in self.logprobs:
                raise AssertionError(f"no recorded log-probabilities after this text:\n{text[-300:]!r}")
            out.append(dict(zip(candidates, self.logprobs[text])))
        return out

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        """Hash vectors of `texts` (see :func:`hash_vector`), recording what was embedded."""
        self.embedded.extend(texts)
        return np.stack([hash_vector(t) for t in texts])
