"""Model resolution: a local path, a name from the local model folder, or a Hugging Face id.

Order: an existing path; a name listed in ``$RERANKIT_MODELS/manifest.json`` (or a folder of that name there); a
Hugging Face id already in the local hub cache; a Hugging Face id to download (unless offline). When none works,
:class:`~rerankit.errors.ModelNotFoundError` says every place that was looked at.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from rerankit.errors import ModelNotFoundError

__all__ = ["models_root", "resolve_model", "resolve_gguf", "is_offline", "model_load_error", "local_models"]

log = logging.getLogger(__name__)

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def models_root() -> Path:
    """``$RERANKIT_MODELS``, else ``~/.cache/rerankit-models``: a folder of plain model folders."""
    return Path(os.environ.get("RERANKIT_MODELS", Path.home() / ".cache" / "rerankit-models"))


def is_offline() -> bool:
    """True when the Hugging Face hub must not be contacted (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE",
                                                                                     "TRANSFORMERS_OFFLINE"))


def local_models() -> dict[str, dict]:
    """Entries of ``manifest.json`` in :func:`models_root` (name -> {path, gguf, ...}); empty when absent."""
    manifest = models_root() / "manifest.json"
    if not manifest.exists():
        return {}
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", manifest, exc)
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _local(name: str) -> tuple[Path | None, dict]:
    entry = local_models().get(name, {})
    if entry.get("path") and Path(entry["path"]).exists():
        return Path(entry["path"]), entry
    folder = models_root() / name
    return (folder if folder.is_dir() else None), entry


def _hub_cache(model_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError) or a malformed id
        return None


def _looked(name: str) -> list[str]:
    places = [f"the path {Path(name).expanduser()}", f"{models_root() / 'manifest.json'} and {models_root() / name}"]
    if _HF_ID.match(name):
        places.append("the Hugging Face cache (" + os.environ.get("HF_HOME", "~/.cache/huggingface") + ")")
    return places


def resolve_model(name: str) -> str:
    """A loadable model reference for `name`: an absolute local path, or a Hugging Face id to download."""
    if not isinstance(name, str) or not name.strip():
        raise ModelNotFoundError(f"a model must be a Hugging Face id or a local path, got {name!r}")
    name = name.strip()
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    local, _ = _local(name)
    if local is not None:
        return str(local)
    if not _HF_ID.match(name):
        raise ModelNotFoundError(f"model {name!r} not found: it is not an existing path nor a Hugging Face id "
                                 f"(org/name); looked at {'; '.join(_looked(name))}")
    cached = _hub_cache(name)
    if cached is not None:
        return str(cached)
    if is_offline():
        raise ModelNotFoundError(f"model {name!r} is not available offline (HF_HUB_OFFLINE is set); looked at "
                                 f"{'; '.join(_looked(name))}. Download it when online or pass a local path.")
    return name  # let the loader download it


def resolve_gguf(name: str) -> str:
    """Path of a GGUF file for `name`: a .gguf file, a folder holding one, or a local model with a 'gguf' entry."""
    path = Path(name).expanduser()
    if path.is_file():
        return str(path.resolve())
    folder = path if path.is_dir() else None
    if folder is None:
        folder, entry = _local(name)
        if entry.get("gguf") and Path(entry["gguf"]).is_file():
            return str(Path(entry["gguf"]))
    if folder is not None:
        found = sorted(folder.glob("*.gguf"))
        if found:
            return str(found[0])
        raise ModelNotFoundError(f"no .gguf file in {folder}: the llamacpp engine needs a GGUF model file")
    raise ModelNotFoundError(f"GGUF model {name!r} not found; looked at {'; '.join(_looked(name)[:2])}. "
                             "Pass a .gguf file path or a folder that holds one.")


def model_load_error(name: str, exc: BaseException) -> ModelNotFoundError:
    """Wrap a loader's failure (no network, missing files) in a ModelNotFoundError that says where it looked."""
    return ModelNotFoundError(f"cannot load model {name!r}: {type(exc).__name__}: {str(exc)[:300]}; looked at "
                              f"{'; '.join(_looked(name))}; offline={is_offline()}")
