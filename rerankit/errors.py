"""Error types. Every error a user can cause names the problem and, where possible, the fix."""

from __future__ import annotations

__all__ = [
    "RerankitError",
    "InputError",
    "DataError",
    "DatasetNotFoundError",
    "FormatError",
    "ConfigError",
    "ModelNotFoundError",
    "CapabilityError",
    "MissingDependencyError",
    "IndexMismatchError",
]


class RerankitError(Exception):
    """Base of all rerankit errors (catch this to handle any of them)."""


class InputError(RerankitError, ValueError):
    """Bad input from the caller: empty query, empty corpus, duplicate ids, bad option values."""


class DataError(RerankitError):
    """Data that cannot be used: qrels and run that do not match, missing files."""


class DatasetNotFoundError(DataError):
    """An unknown dataset id, or a known one that is neither in a local mirror nor reachable online."""


class FormatError(DataError, ValueError):
    """A malformed file or line (qrels, run, topics, corpus)."""


class ConfigError(RerankitError, ValueError):
    """An unknown stage name, bad options, or a configuration file that cannot be read."""


class ModelNotFoundError(RerankitError):
    """A model id or path that cannot be resolved offline or online."""


class CapabilityError(RerankitError):
    """A method asks an engine for something it cannot do (e.g. attention weights over HTTP)."""


class MissingDependencyError(RerankitError, ImportError):
    """An optional extra is not installed."""

    def __init__(self, package: str, extra: str, what: str = "") -> None:
        msg = f"{what + ' needs ' if what else ''}the package {package!r}, which is not installed; " \
              f"install it with: pip install 'rerankit[{extra}]'"
        super().__init__(msg)
        self.package = package
        self.extra = extra


class IndexMismatchError(DataError):
    """A saved index that is corrupt, from another version, or built with a different encoder."""
