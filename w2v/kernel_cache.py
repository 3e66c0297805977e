"""Keep numba's on-disk kernel cache in step with the sources the kernels are built from.

numba keys each cached kernel on its own file only: a kernel that calls a compiled function from
another file (``engines/hogwild.py`` calls ``engines/numba_engine.py``'s ``train_examples``) or
reads a constant from one (``MAX_EXP``) keeps running the old code after that file changes, even
after its own file is touched. That silently trains with stale math after an edit, a ``git pull``
or an in-place upgrade. So the kernels' modules call :func:`drop_stale_kernels` at import: it hashes
every source a kernel is compiled from and, when the hash differs from the one recorded beside the
cache, deletes the cached kernels so numba compiles them afresh (once, then caches them again).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
# Every file a cached numba kernel is compiled from, its callees' and constants' files included.
KERNEL_SOURCES = ("engines/numba_engine.py", "engines/hogwild.py", "models/word2vec.py", "data/compiled.py", "data/phrases.py")
_STAMP = "w2v-kernels.sha256"
_checked = False


def sources_digest(root: Path = _ROOT) -> str:
    """sha256 over the kernel sources' bytes, in :data:`KERNEL_SOURCES` order."""
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        path = root / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def drop_stale_kernels(root: Path = _ROOT) -> bool:
    """Delete numba's cached kernels under ``root`` when the kernel sources changed; True if it did.

    Runs once per process. Best effort: a read-only install (numba then caches elsewhere) or a
    race with another process doing the same is not an error.
    """
    global _checked
    if root == _ROOT:
        if _checked:
            return False
        _checked = True
    caches = sorted({(root / name).parent / "__pycache__" for name in KERNEL_SOURCES})
    stamp = root / "engines" / "__pycache__" / _STAMP
    want = sources_digest(root)
    try:
        if stamp.is_file() and stamp.read_text().strip() == want:
            return False
        for cache in caches:
            for pattern in ("*.nbi", "*.nbc"):
                for f in cache.glob(pattern):
                    f.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(want + "\n")
    except OSError:
        return False
    return True
