"""LoRA adapters: a model reference that is a PEFT adapter loads as its base model plus the adapter.

A PEFT adapter is a folder (or a Hugging Face repository) holding ``adapter_config.json`` and adapter weights
instead of a full model; its config names the base model (``base_model_name_or_path``). Rank-R1's published
checkpoint (``ielabgroup/Rank-R1-7B-v0.1``) is one. Engines that can (transformers with ``peft``, vLLM with
``enable_lora`` and a ``LoRARequest``) call :func:`find_adapter` on the model they were given and load the base
from the adapter's config, or from the `base_model` option when the user overrides it (e.g. a local copy of the
base).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from rerankit.engines.models import is_offline, resolve_model
from rerankit.errors import ConfigError

__all__ = ["Adapter", "find_adapter", "lora_rank_limit"]

log = logging.getLogger(__name__)

_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class Adapter:
    """A PEFT adapter: its local folder, the base model to load it on (resolved), and its LoRA rank."""

    path: str
    base: str
    rank: int
    peft_type: str = "LORA"


def _adapter_folder(model: str) -> Path | None:
    """The local folder holding `model`'s adapter_config.json, fetching it from the hub when online."""
    path = Path(resolve_model(model))
    if path.is_dir():
        return path if (path / _CONFIG).is_file() else None
    if path.exists() or is_offline():  # a file (GGUF), or an id we may not download
        return None
    try:  # a Hugging Face id not in the cache: look for an adapter config before downloading a whole model
        from huggingface_hub import hf_hub_download, snapshot_download
        from huggingface_hub.utils import EntryNotFoundError
    except ImportError:
        return None
    try:
        hf_hub_download(str(path), _CONFIG)
    except EntryNotFoundError:
        return None
    except Exception as exc:  # no network, gated repo: let the model loader report it
        log.debug("no adapter config for %s: %s", model, exc)
        return None
    return Path(snapshot_download(str(path)))


def find_adapter(model: str, base_model: str | None = None) -> Adapter | None:
    """The adapter `model` is, or None when it is a full model. `base_model` overrides the adapter's base."""
    folder = _adapter_folder(model)
    if folder is None:
        if base_model:
            raise ConfigError(f"base_model={base_model!r} was given, but {model!r} is not a PEFT adapter (no "
                              f"{_CONFIG}); pass the adapter as the model, or drop base_model")
        return None
    try:
        cfg = json.loads((folder / _CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {folder / _CONFIG}: {exc}") from exc
    peft_type = str(cfg.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise ConfigError(f"{model!r} is a {peft_type} adapter; only LoRA adapters are supported")
    base = base_model or cfg.get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"{folder / _CONFIG} names no base_model_name_or_path; pass base_model=<id or path>")
    rank = int(cfg.get("r") or 0)
    resolved = resolve_model(str(base))
    log.info("%s is a LoRA adapter (rank %d) on base model %s", model, rank, resolved)
    return Adapter(str(folder), resolved, rank, peft_type)


def lora_rank_limit(rank: int) -> int:
    """The smallest LoRA rank limit vLLM accepts (max_lora_rank) that holds `rank`."""
    for r in (8, 16, 32, 64, 128, 256, 320, 512):
        if rank <= r:
            return r
    raise ConfigError(f"LoRA rank {rank} is above vLLM's largest max_lora_rank (512)")
