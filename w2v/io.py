"""Reading the files a user hands to w2v: one opener for plain and compressed files, one set of the
exceptions a damaged or truncated file raises, and exact binary reads checked against the file's size.

A damaged file fails in ways a parser does not expect, and at any read, after millions of good lines:
``zlib.error`` (a damaged .gz block; not an OSError), ``gzip.BadGzipFile`` (an OSError), ``EOFError``
(a compressed stream cut short), ``lzma.LZMAError``, bz2's ``OSError("Invalid data stream")`` and
``UnicodeDecodeError`` where text is decoded strictly. :func:`open_file` returns a file whose every
read, readline and line of iteration turns those into one :class:`W2VError` line naming the file and
the line reached, so streaming readers (corpora, benchmarks, playlists, vectors) need no handler.

:class:`BinarySource` reads binary formats (word2vec ``.bin``, fastText ``.bin``): every size read
from a header is compared with the bytes the file still holds *before* anything that size is read or
allocated, so a header claiming 10^12 rows is one line, not a MemoryError, and a file cut short is
one line, not a loop reading past its end.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from w2v.errors import W2VError

OPENERS: dict[str, Callable[..., IO[Any]]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# What reading a damaged or truncated file raises (gzip.BadGzipFile and bz2's errors are OSErrors).
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError, UnicodeDecodeError)
_FIX = "the file is damaged or truncated: download or create it again"
_CHUNK = 1 << 16  # bytes buffered per refill while scanning for a delimiter
_BIG_READ = 1 << 24  # a compressed stream's long reads grow by this much, as the data arrives


def is_compressed(path: str | os.PathLike) -> bool:
    """True for the suffixes :func:`open_file` decompresses (.gz, .bz2, .xz)."""
    return Path(path).suffix in OPENERS


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def damaged(path: str | os.PathLike, exc: BaseException, what: str = "file", line: int | None = None) -> W2VError:
    """The one-line error for a file that failed while being read (``line``: complete lines read before)."""
    where = f" after line {line}" if line else ""
    return W2VError(f"cannot read {what} {path}{where}: {_one_line(exc)}; {_FIX}")


class GuardedFile:
    """A file object whose reads raise :class:`W2VError` naming the file when it is damaged (READ_ERRORS).

    Counts the complete lines handed out by iteration and ``readline`` so the error says how far the
    file was good; everything else (``seek``, ``tell``, ...) is the wrapped file's.
    """

    def __init__(self, f: IO[Any], path: Path, what: str):
        self._f = f
        self.path = path
        self.what = what
        self.lines = 0

    def __enter__(self) -> GuardedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            line = next(self._f)
        except READ_ERRORS as exc:
            raise damaged(self.path, exc, self.what, self.lines) from None
        self.lines += 1
        return line

    def read(self, size: int = -1) -> Any:
        try:
            return self._f.read(size)
        except READ_ERRORS as exc:
            raise damaged(self.path, exc, self.what, self.lines) from None

    def readline(self, size: int = -1) -> Any:
        try:
            line = self._f.readline(size)
        except READ_ERRORS as exc:
            raise damaged(self.path, exc, self.what, self.lines) from None
        self.lines += line.endswith("\n" if isinstance(line, str) else b"\n")
        return line

    def close(self) -> None:
        try:
            self._f.close()
        except READ_ERRORS:  # closing a half-read damaged stream: the read already said what was wrong
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def open_file(
    path: str | os.PathLike, mode: str = "rb", what: str = "file", encoding: str | None = None, errors: str | None = None
) -> GuardedFile:
    """Open a plain, .gz, .bz2 or .xz file for reading (``mode`` "rb" or "rt"), guarded as :class:`GuardedFile`."""
    path = Path(path)
    opener = OPENERS.get(path.suffix, open)
    try:
        f = opener(path, mode, encoding=encoding, errors=errors)
    except OSError as exc:
        raise W2VError(f"cannot open {what} {path}: {exc.strerror or _one_line(exc)}; check the path and its permissions") from None
    return GuardedFile(f, path, what)


def stored_size(path: str | os.PathLike) -> int | None:
    """The bytes a file's content occupies: its size when plain, None when compressed (unknown until read)."""
    return None if is_compressed(path) else Path(path).stat().st_size


class BinarySource:
    """Exact reads from a binary file opened by :func:`open_file`, each checked against what the file holds.

    ``size`` is the content's size (:func:`stored_size`); None for a compressed file, whose long reads
    then grow with the data actually decompressed instead of trusting a claimed size. ``kind`` names
    the format in errors ("binary word2vec").
    """

    def __init__(self, f: GuardedFile, size: int | None, kind: str):
        self._f = f
        self.path = f.path
        self.kind = kind
        self._size = size
        self._buf = b""
        self._pos = 0  # next unread byte of _buf
        self.offset = 0  # bytes handed to the caller so far

    def left(self) -> int | None:
        """Bytes not yet handed out, or None when the file is compressed."""
        return None if self._size is None else self._size - self.offset

    def need(self, n: int, what: str) -> None:
        """Fail unless the file can still hold ``n`` bytes for ``what`` (checked before allocating them)."""
        if n < 0:
            raise self.truncated(what, f"a negative size ({n} bytes)")
        left = self.left()
        if left is not None and n > left:
            raise self.truncated(what, f"{n} bytes needed, {left} left")

    def truncated(self, what: str, detail: str) -> W2VError:
        return W2VError(f"cannot read {self.path} as {self.kind}: {what}: {detail} (at byte {self.offset}); {_FIX}")

    def _fill(self, size: int = _CHUNK) -> bool:
        data = self._f.read(size)
        if data:
            self._buf = self._buf[self._pos :] + data
            self._pos = 0
        return bool(data)

    def take(self, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes, or a one-line error naming ``what`` if the file ends first."""
        self.need(n, what)
        have = len(self._buf) - self._pos
        if n <= have:
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
        else:
            parts = [self._buf[self._pos :]]
            self._buf, self._pos = b"", 0
            got = have
            while got < n:  # a plain file: one read of the checked size; a compressed one: growing chunks
                step = n - got if self._size is not None else min(n - got, _BIG_READ)
                data = self._f.read(step)
                if not data:
                    raise self.truncated(what, f"cut short after {got} of {n} bytes")
                parts.append(data)
                got += len(data)
            out = b"".join(parts)
        self.offset += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        """``struct.unpack(fmt)`` of the next bytes."""
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def until(self, delimiter: bytes, what: str) -> bytes:
        """The bytes up to a one-byte ``delimiter`` (consumed, not returned), or an error if the file ends first."""
        search_from = self._pos
        while True:
            found = self._buf.find(delimiter, search_from)
            if found >= 0:
                out = self._buf[self._pos : found]
                self.offset += found + 1 - self._pos
                self._pos = found + 1
                return out
            scanned = len(self._buf) - self._pos
            if not self._fill():
                raise self.truncated(what, f"cut short: the file ends before its {delimiter!r} terminator")
            search_from = self._pos + scanned  # _fill keeps the unread bytes first: search only the new ones

    def skip(self, n: int, what: str) -> None:
        """Pass over ``n`` bytes: a seek in a plain file, reads in bounded chunks in a compressed one."""
        self.need(n, what)
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            self.offset += n
            return
        self._buf, self._pos = b"", 0
        self.offset += have
        n -= have
        if self._size is not None:
            self._f.seek(n, os.SEEK_CUR)
            self.offset += n
            return
        while n > 0:
            n -= len(self.take(min(n, _BIG_READ), what))

    def skip_to_end(self) -> int:
        """Pass over whatever is left and return its size (a compressed file is read to its end, which
        verifies its checksum; a plain one is not read at all)."""
        left = self.left()
        if left is not None:
            self._buf, self._pos = b"", 0
            self.offset += left
            return left
        extra = len(self._buf) - self._pos
        self._buf, self._pos = b"", 0
        while data := self._f.read(_BIG_READ):
            extra += len(data)
        self.offset += extra
        return extra

    def at_end(self) -> bool:
        """True when no byte is left (reads one byte of a compressed file to find out)."""
        if len(self._buf) > self._pos:
            return False
        if self._size is not None:
            return self.offset >= self._size
        return not self._fill(1)
