"""Load word vectors from any source a user has: a w2v run directory, word2vec text or binary files,
GloVe text files (no header; .gz/.bz2/.xz allowed), Facebook fastText ``.bin`` models (whose n-gram
vectors also give unseen words a vector) and gensim-saved ``.kv`` / model files.

gensim's ``.kv`` and ``.model`` files are Python pickles, and unpickling a file runs whatever code its
author put in it. They are therefore loaded only when the caller says the file is trusted
(``trust_pickle=True``, in the spirit of Hugging Face's ``trust_remote_code``); word2vec text/binary
and GloVe text are plain data and stay the safe default.

Formats are sniffed from the content, not the file name. word2vec text and binary are read by
:mod:`w2v.vectors.word2vec_format`, fastText ``.bin`` by :mod:`w2v.vectors.fasttext_bin`, both of
which check every size a header claims against the file first; trusted gensim pickles go through
gensim. Large text files can be cached as ``.npy`` in a cache directory outside the repository
(:mod:`w2v.vectors.text_cache`), so the full GloVe loads in a fraction of a second the second time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from w2v.errors import W2VError
from w2v.vectors.fasttext_bin import is_fasttext_bin, load_fasttext_vectors
from w2v.vectors.keyed import WordVectors
from w2v.vectors.text_cache import read_text_cached
from w2v.vectors.word2vec_format import looks_like_text, open_vectors_file, parse_first_line, read_word2vec_binary

log = logging.getLogger(__name__)

RUN_FILES = ("vectors.bin", "vectors.txt")  # what a w2v run directory holds, preferred first
FULL_MODEL_FILE = "fasttext.bin"  # a subwords run's full fastText model: preferred, it composes unseen words
_PICKLE_MAGIC = b"\x80"


def resolve_vectors_path(path: str | os.PathLike) -> Path:
    """A vectors file, or the vectors file inside a w2v run directory; a clear error if there is none."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_dir():
        for name in (FULL_MODEL_FILE, *RUN_FILES):
            if (p / name).is_file():
                return p / name
        raise W2VError(f"{p} is a directory without {' or '.join(RUN_FILES)}: pass a run directory or a vectors file")
    if not p.is_file():
        raise W2VError(f"vectors file {p} not found: check the path (a run directory, word2vec .bin/.txt, GloVe .txt[.gz] or gensim .kv)")
    return p


def default_name(path: str | os.PathLike) -> str:
    """A short label for a vectors source: the run directory's name, else the file name without suffixes."""
    p = Path(path)
    if p.is_dir() or p.name in (FULL_MODEL_FILE, *RUN_FILES):
        run = p if p.is_dir() else p.parent
        return run.resolve().name
    name = p.name
    for suffix in (".gz", ".bz2", ".xz", ".txt", ".bin", ".vec", ".kv", ".model"):
        name = name.removesuffix(suffix)
    return name or p.name


def load_vectors(
    path: str | os.PathLike,
    name: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    trust_pickle: bool = False,
) -> WordVectors:
    """Load the first ``limit`` words (all if None) of any supported vectors source.

    ``cache_dir``: keep a parsed copy of big text files there (keyed by path, size, mtime and limit).
    ``trust_pickle``: allow gensim's pickle-based ``.kv``/``.model`` files, which can run code when loaded.
    """
    file = resolve_vectors_path(path)
    name = name or default_name(path)
    if limit is not None and limit < 1:
        raise W2VError(f"limit={limit}: load at least 1 word, or leave limit unset for all")
    t0 = time.perf_counter()
    head = _read_head(file)
    oov = None
    if is_fasttext_bin(head):  # Facebook fastText .bin: plain data (not a pickle), with n-gram vectors
        words, matrix, oov = load_fasttext_vectors(file)
        if limit is not None:
            words, matrix = words[:limit], matrix[:limit]
    elif head.startswith(_PICKLE_MAGIC):
        if not trust_pickle:
            raise W2VError(untrusted_pickle_message(file))
        words, matrix = _load_gensim(file, limit)
    else:
        header, first_data = parse_first_line(file, head)
        if header is not None and not looks_like_text(first_data):
            words, matrix = read_word2vec_binary(file, limit)
        else:
            words, matrix = read_text_cached(file, header, limit, cache_dir, default_name(file))
    vecs = WordVectors(words, matrix, name=name, source=str(file), oov=oov)
    log.info("loaded %s: %d words x %d dims from %s in %.1fs", name, len(vecs), vecs.dim, file, time.perf_counter() - t0)
    return vecs


def refuse_untrusted_pickle(path: str | os.PathLike) -> None:
    """Fail at once, before any slow work, if ``path`` (a vectors file or run directory) is a pickle."""
    file = resolve_vectors_path(path)
    if _read_head(file, 2).startswith(_PICKLE_MAGIC):
        raise W2VError(untrusted_pickle_message(file))


def untrusted_pickle_message(path: Path) -> str:
    """The one-line refusal for a pickle file: why, and the two ways on (trust it, or convert it once)."""
    target = path.with_suffix(".bin")
    return (
        f"{path} is a Python pickle (gensim .kv/.model), and loading a pickle runs any code its author put in it: "
        f"pass trust_pickle=true only if you trust its source, or convert it once where you trust it with "
        f"KeyedVectors.load('{path}').save_word2vec_format('{target}', binary=True) and load {target.name}"
    )


def _read_head(path: Path, size: int = 1 << 16) -> bytes:
    with open_vectors_file(path) as f:
        return f.read(size)


@contextlib.contextmanager
def _quiet_gensim() -> Iterator[None]:
    """gensim logs every load at INFO ("lifecycle event ..."); our own log line says what was loaded."""
    logger = logging.getLogger("gensim")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _load_gensim(path: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    """A gensim ``KeyedVectors.save`` or full model ``.save`` (its ``.wv``)."""
    from gensim.utils import SaveLoad

    try:
        with _quiet_gensim():
            obj = SaveLoad.load(str(path))
    except Exception as exc:  # unpickling can fail in many ways; all mean "not a gensim file"
        raise W2VError(f"cannot load {path} as a gensim file: {exc}; save vectors with KeyedVectors.save") from None
    kv = getattr(obj, "wv", obj)
    if not hasattr(kv, "index_to_key") or not hasattr(kv, "vectors"):
        raise W2VError(f"{path} holds a gensim {type(obj).__name__}, not word vectors: save model.wv instead")
    n = len(kv.index_to_key) if limit is None else min(limit, len(kv.index_to_key))
    return [str(w) for w in kv.index_to_key[:n]], np.asarray(kv.vectors[:n], dtype=np.float32)
