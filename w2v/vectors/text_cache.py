"""Parsed copies of big vectors text files: GloVe's 400k-word text parses in seconds, its ``.npy``
copy loads in a fraction of one. The copies live in a cache directory the caller names (outside the
repository), keyed by the file's path, size, mtime and the word limit; a missing or damaged copy is
parsed again, and a cache that cannot be written only costs the speed-up.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_open
from w2v.vectors.word2vec_format import read_word2vec_text

log = logging.getLogger(__name__)

CACHE_MIN_BYTES = 16 << 20  # only text files at least this big are worth caching


def _cache_files(cache_dir: str | os.PathLike, path: Path, label: str, limit: int | None) -> tuple[Path, Path]:
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{limit}".encode()).hexdigest()[:16]
    base = f"{label}-{key}"
    folder = Path(os.path.expanduser(str(cache_dir)))
    return folder / f"{base}.npy", folder / f"{base}.words"


def read_text_cached(
    path: Path, header: tuple[int, int] | None, limit: int | None, cache_dir: str | os.PathLike | None, label: str
) -> tuple[list[str], np.ndarray]:
    """:func:`read_word2vec_text`, through a parsed copy in ``cache_dir`` for files of CACHE_MIN_BYTES or more
    (``label``: a readable prefix for the copy's file names)."""
    use_cache = cache_dir is not None and path.stat().st_size >= CACHE_MIN_BYTES
    if use_cache:
        npy, words_file = _cache_files(cache_dir, path, label, limit)
        cached = _read_cache(npy, words_file)
        if cached is not None:
            log.info("using the parsed copy of %s in %s", path, npy.parent)
            return cached
    words, matrix = read_word2vec_text(path, header, limit)
    if use_cache:
        try:
            npy.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(npy, "wb") as f:
                np.save(f, matrix)
            with atomic_open(words_file, "w") as f:
                f.write("\n".join(words))
        except OSError as exc:  # a cache is an optimisation: never fail the evaluation for it
            log.warning("could not cache %s in %s: %s", path, npy.parent, exc)
    return words, matrix


def _read_cache(npy: Path, words_file: Path) -> tuple[list[str], np.ndarray] | None:
    """The parsed copy, or None when it is missing or damaged (then the text is parsed again)."""
    if not (npy.is_file() and words_file.is_file()):
        return None
    try:
        words = words_file.read_text(encoding="utf-8").split("\n")
        matrix = np.load(npy, mmap_mode="r")  # a memory map: a damaged header cannot claim more than the file holds
        if matrix.ndim != 2 or matrix.dtype != np.float32 or len(words) != matrix.shape[0]:
            raise ValueError(f"{matrix.shape} {matrix.dtype} table for {len(words)} words")
        return words, np.array(matrix)
    except (OSError, ValueError, EOFError) as exc:  # a cache is an optimisation: parse the text again
        log.warning("ignoring the damaged parsed copy %s (%s)", npy, " ".join(str(exc).split()))
        return None
