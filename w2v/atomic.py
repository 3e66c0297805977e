"""Atomic file writes: write to a temporary file beside the target, fsync, rename into place, fsync the directory.

A crash (or a full disk) in the middle of a write therefore leaves the previous good file, never a
truncated one; and once the write returns, a power cut leaves the new file (the rename is on disk).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
FILE_MODE = 0o666 & ~_UMASK  # the mode open() gives a new file; tempfile and safetensors make 0600 ones


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` only if the block finishes cleanly."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
        yield f


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``, for a library that writes by file name (safetensors'
    ``save_file``): it replaces ``path``, fsynced and with the mode open() gives, only if the block
    finishes cleanly."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with contextlib.suppress(OSError):  # mkstemp makes 0600; give the mode open() would (some filesystems refuse)
            os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _fsync_path(path: str | os.PathLike) -> None:
    """fsync a file or directory by path; a no-op where the platform refuses to open or fsync it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: str | os.PathLike) -> None:
    """Flush ``directory``'s entries (a rename into it) to disk; a no-op where the platform refuses
    to open or fsync a directory (Windows, some network filesystems)."""
    _fsync_path(directory)


def fsync_tree(directory: str | os.PathLike) -> None:
    """Flush every file under ``directory``, and the directories, to disk: for files a library wrote
    without fsync (TensorBoard's), before they are renamed into place."""
    for root, _, files in os.walk(directory):
        for name in files:
            _fsync_path(os.path.join(root, name))
        fsync_dir(root)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)
