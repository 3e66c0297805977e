"""Approximate nearest neighbours by cosine, for vocabularies of millions (optional).

Exact search (``similar.py``, :func:`w2v.similar.most_similar`) multiplies the query by the whole
(V, D) table: 400k GloVe words take a few ms a query, millions of words tens of ms. An HNSW graph
(Malkov & Yashunin, 2016) answers in well under a millisecond at a recall@10 close to 1
(docs/neighbours.md has the measurements). Three libraries are supported behind one interface;
``hnswlib``, the default and the ``ann`` extra, was the fastest in those measurements (queries, and
builds); ``faiss`` (faiss-cpu, which ships binary wheels where hnswlib compiles from source) came close.

The index holds unit-length rows and ranks by inner product, so its scores are cosines, as exact
search's. Each library is imported only when asked for; a missing one is a one-line error naming
the extra to install. An index can be kept next to its vectors file (:func:`cached_index`) and is
reused while it is newer than that file and matches its shape.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2v.errors import W2VError

log = logging.getLogger(__name__)

DEFAULT_KIND = "faiss"  # binary wheels everywhere; hnswlib is ~20% faster per query but builds from source
# kind -> (module to import, pip package, file suffix next to the vectors)
KINDS = {
    "usearch": ("usearch.index", "usearch", ".usearch"),
    "hnswlib": ("hnswlib", "hnswlib", ".hnswlib"),
    "faiss": ("faiss", "faiss-cpu", ".faiss"),
}
EXTRA = 'pip install -e ".[ann]"'
# Candidates kept while searching: 128 found 98% of the exact top-10 on GloVe's 400k words in about
# 0.2 ms a query (64: 96% in 0.13 ms; docs/neighbours.md).
DEFAULT_EF_SEARCH = 128


@dataclass
class AnnIndex:
    """An HNSW index over ``size`` unit vectors of ``dim`` floats; ``native`` is the library's object."""

    kind: str
    size: int
    dim: int
    native: Any
    ef_search: int  # candidates kept while searching: higher = better recall, slower queries


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise W2VError(f"unknown index kind {kind!r}: use one of {', '.join(KINDS)}")


def _library(kind: str) -> Any:
    """The module behind ``kind``, imported now; a one-line error when it is unknown or not installed."""
    _check_kind(kind)
    module, package, _ = KINDS[kind]
    try:
        return importlib.import_module(module)
    except ImportError:
        how = EXTRA if kind == DEFAULT_KIND else f"pip install {package}"
        raise W2VError(f"the {kind} index needs the {package} package: {how}") from None


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` as the (n, D) C-contiguous float32 array the libraries take."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
        raise W2VError(f"an index needs a non-empty (words, dims) table, not shape {matrix.shape}")
    return rows


def build_index(
    normalised_matrix: np.ndarray,
    kind: str = DEFAULT_KIND,
    connectivity: int = 16,
    ef_construction: int = 128,
    ef_search: int = DEFAULT_EF_SEARCH,
    threads: int = 0,
) -> AnnIndex:
    """An HNSW index over the rows of ``normalised_matrix`` (V, D), unit-length as ``Vectors.unit``.

    Row ``i`` is key ``i``. ``connectivity`` is HNSW's M (links per node), ``ef_construction`` and
    ``ef_search`` the candidate lists while building and searching (the three libraries' defaults
    differ; M and ef_construction are usearch's, used for all so they compare; docs/neighbours.md has
    recall and query time against ``ef_search``). ``threads`` builds in parallel (0 = all cores).
    """
    rows = _unit_rows(normalised_matrix)
    lib = _library(kind)
    size, dim = rows.shape
    threads = threads or os.cpu_count() or 1
    t0 = time.perf_counter()
    if kind == "usearch":
        native = lib.Index(ndim=dim, metric="ip", dtype="f32", connectivity=connectivity, expansion_add=ef_construction)
        native.add(np.arange(size, dtype=np.uint64), rows, threads=threads)
    elif kind == "hnswlib":
        native = lib.Index(space="ip", dim=dim)
        native.init_index(max_elements=size, ef_construction=ef_construction, M=connectivity, random_seed=0)
        native.add_items(rows, np.arange(size), num_threads=threads)
    else:
        native = lib.IndexHNSWFlat(dim, connectivity, lib.METRIC_INNER_PRODUCT)
        native.hnsw.efConstruction = ef_construction
        with _faiss_threads(lib, threads):
            native.add(rows)
    index = AnnIndex(kind, size, dim, native, ef_search)
    set_ef_search(index, ef_search)
    log.info("built a %s index of %d x %d in %.1fs", kind, size, dim, time.perf_counter() - t0)
    return index


def set_ef_search(index: AnnIndex, ef_search: int) -> None:
    """Change how many candidates a search keeps (recall against speed), without rebuilding."""
    if ef_search < 1:
        raise W2VError(f"invalid ef_search={ef_search}: must be >= 1")
    index.ef_search = ef_search
    if index.kind == "usearch":
        index.native.expansion_search = ef_search
    elif index.kind == "hnswlib":
        index.native.set_ef(ef_search)
    else:
        index.native.hnsw.efSearch = ef_search


@contextmanager
def _faiss_threads(lib: Any, threads: int) -> Iterator[None]:
    """faiss's OpenMP thread count is process-wide: set it for one call, then put it back."""
    before = lib.omp_get_max_threads()
    lib.omp_set_num_threads(threads)
    try:
        yield
    finally:
        lib.omp_set_num_threads(before)


def query(index: AnnIndex, vectors: np.ndarray, topn: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``topn`` nearest rows to each of ``vectors`` (n, D) or (D,), by cosine if they are unit-length.

    Returns ``(rows, cosines)``, both (n, topn) and best first: int64 row numbers and float32 inner
    products. Fewer than ``topn`` found (a tiny index) leaves row -1 and cosine -inf at the end.
    To leave the query words out, as ``most_similar`` does, ask for ``topn + len(words)`` and drop them.
    ``threads`` spreads a batch of queries over cores (a single query uses one).
    """
    if topn < 1:
        raise W2VError(f"invalid value topn={topn}: must be >= 1")
    q = _unit_rows(vectors)
    if q.shape[1] != index.dim:
        raise W2VError(f"query vectors have {q.shape[1]} dims but the index has {index.dim}")
    k = min(topn, index.size)
    rows = np.full((len(q), topn), -1, dtype=np.int64)
    sims = np.full((len(q), topn), -np.inf, dtype=np.float32)
    if index.kind == "usearch":
        found = index.native.search(q, k, threads=threads)
        if len(q) == 1:  # usearch answers one query with only the keys it found
            n = len(found.keys)
            rows[0, :n], sims[0, :n] = found.keys, 1.0 - found.distances  # usearch's "ip" distance is 1 - dot
        else:  # (n, k), padded after each row's ``counts``
            valid = np.arange(k)[None, :] < found.counts[:, None]
            rows[:, :k] = np.where(valid, found.keys.astype(np.int64), -1)
            sims[:, :k] = np.where(valid, 1.0 - found.distances, -np.inf)
    elif index.kind == "hnswlib":
        labels, dist = index.native.knn_query(q, k=k, num_threads=threads)
        rows[:, :k], sims[:, :k] = labels, 1.0 - dist  # hnswlib's "ip" distance is 1 - dot too
    else:
        lib = _library("faiss")
        with _faiss_threads(lib, threads):
            dots, labels = index.native.search(q, k)
        rows[:, :k] = labels
        sims[:, :k] = np.where(labels >= 0, dots, -np.inf)  # faiss returns the inner products themselves
    return rows, sims


def index_file(vectors_file: str | os.PathLike, kind: str = DEFAULT_KIND) -> Path:
    """Where the index of ``vectors_file`` is kept: beside it, ``vectors.bin`` -> ``vectors.bin.hnswlib``."""
    _check_kind(kind)
    path = Path(vectors_file)
    return path.with_name(path.name + KINDS[kind][2])


def save_index(index: AnnIndex, path: str | os.PathLike) -> Path:
    """Write ``index`` to ``path`` through a temporary file, so a reader never sees half an index."""
    lib = _library(index.kind)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if index.kind == "usearch":
            index.native.save(str(tmp))
        elif index.kind == "hnswlib":
            index.native.save_index(str(tmp))
        else:
            lib.write_index(index.native, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_index(path: str | os.PathLike, kind: str, size: int, dim: int, ef_search: int = DEFAULT_EF_SEARCH) -> AnnIndex:
    """Read an index written by :func:`save_index` for a table of ``size`` x ``dim``.

    An index of any other shape or metric is refused (one line), since its row numbers would name
    other words; usearch's header is checked before the index is read. The file is trusted as this
    module's own cache (the libraries' readers are not hardened against hostile files).
    """
    lib = _library(kind)
    path = Path(path)
    if not path.is_file():
        raise W2VError(f"index file {path} not found")
    try:
        if kind == "usearch":
            meta = lib.Index.metadata(str(path))
            same = meta is not None and int(meta["dimensions"]) == dim and int(meta["count_present"]) == size
            if not same or meta["kind_metric"] != lib.MetricKind.IP:
                raise W2VError(f"{path} is not a usearch index of {size} x {dim}: delete it to rebuild")
            native = lib.Index.restore(str(path))
            found = (len(native), native.ndim)
        elif kind == "hnswlib":
            native = lib.Index(space="ip", dim=dim)
            native.load_index(str(path), max_elements=size)
            found = (native.get_current_count(), native.dim)
        else:
            native = lib.read_index(str(path))
            if native.metric_type != lib.METRIC_INNER_PRODUCT:
                raise W2VError(f"{path} is a faiss index by another metric than inner product: delete it to rebuild")
            found = (native.ntotal, native.d)
    except (RuntimeError, ValueError, OSError, KeyError, TypeError) as exc:
        raise W2VError(
            f"cannot read the {kind} index {path} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): delete it to rebuild"
        ) from None
    if found != (size, dim):
        raise W2VError(f"{path} indexes {found[0]} x {found[1]} vectors, not {size} x {dim}: delete it to rebuild")
    index = AnnIndex(kind, size, dim, native, ef_search)
    set_ef_search(index, ef_search)
    return index


def cached_index(normalised_matrix: np.ndarray, vectors_file: str | os.PathLike, kind: str = DEFAULT_KIND, **params: Any) -> AnnIndex:
    """The index kept beside ``vectors_file`` if it is newer and of the same shape, else a new one, saved there.

    ``params`` go to :func:`build_index`. A folder we may not write to only costs the saving (a warning).
    """
    rows = _unit_rows(normalised_matrix)
    path = index_file(vectors_file, kind)
    source = Path(vectors_file)
    if path.is_file() and (not source.exists() or path.stat().st_mtime >= source.stat().st_mtime):
        try:
            return load_index(path, kind, rows.shape[0], rows.shape[1], params.get("ef_search", DEFAULT_EF_SEARCH))
        except W2VError as exc:
            log.warning("%s; building a new index", exc)
    index = build_index(rows, kind, **params)
    try:
        save_index(index, path)
    except OSError as exc:
        log.warning("index not saved to %s (%s): it is rebuilt next time", path, exc.strerror or exc)
    return index
