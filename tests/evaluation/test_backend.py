"""The numba cache: ranx's compiled code must go somewhere writable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import os, sys
from pathlib import Path
import rerankit.evaluation.backend as b
b._ranx_dir_writable = lambda: False  # as when site-packages is read-only (root can write anywhere here)
b.FALLBACK_CACHE = Path(sys.argv[1])
print(b.ensure_numba_cache())
import numba
print(numba.config.CACHE_DIR)
"""


def run_child(tmp_path: Path, env_cache: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    if env_cache:
        env["NUMBA_CACHE_DIR"] = env_cache
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "numba")], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def test_read_only_ranx_falls_back_to_user_cache(tmp_path: Path) -> None:
    chosen, live = run_child(tmp_path, None)
    assert chosen == live == str(tmp_path / "numba")
    assert (tmp_path / "numba").is_dir()


def test_numba_cache_dir_is_respected(tmp_path: Path) -> None:
    chosen, live = run_child(tmp_path, str(tmp_path / "mine"))
    assert chosen == live == str(tmp_path / "mine")
    assert not (tmp_path / "numba").exists()
