"""monoT5 and duoT5 (Nogueira et al., 2020; Pradeep et al., 2021): a seq2seq model reads the pair (or the two
passages) and the first decoder step's "true"/"false" logits give the score.

Reference: castorini/pygaggle @ 08339dd3 (pygaggle/rerank/transformer.py ``MonoT5``/``DuoT5``, model/tokenize.py
``T5BatchTokenizer``/``T5DuoBatchTokenizer``, model/decode.py ``greedy_decode``): the prompt string tokenized with
truncation to 512 tokens (the whole string, so a long passage can push "Relevant:" out, as there), one decoder step
from ``decoder_start_token_id``, monoT5 score = log_softmax over (false, true) at "true"; duoT5: every ordered pair
(``itertools.permutations``) gets p = softmax(false, true)[true], and each passage's score is the sum over its pairs
of p as Document0 plus 1 - p as Document1 (pygaggle's sym-sum).

Engines: transformers only. vLLM 0.32 registers no T5 (encoder-decoder text) architecture (its encoder-decoder
support is Whisper, and BART through an out-of-tree plugin), so ``engine="vllm"`` is a ConfigError.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from itertools import permutations
from typing import Any

from tqdm.auto import tqdm

from rerankit.engines.models import model_load_error, resolve_model
from rerankit.errors import ConfigError, InputError, MissingDependencyError
from rerankit.rerankers.base import Reranker
from rerankit.rerankers.templates import load_template
from rerankit.types import Ranking

__all__ = ["T5Scorer", "MonoT5Reranker", "DuoT5Reranker"]

log = logging.getLogger(__name__)

_TRANSFORMERS = (None, "auto", "transformers", "hf", "huggingface")


def _check_engine(engine: Any, method: str) -> None:
    if engine == "vllm":
        raise ConfigError(f"{method} needs an encoder-decoder (T5) model, which vLLM 0.32 does not run (its registry "
                          "has no T5ForConditionalGeneration); use engine='transformers'")
    if engine not in _TRANSFORMERS:
        raise ConfigError(f"{method} runs its T5 model with transformers; engine {engine!r} is not supported "
                          "(use engine='transformers')")


class T5Scorer:
    """A T5 checkpoint and its tokenizer: the first decoder step's log-softmax over two answer tokens."""

    def __init__(self, model: str, token_false: str, token_true: str, batch_size: int = 8, max_length: int = 512,
                 device: str = "auto", dtype: str = "auto", progress: bool = True) -> None:
        if batch_size < 1 or max_length < 8:
            raise InputError(f"batch_size must be >= 1 and max_length >= 8, got {batch_size} and {max_length}")
        try:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("transformers", "llm", "the T5 rerankers") from exc
        path = resolve_model(model)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            dtype = "float32"  # T5 overflows in float16; bfloat16 is an explicit choice
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ConfigError(f"dtype must be a torch dtype name such as float32 or bfloat16, got {dtype!r}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch_dtype)
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        if not getattr(self.model.config, "is_encoder_decoder", False):
            raise ConfigError(f"{model} is not an encoder-decoder (T5) model; monoT5/duoT5 need one")
        self.model.to(self.device).eval()
        vocab = self.tokenizer.get_vocab()
        missing = [t for t in (token_false, token_true) if t not in vocab]
        if missing:
            raise ConfigError(f"the tokenizer of {model} has no token(s) {missing}: give token_false/token_true as "
                              "they appear in its vocabulary (monoT5 checkpoints: '▁false', '▁true')")
        self.ids = (vocab[token_false], vocab[token_true])
        self.path, self.batch_size, self.max_length, self.progress = path, batch_size, max_length, progress

    def logprobs(self, texts: list[str], desc: str = "t5") -> list[tuple[float, float]]:
        """(log P(false), log P(true)) renormalised over the two tokens, per text, in order."""
        import torch

        out: list[tuple[float, float]] = []
        start = self.model.config.decoder_start_token_id
        for s in tqdm(range(0, len(texts), self.batch_size), desc=desc, leave=False,
                      disable=not self.progress or len(texts) <= self.batch_size):
            enc = self.tokenizer(texts[s:s + self.batch_size], padding="longest", truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            dec = torch.full((enc["input_ids"].shape[0], 1), start, dtype=torch.long, device=self.device)
            with torch.no_grad():
                logits = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                    decoder_input_ids=dec).logits[:, 0, list(self.ids)].float()
            out.extend((float(a), float(b)) for a, b in torch.log_softmax(logits, dim=1).cpu().tolist())
        return out

    def config(self) -> dict:
        return {"model": self.path, "tokens": list(self.ids), "max_length": self.max_length}


def _scorer(model: str | None, method: str, engine: Any, engine_options: Mapping[str, Any] | None,
            token_false: str, token_true: str, batch_size: int, max_length: int, progress: bool) -> T5Scorer:
    _check_engine(engine, method)
    if not model:
        raise ConfigError(f"{method} needs a model (a Hugging Face id or a local path)")
    opts = dict(engine_options or {})
    unknown = sorted(set(opts) - {"device", "dtype"})
    if unknown:
        raise ConfigError(f"{method} engine_options take device and dtype only, got {unknown}")
    return T5Scorer(model, token_false, token_true, batch_size=batch_size, max_length=max_length,
                    progress=progress, **opts)


class MonoT5Reranker(Reranker):
    """monoT5: score = log P("true") over {"false", "true"} for "Query: q Document: d Relevant:" (pygaggle's)."""

    name = "monot5"
    shares_engine = False  # it loads its own seq2seq model: pipeline specs must not hand it a causal-LM engine

    def __init__(self, model: str | None = "castorini/monot5-base-msmarco", engine: str | None = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "monot5",
                 depth: int | None = None, batch_size: int = 8, max_length: int = 512,
                 token_false: str = "▁false", token_true: str = "▁true", progress: bool = True) -> None:
        super().__init__(depth)
        self.template = load_template(template)
        if self.template.format != "raw":
            raise ConfigError(f"monot5 template {self.template.name!r} must be a raw template")
        self.scorer = _scorer(model, "the monot5 reranker", engine, engine_options, token_false, token_true,
                              batch_size, max_length, progress)

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        texts = [str(self.template.fill(query=r.query.text, document=h.doc.full_text)) for r in rankings
                 for h in r.hits]
        lps = self.scorer.logprobs(texts, "monot5")
        out, k = [], 0
        for r in rankings:
            n = len(r.hits)
            scores = [t for _, t in lps[k:k + n]]
            out.append(r.sorted_by(scores, reranker=self.name))
            k += n
        return out

    def config(self) -> dict:
        return {**super().config(), **self.scorer.config(), "template": self.template.template}


class DuoT5Reranker(Reranker):
    """duoT5 over the top `depth` (50, as in the mono-duo pipeline): all ordered pairs, sym-sum aggregation."""

    name = "duot5"
    shares_engine = False

    def __init__(self, model: str | None = "castorini/duot5-base-msmarco", engine: str | None = "auto",
                 engine_options: Mapping[str, Any] | None = None, template: str = "duot5",
                 depth: int | None = 50, batch_size: int = 8, max_length: int = 512,
                 token_false: str = "▁false", token_true: str = "▁true", progress: bool = True) -> None:
        super().__init__(depth)
        self.template = load_template(template)
        if self.template.format != "raw":
            raise ConfigError(f"duot5 template {self.template.name!r} must be a raw template")
        self.scorer = _scorer(model, "the duot5 reranker", engine, engine_options, token_false, token_true,
                              batch_size, max_length, progress)

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Ranking]:
        pairs = [list(permutations(range(len(r.hits)), 2)) for r in rankings]
        texts = [str(self.template.fill(query=r.query.text, document0=r.hits[a].doc.full_text,
                                        document1=r.hits[b].doc.full_text))
                 for r, ps in zip(rankings, pairs) for a, b in ps]
        n_pairs = sum(len(p) for p in pairs)
        if n_pairs > 5000:
            log.info("duot5: %d ordered pairs to score (depth %s): n(n-1) per query", n_pairs, self.depth)
        lps = self.scorer.logprobs(texts, "duot5")
        out, k = [], 0
        for r, ps in zip(rankings, pairs):
            scores = [0.0] * len(r.hits)
            for (a, b), (_, t) in zip(ps, lps[k:k + len(ps)]):
                p = math.exp(t)
                scores[a] += p
                scores[b] += 1 - p
            out.append(r.sorted_by(scores, reranker=self.name, pairs=len(ps)))
            k += len(ps)
        return out

    def config(self) -> dict:
        return {**super().config(), **self.scorer.config(), "template": self.template.template}
