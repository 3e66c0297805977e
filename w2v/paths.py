"""Paths that come from files stay where they belong.

A checkpoint, or a run directory given to ``init=``, is data written by someone else: a file name it
holds is a plain name inside that directory, never ``../x``, an absolute path, or a link that leads out.
"""

from __future__ import annotations

from pathlib import Path

from w2v.errors import W2VError


def is_plain_name(name: object) -> bool:
    """True for a file name without a directory part: ``corpus.ids``, not ``../x``, ``/x``, ``a/b`` or ``..``."""
    return isinstance(name, str) and name not in ("", ".", "..") and "\x00" not in name and Path(name).name == name


def stays_inside(path: Path, root: Path) -> bool:
    """True when ``path``, every link followed, is ``root`` or lies under it (``root``'s own links followed too)."""
    return path.resolve().is_relative_to(root.resolve())


def file_in(root: Path, name: object, what: str, fix: str) -> Path:
    """``root / name`` for a plain ``name`` that does not lead out of ``root``; else one line naming ``what`` and ``fix``."""
    if not is_plain_name(name):
        raise W2VError(f"{what} names {name!r}, which is not a plain file name in {root}: it is damaged or crafted; {fix}")
    path = root / str(name)
    if not stays_inside(path, root):
        raise W2VError(f"{what} names {name!r}, and {path} leads out of {root} (to {path.resolve()}); {fix}")
    return path
