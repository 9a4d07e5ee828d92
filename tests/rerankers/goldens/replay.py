"""An engine that renders prompts with a real Hugging Face tokenizer and answers with recorded model outputs.

Golden tests feed the reference implementation and rerankit the same model outputs, so that prompts, parsing and
scoring can be compared exactly; the model itself is exercised by the end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from rerankit.engines.base import Capability, Engine, Generation, GenerationParams, Prompt, check_prompts
from rerankit.engines.hf import HFTokenizerText


class ReplayEngine(HFTokenizerText, Engine):
    name = "replay"
    capabilities = frozenset({Capability.GENERATE})

    def __init__(self, tokenizer_path: str, outputs: Sequence[str]) -> None:
        from transformers import AutoTokenizer

        super().__init__(str(tokenizer_path))
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
        self.outputs = list(outputs)
        self.rendered: list[str] = []
        self.params: list[GenerationParams] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        prompts = check_prompts(prompts)
        if len(prompts) > len(self.outputs):
            raise AssertionError(f"{len(prompts)} prompts but only {len(self.outputs)} recorded outputs left")
        self.rendered.extend(self.render(p) for p in prompts)
        self.params.append(params or GenerationParams())
        out, self.outputs = self.outputs[:len(prompts)], self.outputs[len(prompts):]
        return [Generation(t, "stop") for t in out]
