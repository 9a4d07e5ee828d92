"""Text embedders for embedding-based methods (E²Rank, DQ-LoRe): a sentence-transformers model or an engine's embed.

:func:`make_embedder` picks sentence-transformers for a model folder or id that carries a sentence-transformers
configuration (``modules.json``) and no engine was named; otherwise the named engine (default: transformers,
last-token pooling) embeds with a decoder model, as E²Rank's own checkpoints need.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.engines import Capability, Engine, get_engine
from rerankit.errors import ConfigError, InputError, MissingDependencyError

__all__ = ["Embedder", "SentenceTransformerEmbedder", "EngineEmbedder", "make_embedder"]

log = logging.getLogger(__name__)


class Embedder:
    """L2-normalised embeddings plus the token helpers a prompt builder needs."""

    kind = "embedder"
    model: str = ""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    @property
    def max_tokens(self) -> int:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    def truncate(self, text: str, max_tokens: int) -> str:
        raise NotImplementedError

    def render_chat(self, content: str) -> str:
        """The text to embed for a one-turn chat prompt (models without a chat template get `content`)."""
        return content

    @property
    def eos(self) -> str:
        """Text appended to documents before last-token pooling (empty where pooling needs none)."""
        return ""

    def config(self) -> dict[str, Any]:
        return {"embedder": self.kind, "model": str(self.model)}


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers bi-encoder (its own pooling; inputs cut at its max_seq_length).

    `backend` ``onnx``/``openvino`` runs its transformer there (exported and cached on first use); `quantize`
    ``int8`` with onnx.
    """

    kind = "sentence-transformers"

    def __init__(self, model: str, device: str | None = None, batch_size: int = 32, progress: bool = False,
                 backend: str = "torch", quantize: str | None = None) -> None:
        from rerankit.engines.exported import check_backend

        check_backend(backend, quantize, "a sentence-transformers embedder")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers", "dense", "a sentence-transformers embedder") \
                from exc
        from rerankit.engines.models import model_load_error, resolve_model

        path = resolve_model(model)
        try:
            self.st = SentenceTransformer(str(path), device=device)
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        if backend != "torch":
            from rerankit.engines.exported import export_sentence_transformer

            export_sentence_transformer(self.st, path, backend, quantize)
        self.model = str(path)
        self.batch_size = batch_size
        self.progress = progress

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.st.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        out = self.st.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=self.progress)
        return np.asarray(out, dtype=np.float32)

    @property
    def max_tokens(self) -> int:
        return int(self.st.max_seq_length or 512) - 2  # [CLS] and [SEP]

    def _ids(self, text: str) -> list[int]:
        return list(self.st.tokenizer(text, add_special_tokens=False, verbose=False).input_ids)

    def count_tokens(self, text: str) -> int:
        return len(self._ids(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self._ids(text)
        return text if len(ids) <= max_tokens else self.st.tokenizer.decode(ids[:max(0, max_tokens)])


class EngineEmbedder(Embedder):
    """Embeddings from an engine's ``embed`` (pooled hidden states of a decoder embedding model)."""

    kind = "engine"

    def __init__(self, engine: Engine) -> None:
        engine.require(Capability.EMBED, method="an embedding reranker")
        self.engine = engine
        self.model = str(engine.model)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.engine.embed(list(texts), normalize=True), dtype=np.float32)

    @property
    def max_tokens(self) -> int:
        return self.engine.context_length

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        return self.engine.truncate(text, max_tokens)[0]

    def render_chat(self, content: str) -> str:
        messages = [{"role": "user", "content": content}]
        tok = getattr(self.engine, "tokenizer", None)
        if tok is not None and getattr(tok, "chat_template", None):
            # E²Rank's Qwen3 base renders with thinking disabled; other templates ignore the extra variable.
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=False)
        return self.engine.render(messages)

    @property
    def eos(self) -> str:
        tok = getattr(self.engine, "tokenizer", None)
        return str(getattr(tok, "eos_token", "") or "")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "engine": self.engine.config()}


def _is_sentence_transformer(model: str) -> bool:
    from rerankit.engines.models import resolve_model

    try:
        path = Path(resolve_model(model))
    except Exception:  # unresolvable here: let the chosen backend raise its own clear error
        return False
    return (path / "modules.json").is_file() or (path / "config_sentence_transformers.json").is_file()


def make_embedder(model: str | None, engine: str | Engine | None = None,
                  engine_options: Mapping[str, Any] | None = None, batch_size: int = 32,
                  progress: bool = False) -> Embedder:
    """A sentence-transformers embedder when `engine` is None and `model` is one; else the engine's embed."""
    if isinstance(engine, Engine):
        return EngineEmbedder(engine)
    if not model or not isinstance(model, str):
        raise ConfigError("an embedding method needs a model (a Hugging Face id or a local path)")
    opts = dict(engine_options or {})
    if engine is None or str(engine).lower() in ("sentence-transformers", "st"):
        if engine is not None or _is_sentence_transformer(model):
            return SentenceTransformerEmbedder(model, device=opts.get("device"), batch_size=batch_size,
                                               progress=progress, backend=opts.get("backend", "torch"),
                                               quantize=opts.get("quantize"))
        engine = "transformers"
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    if str(engine).lower() in ("transformers", "hf", "huggingface"):
        opts.setdefault("pooling", "last")
        opts.setdefault("batch_size", min(batch_size, 16))
    log.info("embedding with the %s engine (%s)", engine, model)
    return EngineEmbedder(get_engine(engine, model, **opts))
