"""Token embeddings for late interaction: a transformers encoder, ColBERT's projection, PyLate's query/document rules.

A ColBERT checkpoint is read as PyLate reads it: ``config_sentence_transformers.json`` gives ``query_prefix`` /
``document_prefix`` (one token inserted after ``[CLS]``), ``query_length`` / ``document_length`` (token budgets,
the prefix included), ``do_query_expansion`` (queries padded to ``query_length`` with ``[MASK]``, every position
kept), ``attend_to_expansion_tokens`` and ``skiplist_words`` (punctuation dropped from documents); the linear
projection is the PyLate ``Dense`` module listed in ``modules.json``. A Stanford ColBERT checkpoint (architecture
``HF_ColBERT``) has its projection as ``linear.weight`` in the model file and ``[unused0]``/``[unused1]`` prefixes.
Every token vector is L2-normalised.

A plain encoder without any ColBERT configuration (e.g. a sentence-transformers bi-encoder such as
all-MiniLM-L6-v2) is used as it is: its last hidden states, no prefixes, no expansion, no projection, nothing
skipped, cut at its ``max_seq_length``. Its token vectors were never trained for MaxSim, which is logged.

PyLate itself (``pylate.models.ColBERT``) is not used to load or encode: PyLate 1.6 needs sentence-transformers
5.3 and cannot build or encode a model under sentence-transformers 6 (see docs/rerankers.md).
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.engines.models import model_load_error, resolve_model
from rerankit.errors import ConfigError, MissingDependencyError

__all__ = ["ColBERTSettings", "TokenEncoder"]

log = logging.getLogger(__name__)

_PYLATE_DENSE = "pylate.models.Dense.Dense"


@dataclass(frozen=True)
class ColBERTSettings:
    """How queries and documents are tokenised and which token vectors are kept (PyLate's option names)."""

    query_prefix: str = ""
    document_prefix: str = ""
    query_length: int = 512
    document_length: int = 512
    do_query_expansion: bool = False
    attend_to_expansion_tokens: bool = False
    skiplist_words: tuple[str, ...] = field(default_factory=tuple)
    colbert: bool = False  # the checkpoint carries a ColBERT configuration (else: a plain encoder)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def checkpoint_settings(folder: Path) -> tuple[ColBERTSettings, Path | None, bool]:
    """The checkpoint's settings, the file of its projection (None: no projection), and whether it is Stanford's."""
    st_config = _read_json(folder / "config_sentence_transformers.json")
    config = _read_json(folder / "config.json")
    stanford = (config.get("architectures") or [None])[0] == "HF_ColBERT"
    dense: Path | None = None
    modules = json.loads((folder / "modules.json").read_text()) if (folder / "modules.json").is_file() else []
    for module in modules:
        if module.get("type") == _PYLATE_DENSE:
            sub = folder / module.get("path", "")
            dense = next((p for p in (sub / "model.safetensors", sub / "pytorch_model.bin") if p.is_file()), None)
            if dense is None:
                raise ConfigError(f"{folder}: the PyLate Dense module {module.get('path')!r} has no weights file")
    colbert = stanford or dense is not None or "query_prefix" in st_config
    max_seq = int(_read_json(folder / "sentence_bert_config.json").get("max_seq_length") or 512)
    if not colbert:
        return ColBERTSettings(query_length=max_seq, document_length=max_seq), None, False
    if stanford:
        meta = _read_json(folder / "artifact.metadata")
        settings = ColBERTSettings(
            query_prefix=str(meta.get("query_token_id", "[unused0]")),
            document_prefix=str(meta.get("doc_token_id", "[unused1]")),
            query_length=int(meta.get("query_maxlen", 32)), document_length=int(meta.get("doc_maxlen", 180)),
            do_query_expansion=True, attend_to_expansion_tokens=bool(meta.get("attend_to_mask_tokens", False)),
            skiplist_words=tuple(string.punctuation), colbert=True)
        return settings, folder / "model.safetensors", True
    settings = ColBERTSettings(
        query_prefix=str(st_config.get("query_prefix", "[Q] ")),
        document_prefix=str(st_config.get("document_prefix", "[D] ")),
        query_length=int(st_config.get("query_length", 32)),
        document_length=int(st_config.get("document_length", 180)),
        do_query_expansion=bool(st_config.get("do_query_expansion", True)),
        attend_to_expansion_tokens=bool(st_config.get("attend_to_expansion_tokens", False)),
        skiplist_words=tuple(st_config.get("skiplist_words", list(string.punctuation))), colbert=True)
    return settings, dense, False


class TokenEncoder:
    """Encodes queries and documents to arrays of L2-normalised token vectors (``[tokens, dim]`` float32)."""

    def __init__(self, model: str, device: str = "auto", batch_size: int = 32, **overrides: Any) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("transformers", "llm", "the multivector reranker") from exc
        path = resolve_model(model)
        folder = Path(path)
        if not folder.is_dir():  # a Hugging Face id: fetch the whole checkpoint (config files and projection)
            from huggingface_hub import snapshot_download

            try:
                folder = Path(snapshot_download(path))
            except Exception as exc:
                raise model_load_error(model, exc) from exc
        settings, projection_file, stanford = checkpoint_settings(folder)
        allowed = set(ColBERTSettings.__dataclass_fields__) - {"colbert"}
        unknown = set(overrides) - allowed
        if unknown:
            raise ConfigError(f"unknown token-encoder options {sorted(unknown)}; allowed: {sorted(allowed)}")
        given = {k: (tuple(v) if k == "skiplist_words" else v) for k, v in overrides.items() if v is not None}
        self.settings = ColBERTSettings(**{**settings.as_dict(), **given})
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.batch_size = batch_size
        self.folder = folder
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.model = AutoModel.from_pretrained(folder).to(self.device).eval()
        except OSError as exc:
            raise model_load_error(model, exc) from exc
        self.projection = _load_projection(projection_file, stanford) if projection_file else None
        if self.projection is not None:
            self.projection = self.projection.to(self.device)
        s = self.settings
        if not s.colbert:
            log.warning("multivector: %s has no ColBERT configuration or projection: its raw token embeddings are "
                        "used for MaxSim (not trained for late interaction)", model)
        self._query_prefix_id = self._prefix_id(s.query_prefix)
        self._doc_prefix_id = self._prefix_id(s.document_prefix)
        if s.do_query_expansion:  # as PyLate: pad with [MASK], which a ColBERT query reads as expansion slots
            if self.tokenizer.mask_token_id is None:
                raise ConfigError(f"{model}: query expansion needs a [MASK] token; pass do_query_expansion=False")
            self.tokenizer.pad_token_id = self.tokenizer.mask_token_id
        self._skip_ids = {i for i in self.tokenizer.convert_tokens_to_ids(list(s.skiplist_words))
                          if i is not None and i != self.tokenizer.unk_token_id}

    def _prefix_id(self, prefix: str) -> int | None:
        if not prefix:
            return None
        token_id = self.tokenizer.convert_tokens_to_ids(prefix)  # PyLate adds "[Q] " / "[D] " as tokens
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            token_id = self.tokenizer.convert_tokens_to_ids(prefix.strip())
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise ConfigError(f"the prefix {prefix!r} is not a token of {self.folder.name}'s tokenizer (a ColBERT "
                              "checkpoint adds it to its vocabulary); pass query_prefix=''/document_prefix='' to "
                              "use none")
        return int(token_id)

    @property
    def dim(self) -> int:
        if self.projection is not None:
            return int(self.projection.weight.shape[0])
        return int(self.model.config.hidden_size)

    def config(self) -> dict[str, Any]:
        """What the vectors depend on (with the model files' fingerprint, part of cache keys)."""
        from rerankit.fingerprint import files_fingerprint

        return {"model_files": files_fingerprint([self.folder]), "settings": self.settings.as_dict(),
                "projection": self.projection is not None}

    def encode(self, texts: Sequence[str], is_query: bool) -> list[np.ndarray]:
        """Token vectors of each text, in order (sorted by length internally for little padding)."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[np.ndarray | None] = [None] * len(texts)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            for i, vectors in zip(idx, self._encode_batch([texts[i] for i in idx], is_query)):
                out[i] = vectors
        return [v for v in out if v is not None]

    def _encode_batch(self, texts: list[str], is_query: bool) -> list[np.ndarray]:
        import torch

        s = self.settings
        prefix_id = self._query_prefix_id if is_query else self._doc_prefix_id
        length = s.query_length if is_query else s.document_length
        budget = length - 1 if prefix_id is not None else length
        expand = is_query and s.do_query_expansion
        batch = self.tokenizer(texts, truncation=True, max_length=budget, return_tensors="pt",
                               padding="max_length" if expand else True)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if prefix_id is not None:
            ids = torch.cat([ids[:, :1], torch.full_like(ids[:, :1], prefix_id), ids[:, 1:]], dim=1)
            mask = torch.cat([mask[:, :1], torch.ones_like(mask[:, :1]), mask[:, 1:]], dim=1)
        attend = torch.ones_like(mask) if expand and s.attend_to_expansion_tokens else mask
        inputs = {"input_ids": ids.to(self.device), "attention_mask": attend.to(self.device)}
        if "token_type_ids" in batch:
            inputs["token_type_ids"] = torch.zeros_like(ids).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state
            if self.projection is not None:
                hidden = self.projection(hidden)
            hidden = torch.nn.functional.normalize(hidden.float(), p=2, dim=-1)
        if expand:
            keep = torch.ones_like(mask, dtype=torch.bool)
        else:
            keep = mask.bool()
            if not is_query and self._skip_ids:
                keep &= ~torch.isin(ids, torch.tensor(sorted(self._skip_ids), dtype=ids.dtype))
        return [hidden[i][keep[i].to(hidden.device)].cpu().numpy().astype(np.float32) for i in range(len(texts))]


def _load_projection(file: Path, stanford: bool) -> Any:
    """The linear projection (hidden -> ColBERT dim) of a PyLate Dense module or a Stanford checkpoint."""
    import torch

    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(file))
    else:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    weight = state.get("linear.weight")
    if weight is None:
        raise ConfigError(f"{file}: no 'linear.weight' (the ColBERT projection) in the "
                          f"{'Stanford checkpoint' if stanford else 'PyLate Dense module'}")
    bias = state.get("linear.bias")
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer.eval()
