"""Load word vectors from any format a user has: a w2v run directory, word2vec text or binary files,
GloVe text files (no header; .gz/.bz2/.xz allowed), Facebook fastText ``.bin`` models (whose n-gram
vectors also give unseen words a vector) and gensim-saved ``.kv`` / model files.

gensim's ``.kv`` and ``.model`` files are Python pickles, and unpickling a file runs whatever code its
author put in it. They are therefore loaded only when the caller says the file is trusted
(``trust_pickle=True``, in the spirit of Hugging Face's ``trust_remote_code``); word2vec text/binary
and GloVe text are plain data and stay the safe default.

Formats are sniffed from the content, not the file name. Binary word2vec and fastText ``.bin`` are
read by w2v's own readers (:func:`read_word2vec_binary`, :func:`w2v.fasttext_bin.read_fasttext_bin`),
which check every size a header claims against the file before allocating it, so a damaged or
truncated file is one line, never a hang or a MemoryError; trusted gensim pickles go through gensim.
Text goes through a chunked ``numpy.loadtxt`` parser, about ten times faster than gensim's per-line
Python parser (GloVe 6B, 400k words: seconds, not a minute), which also names the line of a
malformed file. Every file is opened by :func:`w2v.io.open_file`, so damaged compression is one line
too. Large text files can be cached as ``.npy`` in a cache directory outside the repository, so the
full GloVe loads in a fraction of a second the second time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from w2v.atomic import atomic_open
from w2v.errors import W2VError
from w2v.fasttext_bin import is_fasttext_bin, load_fasttext_vectors
from w2v.io import BinarySource, GuardedFile, open_file, stored_size

log = logging.getLogger(__name__)

RUN_FILES = ("vectors.bin", "vectors.txt")  # what a w2v run directory holds, preferred first
FULL_MODEL_FILE = "fasttext.bin"  # a subwords run's full fastText model: preferred, it composes unseen words
CACHE_MIN_BYTES = 16 << 20  # only text files at least this big are worth caching
_CHUNK_LINES = 50_000  # text lines parsed per numpy call: bounds memory on 400k-line files
_PICKLE_MAGIC = b"\x80"


@dataclass
class Vectors:
    """Words and their vectors, in file order (most frequent first for w2v, gensim and GloVe files)."""

    name: str
    words: list[str]
    matrix: np.ndarray  # (V, D) float32
    source: str = ""
    # Composes a vector for a word outside ``words`` (fastText's character n-grams), or None: then
    # evaluations also report their scores with unseen words composed.
    oov: Callable[[str], np.ndarray | None] | None = field(default=None, repr=False)
    _cache: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)  # derived lookups, by (kind, restrict)

    def __post_init__(self) -> None:
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.words):
            raise W2VError(f"{self.name}: {len(self.words)} words but a vector table of shape {self.matrix.shape}")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @cached_property
    def index(self) -> dict[str, int]:
        """Exact word -> row (the first row if a word repeats)."""
        return _first_index(self.words)

    @cached_property
    def norms(self) -> np.ndarray:
        """(V,) float32 L2 norms, as gensim's ``fill_norms``."""
        return np.linalg.norm(self.matrix, axis=1)

    @cached_property
    def unit(self) -> np.ndarray:
        """(V, D) unit-length rows (gensim's ``get_vector(norm=True)``); all-zero rows stay zero."""
        norms = self.norms[:, None]
        return np.divide(self.matrix, norms, out=np.zeros_like(self.matrix), where=norms > 0)

    def upper_index(self, restrict: int) -> dict[str, int]:
        """UPPERCASED word -> first row among the first ``restrict`` rows (gensim's case-insensitive ``ok_vocab``)."""
        key = ("upper", restrict)
        if key not in self._cache:
            self._cache[key] = _first_index([w.upper() for w in self.words[:restrict]])
        return self._cache[key]

    def canonical(self, restrict: int) -> np.ndarray:
        """(restrict,) int64: for each row, the row of its word's first case variant (``upper_index``'s value)."""
        key = ("canonical", restrict)
        if key not in self._cache:
            ok = self.upper_index(restrict)
            self._cache[key] = np.fromiter((ok[w.upper()] for w in self.words[:restrict]), dtype=np.int64, count=restrict)
        return self._cache[key]


def _first_index(keys: list[str]) -> dict[str, int]:
    """key -> position of its first occurrence (later duplicates are overwritten by earlier ones)."""
    return dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))


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
) -> Vectors:
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
        header, first_data = _parse_first_line(file, head)
        if header is not None and not _looks_like_text(first_data):
            words, matrix = read_word2vec_binary(file, limit)
        else:
            words, matrix = _load_text_cached(file, header, limit, cache_dir)
    vecs = Vectors(name, words, matrix, str(file), oov=oov)
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


def _open(path: Path) -> GuardedFile:
    """The vectors file, decompressed by its suffix; damage while reading is a one-line W2VError."""
    return open_file(path, "rb", what="vectors file")


def _read_head(path: Path, size: int = 1 << 16) -> bytes:
    with _open(path) as f:
        return f.read(size)


def _parse_first_line(path: Path, head: bytes) -> tuple[tuple[int, int] | None, bytes]:
    """``((count, dim), rest)`` for a word2vec header, ``(None, head)`` for a header-less (GloVe) file."""
    line, _, rest = head.partition(b"\n")
    header = _word2vec_header(path, line)
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


def _word2vec_header(path: Path, line: bytes) -> tuple[int, int] | None:
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


def _looks_like_text(data: bytes) -> bool:
    """True for UTF-8 text without control characters (word2vec text), False for binary float records."""
    sample = data[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end of the sample
            return False
        text = sample[: exc.start].decode("utf-8")
    return not any(ch < " " and ch not in "\t\r\n" for ch in text)


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


def read_word2vec_binary(path: str | os.PathLike, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """The first ``limit`` words (all if None) of a binary word2vec file, as gensim's
    ``load_word2vec_format(binary=True, unicode_errors="replace")`` reads it, by w2v's own code.

    The format: a ``count dim`` line, then per word its UTF-8 bytes, a space and ``dim`` little-endian
    float32, optionally followed by a newline. The rows the header claims are checked against the
    file's size before they are read (a compressed file's rows grow with the data actually there);
    a repeated word keeps its first vector, as in gensim.
    """
    path = Path(path)
    with _open(path) as f:
        src = BinarySource(f, stored_size(path), "binary word2vec")
        first = src.until(b"\n", "the header line")
        header = _word2vec_header(path, first)
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


def _cache_files(cache_dir: str | os.PathLike, path: Path, limit: int | None) -> tuple[Path, Path]:
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{limit}".encode()).hexdigest()[:16]
    base = f"{default_name(path)}-{key}"
    folder = Path(os.path.expanduser(str(cache_dir)))
    return folder / f"{base}.npy", folder / f"{base}.words"


def _load_text_cached(
    path: Path, header: tuple[int, int] | None, limit: int | None, cache_dir: str | os.PathLike | None
) -> tuple[list[str], np.ndarray]:
    use_cache = cache_dir is not None and path.stat().st_size >= CACHE_MIN_BYTES
    if use_cache:
        npy, words_file = _cache_files(cache_dir, path, limit)
        cached = _read_cache(npy, words_file)
        if cached is not None:
            log.info("using the parsed copy of %s in %s", path, npy.parent)
            return cached
    words, matrix = _load_text(path, header, limit)
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


def _load_text(path: Path, header: tuple[int, int] | None, limit: int | None) -> tuple[list[str], np.ndarray]:
    """word2vec text (``count dim`` header) or GloVe text (no header), parsed in chunks by numpy."""
    first_line = 2 if header else 1  # file line number of the first record
    want = header[0] if header else None
    if limit is not None:
        want = limit if want is None else min(want, limit)
    dim = header[1] if header else None
    words: list[str] = []
    blocks: list[np.ndarray] = []
    with _open(path) as f:  # damaged compression: a W2VError naming the file and line, from any read
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
