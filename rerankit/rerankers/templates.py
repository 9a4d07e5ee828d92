"""Prompt templates stored as YAML data files in ``rerankit/rerankers/prompts/`` (each cites its source).

A template is either ``format: raw`` (one ``template`` string sent as is, already holding any chat markup) or
``format: chat`` (``messages`` rendered by the engine with the model's own chat template). Fields are
``{query}``, ``{document}`` and anything listed under ``defaults``; other keys (``labels``, ``think_end``, ...) are
kept in :attr:`PromptTemplate.extra` for the method that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rerankit.engines.base import Prompt
from rerankit.errors import ConfigError

__all__ = ["PromptTemplate", "load_template", "template_names", "PROMPTS_DIR"]

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt format: `fill(query=..., document=...)` gives a raw string or chat messages."""

    name: str
    source: str
    format: str
    template: str = ""
    messages: tuple[dict[str, str], ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def fill(self, **fields: str) -> Prompt:
        """The prompt with `fields` (plus defaults) substituted; a missing field is a ConfigError."""
        values = {**self.defaults, **{k: v for k, v in fields.items() if v is not None}}
        try:
            if self.format == "raw":
                return self.template.format(**values)
            return [{"role": m["role"], "content": m["content"].format(**values)} for m in self.messages]
        except KeyError as exc:
            raise ConfigError(f"prompt template {self.name!r} needs the field {exc.args[0]!r}") from None

    def label(self, key: str) -> str:
        labels = self.extra.get("labels", {})
        if key not in labels:
            raise ConfigError(f"prompt template {self.name!r} has no label {key!r} (labels: {sorted(labels)})")
        return str(labels[key])


def template_names() -> list[str]:
    """Names of the shipped templates (file stems, with '-' for '_')."""
    return sorted(p.stem.replace("_", "-") for p in PROMPTS_DIR.glob("*.yaml"))


@lru_cache(maxsize=64)
def load_template(name: str) -> PromptTemplate:
    """A shipped template by name (``yes-no``, ``rank1``, ...) or a YAML file path."""
    import yaml

    path = Path(name).expanduser()
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PROMPTS_DIR / f"{name.replace('-', '_')}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown prompt template {name!r}; shipped templates: {', '.join(template_names())} "
                          "(or pass a .yaml file path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse prompt template {path}: {exc}") from exc
    fmt = data.get("format", "raw")
    if fmt not in ("raw", "chat"):
        raise ConfigError(f"prompt template {path}: format must be 'raw' or 'chat', got {fmt!r}")
    if fmt == "raw" and not data.get("template"):
        raise ConfigError(f"prompt template {path}: a raw template needs a 'template' string")
    if fmt == "chat" and not data.get("messages"):
        raise ConfigError(f"prompt template {path}: a chat template needs 'messages'")
    if not data.get("source"):
        raise ConfigError(f"prompt template {path}: every template must cite its 'source'")
    known = {"name", "source", "format", "template", "messages", "defaults"}
    return PromptTemplate(
        name=str(data.get("name", path.stem)), source=str(data["source"]), format=fmt,
        template=str(data.get("template", "")),
        messages=tuple({"role": str(m["role"]), "content": str(m["content"])} for m in data.get("messages", ())),
        defaults={k: str(v) for k, v in (data.get("defaults") or {}).items()},
        extra={k: v for k, v in data.items() if k not in known})
