"""Where corpus text comes from: local files, text8's download, gensim's Lee corpus, or `datasets` rows.

Every source is read as ``(text, ends_line)`` pieces of bounded size, so memory does not grow with
corpus size or line length: a line longer than ``READ_CHUNK`` characters (text8 is one 100 MB line)
comes in several pieces, never splitting a token. :mod:`w2v.data.tokenizers` trains on these pieces
and :mod:`w2v.data.corpus` cuts them into sentences.
"""

from __future__ import annotations

import codecs
import glob
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from w2v.data.download import cached_corpus_file
from w2v.errors import W2VError
from w2v.io import GuardedFile, open_file

READ_CHUNK = 1 << 20  # characters per read: bounds memory on files with huge lines

# Undecodable bytes become U+FFFD and are counted here, not fatal.
_undecodable = {"bytes": 0}


def _count_and_replace(exc: UnicodeDecodeError) -> tuple[str, int]:
    _undecodable["bytes"] += exc.end - exc.start
    return "\ufffd", exc.end


codecs.register_error("w2v-count", _count_and_replace)


def undecodable_bytes() -> int:
    """Bytes replaced so far because they were not valid UTF-8 (process-wide counter)."""
    return _undecodable["bytes"]


def open_text(path: str | os.PathLike, what: str = "file") -> GuardedFile:
    """Open a plain, .gz, .bz2 or .xz file as UTF-8 text, replacing (and counting) bad bytes.

    Damaged compression, at any read, is a one-line W2VError naming the file (``what`` says which
    kind: "corpus file", "similarity file", ...) and the lines read so far (:func:`w2v.io.open_file`).
    """
    return open_file(path, "rt", what=what, encoding="utf-8", errors="w2v-count")


def resolve_paths(spec: str | None, what: str = "corpus.path") -> list[Path]:
    """Expand a file, directory or glob into a sorted list of files, or fail with a clear message."""
    if not spec:
        raise W2VError(f"{what} is not set: pass {what}=/path/to/file.txt (plain, .gz, .bz2, .xz; globs allowed)")
    expanded = os.path.expanduser(spec)
    if any(ch in expanded for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(expanded, recursive=True) if Path(p).is_file())
        if not files:
            raise W2VError(f"{what}={spec!r}: the glob matches no files; check the pattern")
        return files
    path = Path(expanded)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise W2VError(f"{what}={spec!r} is an empty directory; point it at text files")
        return files
    if not path.exists():
        raise W2VError(f"{what}={spec!r}: no such file; check the path")
    return [path]


def iter_file_pieces(path: Path) -> Iterator[tuple[str, bool]]:
    """Yield ``(text, ends_line)`` pieces of at most READ_CHUNK characters, never splitting a token."""
    carry = ""
    with open_text(path, "corpus file") as f:  # a damaged stream fails mid-iteration as a W2VError naming the file
        while True:
            piece = f.readline(READ_CHUNK)
            if not piece:
                break
            if piece.endswith("\n"):
                yield carry + piece, True
                carry = ""
                continue
            # A partial line: keep the trailing (possibly cut) token for the next piece.
            text = carry + piece
            cut = max(text.rfind(" "), text.rfind("\t"))
            if cut < 0:
                carry = text if len(text) < 16 * READ_CHUNK else ""
                continue
            yield text[:cut], False
            carry = text[cut + 1 :]
    if carry:
        yield carry, True


def gensim_datapath(name: str) -> Path:
    """Path of a file in gensim's bundled test data, without importing gensim (which logs noisily)."""
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise W2VError(f"gensim is not installed, so its bundled {name} is unavailable: pip install gensim")
    return Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data" / name


def _lee_path() -> Path:
    return gensim_datapath("lee_background.cor")


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Cheap check that the Hugging Face Hub answers, so an offline run fails at once, not after retries."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _iter_hf_texts(ccfg: Any, shard: tuple[int, int] | None = None) -> Iterator[tuple[str, bool]]:
    """Rows of a `datasets` dataset (hub or local) as whole-line pieces; with ``shard=(rank, world)`` only
    this rank's rows, read by ``datasets.distributed.split_dataset_by_node`` (a streaming dataset whose
    shard count W divides gets whole shards ``rank, rank + W, ...``, else every W-th row; an in-memory one
    a contiguous chunk), so a rank never downloads or parses another rank's shards."""
    path = ccfg.path
    local = path is not None and Path(os.path.expanduser(path)).exists()
    if path is None:
        raise W2VError("corpus.path is not set for corpus=hf: pass a dataset name or a local directory")
    if not local and not hub_reachable() and os.environ.get("HF_DATASETS_OFFLINE") != "1":
        # Fall back to the local datasets cache; if that misses too, say how to go offline properly.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets

    try:
        if local:
            p = Path(os.path.expanduser(path))
            if p.is_file():
                builder = {".txt": "text", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}.get(p.suffix, "text")
                ds = datasets.load_dataset(builder, data_files=str(p), split=ccfg.split, streaming=ccfg.streaming)
            else:
                ds = datasets.load_dataset(str(p), ccfg.name, split=ccfg.split, streaming=ccfg.streaming)
        else:
            ds = datasets.load_dataset(path, ccfg.name, split=ccfg.split, streaming=ccfg.streaming)
    except Exception as exc:  # datasets raises many types; all mean "could not load"
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise W2VError(
                f"cannot load dataset {path!r} ({ccfg.name}): the Hugging Face Hub is unreachable and it is not cached; "
                "train from local files instead: corpus=text corpus.path=/path/to/*.txt"
            ) from None
        raise W2VError(f"cannot load dataset {path!r} ({ccfg.name}): {str(exc).splitlines()[0]}") from None
    if shard is not None and shard[1] > 1:
        from datasets.distributed import split_dataset_by_node

        ds = split_dataset_by_node(ds, rank=shard[0], world_size=shard[1])
    column = ccfg.column
    for row in ds:
        if column not in row:
            raise W2VError(f"dataset {path!r} has no column {column!r}: set corpus.column to one of {sorted(row)}")
        yield str(row[column] or ""), True


def _download_or_paths(ccfg: Any) -> list[Path]:
    """``corpus.path``'s files; for text8 without a path, the verified download in ``corpus.cache_dir``."""
    if ccfg.kind == "text8" and not ccfg.path:
        return [cached_corpus_file(ccfg)]
    return resolve_paths(ccfg.path)


def take_share(pieces: Iterable[tuple[str, bool]], rank: int, world: int) -> Iterator[tuple[str, bool]]:
    """Pieces ``rank, rank + world, ...`` of a file stream, each ending its sentence.

    A piece is a line, or a ``READ_CHUNK`` part of a longer one (text8's single line), so even one huge
    line is shared out. Skipped pieces are read and decoded but never tokenised (the tokeniser is the
    costly part). A kept part of a long line ends its sentence, since the next part went to another rank.
    """
    for i, (text, _) in enumerate(pieces):
        if i % world == rank:
            yield text, True


def iter_pieces(ccfg: Any, shard: tuple[int, int] | None = None) -> Iterator[tuple[str, bool]]:
    """The configured text corpus as ``(text, ends_line)`` pieces (files, text8, or `datasets` rows).

    ``shard=(rank, world)``: one rank's share only (see :func:`w2v.data.corpus.iter_sentences`).
    """
    rank, world = shard or (0, 1)
    if ccfg.kind == "hf":
        yield from _iter_hf_texts(ccfg, shard)
        return
    paths = [_lee_path()] if ccfg.kind == "lee" and not ccfg.path else _download_or_paths(ccfg)
    pieces = (piece for p in paths for piece in iter_file_pieces(p))
    yield from take_share(pieces, rank, world) if world > 1 else pieces
