"""Download a corpus file once into a cache, checked against a known checksum.

``corpus=text8`` without ``corpus.path`` uses it: the file comes from gensim-data's text8 release
(the file ``gensim.downloader.load("text8")`` fetches) and is checked against the md5 that gensim-data
publishes for it; ``corpus=playlists`` fetches its files the same way, each against its own sha256.
The bytes go to a temporary file beside the target and are renamed into place only when the
checksum matches, so a failed, interrupted, oversized, too slow or tampered download leaves nothing
behind. Every download is bounded: ``timeout`` per network operation, ``max_bytes`` in all (checked
against Content-Length up front and counted while reading) and ``deadline`` seconds of wall clock.

A cached file is verified again before each process uses it (:func:`verify_cached`), so a file
changed or damaged since its download is never read. Hashing costs little next to training on the
file (text8.gz, 33 MB: about 0.1 s) and needs no stamp file that could go stale.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Any

from w2v.atomic import atomic_open
from w2v.errors import W2VError

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 10.0  # seconds per network operation: an offline machine fails at once instead of hanging
DOWNLOAD_MAX_BYTES = 2 << 30  # 2 GiB: 60x text8.gz; a server sending more is not sending the corpus
DOWNLOAD_DEADLINE = 3600.0  # seconds for a whole download (text8.gz at 100 kB/s takes 6 minutes)
_READ = 1 << 20
_LOG_EVERY_SECONDS = 5.0
_verified: dict[tuple[str, int, int, int, str], bool] = {}  # (path, size, mtime_ns, inode, checksum) seen good


class ChecksumMismatch(W2VError):
    """The downloaded bytes are not the published file; nothing was kept."""


class _Cancelled(W2VError):
    """The download ran past its deadline; the worker stops at its next read."""


def parse_checksum(spec: str) -> tuple[str, str]:
    """``"md5:<hex>"`` or ``"sha256:<hex>"`` -> (algorithm, lowercase hex digest)."""
    algo, sep, digest = spec.partition(":")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if not sep or algo not in ("md5", "sha1", "sha256") or not digest or any(c not in "0123456789abcdef" for c in digest):
        raise W2VError(f"invalid checksum {spec!r}: write it as md5:<hex> or sha256:<hex>")
    return algo, digest


def download_verified(
    url: str,
    dest: Path,
    checksum: str | None,
    offline_hint: str,
    timeout: float = DOWNLOAD_TIMEOUT,
    max_bytes: int = DOWNLOAD_MAX_BYTES,
    deadline: float = DOWNLOAD_DEADLINE,
) -> Path:
    """Fetch ``url`` into ``dest``; keep it only if its digest equals ``checksum`` (None: no check).

    The fetch runs in a worker thread so that ``deadline`` bounds all of it, a server that sends its
    headers or body a byte at a time included; past the deadline the worker stops at its next read
    and deletes its temporary file.
    """
    expected = parse_checksum(checksum) if checksum else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    stop, outcome = threading.Event(), []
    worker = threading.Thread(
        target=_run_fetch, args=(outcome, url, dest, expected, offline_hint, timeout, max_bytes, stop), daemon=True, name="w2v-download"
    )
    worker.start()
    try:
        worker.join(deadline)
    finally:  # past the deadline, or Ctrl-C: tell the worker to stop and give it one read to clean up
        if worker.is_alive():
            stop.set()
            worker.join(timeout + 1.0)
    if not outcome or isinstance(outcome[0], _Cancelled):
        raise W2VError(
            f"downloading {url} took longer than {deadline:g}s: nothing was kept; try again on a faster connection, or {offline_hint}"
        )
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return dest


def _run_fetch(outcome: list, *args: Any) -> None:
    """:func:`_fetch` in the worker thread: its result or exception goes to ``outcome``."""
    try:
        outcome.append(_fetch(*args))
    except BaseException as exc:  # handed to the calling thread, which raises it
        outcome.append(exc)


def _fetch(
    url: str, dest: Path, expected: tuple[str, str] | None, hint: str, timeout: float, max_bytes: int, stop: threading.Event
) -> Path:
    """Download ``url`` into ``dest`` through a temporary file; one-line errors for every failure."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = _content_length(response)
            if total is not None and total > max_bytes:
                raise W2VError(f"{url} announces {total} bytes, more than the {max_bytes} a download may take: nothing was kept; {hint}")
            if stop.is_set():  # the headers came after the deadline
                raise _Cancelled(url)
            with atomic_open(dest, "wb") as f:  # an exception inside deletes the temporary file
                size, digest = _copy(response, f, url, expected[0] if expected else None, total, max_bytes, stop, hint)
                if total is not None and size != total:
                    raise W2VError(f"the download of {url} ended after {size} of {total} bytes: nothing was kept; try again, or {hint}")
                if expected is not None and digest != expected[1]:
                    raise ChecksumMismatch(
                        f"the download of {url} does not match its published {expected[0]} {expected[1]} "
                        f"(got {digest}, {size} bytes): nothing was kept; try again, or {hint}"
                    )
    except W2VError:
        raise
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = str(getattr(exc, "reason", None) or exc) or type(exc).__name__  # RemoteDisconnected etc. may say nothing
        raise W2VError(f"cannot download {url} ({reason}); {hint}") from None
    check = f"{expected[0]} verified" if expected else "no checksum given"
    log.info("downloaded %s: %.1f MB in %.1fs, %s", dest.name, size / 1e6, time.perf_counter() - t0, check)
    if expected is not None:
        _remember(dest, f"{expected[0]}:{expected[1]}")
    return dest


def _content_length(response: Any) -> int | None:
    """The announced size in bytes, or None when the server gives none (or nonsense)."""
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _copy(
    response: Any, f: IO[bytes], url: str, algo: str | None, total: int | None, max_bytes: int, stop: threading.Event, hint: str
) -> tuple[int, str | None]:
    """Copy the body into ``f`` within ``max_bytes``: (bytes, hex digest by ``algo`` or None).

    ``read1`` returns what one network read brings, so a body sent a byte at a time still comes back
    here (and to the ``stop`` check) after every read, where ``read`` would wait for a whole buffer.
    """
    read = getattr(response, "read1", response.read)
    hasher = hashlib.new(algo) if algo else None
    size, last_log = 0, time.perf_counter()
    while chunk := read(_READ):
        if stop.is_set():
            raise _Cancelled(url)
        size += len(chunk)
        if size > max_bytes:
            raise W2VError(f"{url} sent more than the {max_bytes} bytes a download may take: nothing was kept; {hint}")
        f.write(chunk)
        if hasher is not None:
            hasher.update(chunk)
        if time.perf_counter() - last_log > _LOG_EVERY_SECONDS:
            last_log = time.perf_counter()
            log.info("downloaded %.1f MB%s", size / 1e6, f" of {total / 1e6:.1f}" if total else "")
    return size, hasher.hexdigest() if hasher else None


# ------------------------------------------------------------------ files already in the cache


def _key(path: Path, checksum: str) -> tuple[str, int, int, int, str]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, checksum


def _remember(path: Path, checksum: str) -> None:
    """Note ``path`` as verified against ``checksum`` for this process (until it changes)."""
    try:
        _verified[_key(path, checksum)] = True
    except OSError:
        pass  # gone again: the next use verifies it


def file_digest(path: Path, algo: str, decompress: bool = False) -> str:
    """Hex digest of ``path``'s bytes (of its gzip content with ``decompress``)."""
    hasher = hashlib.new(algo)
    with gzip.open(path, "rb") if decompress else open(path, "rb") as f:
        while chunk := f.read(_READ):
            hasher.update(chunk)
    return hasher.hexdigest()


def verify_cached(path: Path, checksum: str | None, decompress: bool = False) -> Path:
    """``path``, once its digest (of its gzip content with ``decompress``) equals ``checksum``.

    A mismatch is a one-line error that says to delete the file, not a new download: the file may be
    the user's own copy put into the cache (the offline hint suggests that), and an offline machine
    could not fetch it again anyway. Each file is hashed once per process while it stays unchanged.
    """
    if not checksum:
        return path
    algo, digest = parse_checksum(checksum)
    spec = f"{algo}:{digest}"
    try:
        if _verified.get(_key(path, spec)):
            return path
        got = file_digest(path, algo, decompress)
    except (OSError, EOFError, zlib.error) as exc:
        raise W2VError(f"cannot read the cached {path} ({exc}): delete it to download it again") from None
    if got != digest:
        what = "gzip content" if decompress else "file"
        raise W2VError(
            f"the cached {path} does not match its published {algo} {digest} (its {what} has {got}): "
            f"it changed or was damaged after download; delete it to download it again"
        )
    _remember(path, spec)
    return path


def cached_corpus_file(ccfg: Any) -> Path:
    """The corpus file of a config without ``corpus.path``: ``corpus.cache_dir``/<file name of ``corpus.url``>,
    downloaded and verified against ``corpus.checksum`` the first time, verified again before each use."""
    if not ccfg.get("url"):
        raise W2VError(f"corpus={ccfg.kind} has no corpus.path and no corpus.url: pass corpus.path=/path/to/file")
    name = Path(urllib.request.url2pathname(ccfg.url.rsplit("/", 1)[-1])).name or f"{ccfg.kind}.download"
    dest = Path(os.path.expanduser(ccfg.cache_dir)) / name
    if dest.is_file():
        return verify_cached(dest, ccfg.get("checksum"))
    hint = f"offline? train on a local copy with corpus.path=/path/to/{ccfg.kind} (plain or .gz), or put {name} into {ccfg.cache_dir}"
    return download_verified(ccfg.url, dest, ccfg.get("checksum"), hint)
