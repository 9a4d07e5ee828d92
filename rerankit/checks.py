"""Argument checks for the public API: a wrong type or value is one `InputError` naming it, not a deep TypeError."""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

from rerankit.errors import InputError

__all__ = ["positive_int", "optional_depth", "path_like", "check_output_file"]


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """`value` as an int >= `minimum`; bools, strings and floats with a fraction are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def optional_depth(value: Any, name: str = "depth") -> int | None:
    """A reranking depth: None (every candidate) or an integer >= 1. 0 is refused, it does not mean "all"."""
    if value is None:
        return None
    return positive_int(value, name)


def path_like(value: Any, name: str) -> Path:
    """A str or os.PathLike as a Path; anything else is an InputError."""
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return Path(value).expanduser()
    raise InputError(f"{name} must be a path (str or Path), got {value!r} ({type(value).__name__})")


def check_output_file(path: str | os.PathLike, what: str = "--output") -> Path:
    """Fail now, before any work, when `path` cannot be written as a file: a directory, or a folder not writable.

    Missing parent folders are fine when they can be created (the writer creates them).
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"{what} {str(path)!r} is a directory; give a file path such as {str(target / 'run.trec')!r}")
    if target.exists():
        try:
            with open(target, "a"):
                pass  # opening for append writes nothing and proves the file can be written
        except OSError as exc:
            raise InputError(f"{what} {str(path)!r} cannot be written ({exc.strerror}); choose another path") from None
        return target
    parent = target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{what} {str(path)!r}: {parent} is a file, so no folder can be created there")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as exc:
        raise InputError(f"{what} {str(path)!r}: the folder {parent} is not writable ({exc.strerror}); "
                         "choose another path") from None
    return target
