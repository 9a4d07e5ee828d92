"""Helpers for the scripts that generate golden fixtures from reference implementations (run once, by hand).

A reference repository snapshot is a git directory (e.g. from ``git clone --bare``); its files are read with
``git show <commit>:<path>`` and executed as modules with stand-ins for heavy runtimes they import but the fixture
does not exercise (vLLM's ``LLM``, ``datasets``), so the reference's own prompt building, parsing and scoring run.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any


def head_commit(git_dir: str | Path) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def show(git_dir: str | Path, commit: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def stub_module(name: str, **attrs: Any) -> types.ModuleType:
    """Install a module `name` (and its parents) in sys.modules with `attrs`."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    mod = sys.modules[name]
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def exec_source(name: str, source: str, filename: str) -> types.ModuleType:
    """Execute reference source as a fresh module (nothing of it is imported into rerankit)."""
    mod = types.ModuleType(name)
    mod.__file__ = filename
    if name != "__main__":
        sys.modules[name] = mod  # dataclasses look their module up while the source runs
    code = compile(source, filename, "exec")
    exec(code, mod.__dict__)  # noqa: S102 - running the reference implementation is the point
    return mod
