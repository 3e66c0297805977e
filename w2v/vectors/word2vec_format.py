"""The word2vec formats: text (``count dim`` header, one word and its numbers a line; GloVe's text
is the same without the header) and binary (the header, then each word, a space and ``dim``
little-endian float32), read and written by w2v's own code.

Both readers check what a header claims against the file before reading or allocating it, so a
damaged or truncated file is one :class:`W2VError` line, never a hang or a MemoryError. Text goes
through a chunked ``numpy.loadtxt`` parser, about ten times faster than gensim's per-line Python
parser (GloVe 6B, 400k words: seconds, not a minute), which also names the line of a malformed file.
Every file is opened by :func:`w2v.io.open_file`, so damaged compression is one line too. The writer
produces what gensim's ``load_word2vec_format`` reads.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_open
from w2v.errors import W2VError
from w2v.io import BinarySource, GuardedFile, open_file, stored_size

log = logging.getLogger(__name__)

_CHUNK_LINES = 50_000  # text lines parsed per numpy call: bounds memory on 400k-line files


def save_word2vec(path: Path, words: list[str], vectors: np.ndarray, binary: bool) -> None:
    """Write ``len(words) dim`` then one word and vector per entry, atomically, in the given order."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with atomic_open(path, "wb") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        if binary:
            for word, vec in zip(words, vectors):
                f.write(word.encode("utf-8") + b" " + vec.astype("<f4").tobytes() + b"\n")
        else:
            # One %-format per row: the same "%.6g" text as a format per number, 1.3x faster (6.8M numbers on wiki8).
            # Rows become Python floats one at a time: the whole table at once held 24 bytes a number (+230 MB peak).
            row_format = " ".join(["%.6g"] * vectors.shape[1])
            for word, vec in zip(words, vectors):
                f.write(f"{word} {row_format % tuple(vec.tolist())}\n".encode())


def open_vectors_file(path: Path) -> GuardedFile:
    """The vectors file, decompressed by its suffix; damage while reading is a one-line W2VError."""
    return open_file(path, "rb", what="vectors file")


def parse_first_line(path: Path, head: bytes) -> tuple[tuple[int, int] | None, bytes]:
    """``((count, dim), rest)`` for a word2vec header, ``(None, head)`` for a header-less (GloVe) file."""
    line, _, rest = head.partition(b"\n")
    header = word2vec_header(path, line)
    if header is not None:
        return header, rest
    fields = line.split()
    if len(fields) >= 3 and _all_numbers(fields[1:]):
        return None, head
    shown = line[:60].decode("utf-8", "replace")
    raise W2VError(
        f"{path} line 1: bad header {shown!r}: a word2vec file starts with '<words> <dims>', "
        "a GloVe file with a word and its numbers; fix the first line"
    )


def word2vec_header(path: Path, line: bytes) -> tuple[int, int] | None:
    """``(count, dim)`` of a word2vec header line (two positive integers), None if the line is not one."""
    fields = line.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):  # bytes.isdigit: ASCII digits only
        return None
    count, dim = int(fields[0]), int(fields[1])
    if count < 1 or dim < 1:
        raise W2VError(f"{path} line 1: the header says {count} words of {dim} dims: the file is empty or the header is wrong")
    return count, dim


def _all_numbers(fields: list[bytes]) -> bool:
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return True


def looks_like_text(data: bytes) -> bool:
    """True for UTF-8 text without control characters (word2vec text), False for binary float records."""
    sample = data[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end of the sample
            return False
        text = sample[: exc.start].decode("utf-8")
    return not any(ch < " " and ch not in "\t\r\n" for ch in text)


def read_word2vec_binary(path: str | os.PathLike, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """The first ``limit`` words (all if None) of a binary word2vec file, as gensim's
    ``load_word2vec_format(binary=True, unicode_errors="replace")`` reads it, by w2v's own code.

    The format: a ``count dim`` line, then per word its UTF-8 bytes, a space and ``dim`` little-endian
    float32, optionally followed by a newline. The rows the header claims are checked against the
    file's size before they are read (a compressed file's rows grow with the data actually there);
    a repeated word keeps its first vector, as in gensim.
    """
    path = Path(path)
    with open_vectors_file(path) as f:
        src = BinarySource(f, stored_size(path), "binary word2vec")
        first = src.until(b"\n", "the header line")
        header = word2vec_header(path, first)
        if header is None:
            shown = first[:60].decode("utf-8", "replace")
            raise W2VError(f"{path} line 1: bad header {shown!r}: a binary word2vec file starts with '<words> <dims>'")
        count, dim = header
        want = count if limit is None else min(count, limit)
        # A row is at least a space and 4 * dim bytes: a header claiming more than the file holds fails here.
        src.need(want * (4 * dim + 1), f"the header's {want} vectors of {dim} dims")
        words, rows = _read_binary_rows(src, want, dim)
        if limit is None:
            _drain(src, count)
    return words, np.frombuffer(rows, dtype="<f4").reshape(len(words), dim).astype(np.float32, copy=False)


def _read_binary_rows(src: BinarySource, want: int, dim: int) -> tuple[list[str], bytearray]:
    """``want`` rows: the words (repeats dropped, as gensim does) and their float32 bytes, one after another."""
    words: list[str] = []
    seen: set[str] = set()
    rows = bytearray()  # grows with the rows actually read, never to a size the header claims
    for i in range(want):
        raw = src.until(b" ", f"word {i + 1} of {want}")
        vector = src.take(4 * dim, f"the vector of word {i + 1} of {want}")
        word = raw.decode("utf-8", "replace").lstrip("\n")  # the newline ending the previous row, if any
        if word in seen:
            continue
        seen.add(word)
        words.append(word)
        rows += vector
    if len(words) < want:
        log.warning("%s: dropped %d repeated words (each keeps its first vector)", src.path, want - len(words))
    return words, rows


def _drain(src: BinarySource, count: int) -> None:
    """Go past the last row, so a compressed file's checksum is verified; note bytes the header did not announce."""
    extra = src.skip_to_end()
    if extra > 1:  # a final newline is the row's own
        log.warning("%s: ignored %d bytes after the %d vectors its header announces", src.path, extra, count)


def read_word2vec_text(path: Path, header: tuple[int, int] | None, limit: int | None) -> tuple[list[str], np.ndarray]:
    """word2vec text (``count dim`` header) or GloVe text (no header), parsed in chunks by numpy."""
    first_line = 2 if header else 1  # file line number of the first record
    want = header[0] if header else None
    if limit is not None:
        want = limit if want is None else min(want, limit)
    dim = header[1] if header else None
    words: list[str] = []
    blocks: list[np.ndarray] = []
    with open_vectors_file(path) as f:  # damaged compression: a W2VError naming the file and line, from any read
        if header:
            _check_text_room(path, header, want, len(f.readline()))
        for start, lines in _line_chunks(f, want):
            if dim is None:
                dim = len(lines[0].split()) - 1
            chunk_words, block = _parse_chunk(path, lines, dim, first_line + start)
            words.extend(chunk_words)
            blocks.append(block)
    if header and len(words) < want:
        raise W2VError(
            f"{path}: the header announces {header[0]} words but the file has {len(words)}: it is truncated or the header is wrong"
        )
    if not words:
        raise W2VError(f"{path} holds no vectors: check the file")
    return words, np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def _check_text_room(path: Path, header: tuple[int, int], want: int, header_bytes: int) -> None:
    """Fail at once when a plain file is too small for the rows its header announces: a text row is
    at least a 1-byte word and ``dim`` single-digit numbers, each after a space, and a newline."""
    size = stored_size(path)
    if size is not None and want * (2 * header[1] + 2) - 1 > size - header_bytes:
        raise W2VError(
            f"{path} line 1: the header announces {header[0]} words of {header[1]} dims, more than its {size} bytes can hold: "
            "it is truncated or the header is wrong"
        )


def _line_chunks(f: GuardedFile, want: int | None) -> Iterator[tuple[int, list[bytes]]]:
    """``(index of the chunk's first record, lines)``; blank lines at the end of the file are dropped."""
    done, lines, pending_blank = 0, [], 0
    for raw in f:
        if want is not None and done + len(lines) >= want:
            break
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            pending_blank += 1
            continue
        if pending_blank:  # a blank line inside the file: keep it so the parser reports its line number
            lines.extend([b""] * pending_blank)
            pending_blank = 0
        lines.append(line)
        if len(lines) >= _CHUNK_LINES:
            yield done, lines
            done, lines = done + len(lines), []
    if lines:
        yield done, lines


def _parse_chunk(path: Path, lines: list[bytes], dim: int, first_line_no: int) -> tuple[list[str], np.ndarray]:
    words, rests = [], []
    for line in lines:
        word, _, rest = line.partition(b" ")
        words.append(word.decode("utf-8", "replace"))
        rests.append(rest)
    try:
        block = np.loadtxt(io.BytesIO(b"\n".join(rests)), dtype=np.float32, ndmin=2, comments=None)
    except ValueError:
        block = None
    if block is None or block.shape != (len(lines), dim):
        _raise_bad_line(path, lines, dim, first_line_no)
    return words, block


def _raise_bad_line(path: Path, lines: list[bytes], dim: int, first_line_no: int) -> None:
    """Find the first malformed line of a chunk that numpy rejected and name it."""
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) != dim + 1:
            raise W2VError(
                f"{path} line {first_line_no + i}: expected a word and {dim} numbers, found {max(0, len(fields) - 1)} numbers; "
                "the file mixes dimensions or is damaged"
            )
        if not _all_numbers(fields[1:]):
            raise W2VError(f"{path} line {first_line_no + i}: a value after the word is not a number; the file is damaged")
    raise W2VError(f"{path}: could not parse lines {first_line_no}-{first_line_no + len(lines) - 1} as vectors")
