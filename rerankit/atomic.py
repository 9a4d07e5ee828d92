"""Atomic folder writes: build a folder under a unique temporary name beside its target, then rename it into place.

A process killed while writing leaves the previous folder intact (and a temporary folder that a later write
removes); two processes writing the same target never share a temporary folder, and the last one to finish wins.
On Linux an existing target is swapped with the new folder in one ``renameat2(RENAME_EXCHANGE)`` call, so the
target path always holds a complete folder; elsewhere the old folder is moved aside for an instant first.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from rerankit.errors import ConfigError

__all__ = ["atomic_folder", "exchange_or_replace"]

log = logging.getLogger(__name__)

_TMP = ".tmp"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}{_TMP}-{socket.gethostname()}-"


@contextlib.contextmanager
def atomic_folder(target: str | Path, may_replace: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; when the block succeeds it replaces `target` atomically.

    `may_replace(target)` decides whether an existing `target` may be replaced (default: only an empty folder);
    it is checked before the block runs (ConfigError), so a refusal costs no work. On an exception the temporary
    folder is removed and `target` is left as it was.
    """
    target = Path(target).absolute()
    check = may_replace or _is_empty_dir
    if target.exists() and not (target.is_dir() and check(target)):
        kind = "a file" if not target.is_dir() else "a folder this would overwrite"
        raise ConfigError(f"{target} exists and is {kind}; choose another path or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = target.parent / f"{_tmp_prefix(target)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        exchange_or_replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the new folder's temp name, or the old folder after a swap


def exchange_or_replace(new: Path, target: Path) -> None:
    """Put folder `new` at `target`; whatever was at `target` ends up at `new` (the caller removes it)."""
    for _ in range(100):
        try:
            os.rename(new, target)  # target absent (or an empty folder): a plain rename is atomic
            new.mkdir()  # keep the contract: `new` exists and holds the old folder (here: nothing)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                raise
        if _exchange(new, target):
            return
        aside = target.with_name(f"{_tmp_prefix(target)}old-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            continue  # another writer moved it meanwhile: try again
        try:
            os.rename(new, target)
        except OSError:
            os.rename(aside, target)  # put the old folder back before giving up this round
            continue
        with contextlib.suppress(FileNotFoundError):  # a cleanup of stale folders may have taken it already
            os.rename(aside, new)
        return
    raise OSError(f"could not move the new folder into place at {target} (other writers keep replacing it)")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2 (Linux); False when the system or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.ENOENT:
        return False  # the target vanished: the caller retries with a plain rename
    if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        raise OSError(err, f"cannot swap {a} into {b}: {os.strerror(err)}")
    return False


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _remove_stale(target: Path) -> None:
    """Remove temporary folders of `target` left by killed processes of this host."""
    prefix = _tmp_prefix(target)
    for p in target.parent.glob(f"{_glob_escape(prefix)}*"):
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid == "old" or (pid.isdigit() and not _alive(int(pid))):
            log.info("removing %s, left by an interrupted write", p)
            shutil.rmtree(p, ignore_errors=True)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
