"""The encoded corpus as one sequence of ids stored in one or more files (torchrun's per-rank shards).

A single process encodes the corpus into one file (``corpus.ids``). Under torchrun each rank encodes
its share into its own shard file, and the corpus the stream reads is the fixed concatenation of the
shard files in rank order: global block ``b`` is ids ``[b * block_tokens, (b + 1) * block_tokens)``
of that concatenation, whichever files they sit in. Every file ends with a sentence separator, so no
sentence crosses a file boundary. The layout (file names and sizes) is what a checkpoint records, so
a resume with any number of ranks reads the same blocks.
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_open
from w2v.data.vocab import SENTENCE_END

_CHUNK_IDS = 1 << 22  # ids per read when rewriting a shard: 16 MB of int32


class IdShards:
    """Read ranges of the concatenation of int32 id files, as if they were one file."""

    def __init__(self, paths: Sequence[Path | str]):
        if not paths:
            raise ValueError("IdShards needs at least one id file")
        self.paths = [Path(p) for p in paths]
        self.sizes = [p.stat().st_size // 4 for p in self.paths]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).tolist()  # (F+1,) first global id of each file
        self._maps: list[np.memmap | None] = [None] * len(self.paths)  # opened by view() on first use
        self._last: tuple[int, int, int] | None = None  # (file, first byte, end byte) of the last view

    @property
    def n_ids(self) -> int:
        """Ids in all files together."""
        return int(self.starts[-1])

    def read(self, start: int, count: int) -> np.ndarray:
        """Ids ``[start, start + count)`` of the concatenation (fewer at its end), int32."""
        end = min(start + count, self.n_ids)
        if len(self.paths) == 1:  # the single-process file: one read, as before shards existed
            return np.fromfile(self.paths[0], dtype=np.int32, count=max(0, end - start), offset=start * 4)
        parts = []
        i = bisect.bisect_right(self.starts, start) - 1
        while start < end and i < len(self.paths):
            n = min(end, self.starts[i + 1]) - start
            if n > 0:  # an empty shard (a rank that got no sentence) holds nothing
                parts.append(np.fromfile(self.paths[i], dtype=np.int32, count=n, offset=(start - self.starts[i]) * 4))
                start += n
            i += 1
        if len(parts) == 1:  # the usual case, a block inside one shard: no copy (a copy tripled the read time)
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def view(self, start: int, count: int) -> np.ndarray:
        """Ids ``[start, start + count)`` like :meth:`read`, without reading them: a view of the memory-mapped
        file, so the threads that train on it page the ids in themselves (a copy only across shard files)."""
        end = min(start + count, self.n_ids)
        i = bisect.bisect_right(self.starts, start) - 1
        if start >= end or end > self.starts[i + 1]:  # empty, or across files: read() concatenates
            return self.read(start, count)
        if self._maps[i] is None:
            self._maps[i] = np.memmap(self.paths[i], dtype=np.int32, mode="r")
        self._release_last()
        lo, hi = start - self.starts[i], end - self.starts[i]
        self._last = (i, lo * 4, hi * 4)
        return np.asarray(self._maps[i][lo:hi])

    def _release_last(self) -> None:
        """Drop the previous view's pages from this process's resident memory (they stay in the page cache).

        The views come one chunk after another and the previous chunk has trained by the time the next is
        asked for, so a run maps the id file but holds about one chunk of it resident, as the reads did;
        a page still in use is simply read again."""
        if self._last is None:
            return
        i, lo, hi = self._last
        self._last = None
        mm = getattr(self._maps[i], "_mmap", None)
        page = mmap.PAGESIZE
        lo -= lo % page  # madvise takes a page-aligned start
        if mm is not None and hi > lo:
            with contextlib.suppress(OSError, ValueError):  # advice only: a platform that refuses it keeps the pages
                mm.madvise(mmap.MADV_DONTNEED, lo, min(hi, len(mm)) - lo)


def rewrite_as_vocab_ids(src: Path, dst: Path, remap: np.ndarray, oov_id: int) -> None:
    """Rewrite a file of provisional ids as vocabulary ids (``oov_id`` for a dropped word), atomically.

    Provisional ids are local to the rank that encoded the file; vocabulary ids are the same on every
    rank, so after this every shard is read with one mapping (:func:`vocab_identity`). Dropped words
    keep their place (as ``oov_id``), so block boundaries stay where a single process has them.
    """
    table = np.where(remap >= 0, remap, oov_id).astype(np.int32)
    n = src.stat().st_size // 4
    with atomic_open(dst, "wb") as f:
        for lo in range(0, n, _CHUNK_IDS):
            ids = np.fromfile(src, dtype=np.int32, count=min(_CHUNK_IDS, n - lo), offset=lo * 4)
            np.where(ids == SENTENCE_END, SENTENCE_END, table.take(np.maximum(ids, 0))).astype(np.int32).tofile(f)


def vocab_identity(n_words: int) -> np.ndarray:
    """The mapping of files written by :func:`rewrite_as_vocab_ids`: id i -> i, and ``n_words`` (dropped) -> -1."""
    return np.append(np.arange(n_words, dtype=np.int32), np.int32(-1))
