"""Which prompt a checkpoint was trained with, read from the model's own files (never from its name).

A shipped template may carry ``card_marker``: a sentence of the prompt its checkpoints document in their model card
(``README.md``). :func:`template_from_card` picks the template whose marker the card contains, when the model's
``config.json`` names the template's ``model_type``. A local model folder is read directly; a Hugging Face id is
looked up in the local cache, then on the Hub when online.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

__all__ = ["model_file", "template_from_card"]

log = logging.getLogger(__name__)


def model_file(model: str, name: str) -> Path | None:
    """A file of `model` (a local folder or a Hugging Face id) if it can be found without guessing; else None."""
    path = Path(str(model)).expanduser()
    if path.is_dir():
        f = path / name
        return f if f.is_file() else None
    if path.suffix or str(model).count("/") != 1:
        return None  # a single file (GGUF) or not a Hub id
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache

        cached = try_to_load_from_cache(str(model), name)
        if isinstance(cached, str):
            return Path(cached)
        return Path(hf_hub_download(str(model), name))
    except Exception as exc:  # offline, no such file, no huggingface_hub: the caller falls back
        log.debug("no %s for %s: %s", name, model, exc)
        return None


def template_from_card(model: str, candidates: dict[str, tuple[str, str]]) -> tuple[str | None, str]:
    """(template name or None, the reason) for `model`.

    `candidates` maps a template name to (``model_type``, ``card_marker``): the template is chosen when the
    model's config.json has that model_type and its README.md contains the marker.
    """
    config = model_file(model, "config.json")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "") if config else ""
    except (OSError, ValueError):
        model_type = ""
    matching = {name: marker for name, (mtype, marker) in candidates.items() if mtype == model_type}
    if not matching:
        return None, f"config.json model_type {model_type or '(none found)'!r} matches no card-marked template"
    card = model_file(model, "README.md")
    text = card.read_text(encoding="utf-8", errors="replace") if card else ""
    for name, marker in matching.items():
        if marker in text:
            return name, f"model_type {model_type!r} and its model card documents the {name} prompt"
    names = ", ".join(matching)
    if not card:
        return None, f"model_type {model_type!r}, but no model card (README.md) was found to confirm the {names} prompt"
    return None, f"model_type {model_type!r}, but its model card does not document the {names} prompt"
