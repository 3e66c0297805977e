"""Download a corpus file once into a cache, checked against a known checksum.

``corpus=text8`` without ``corpus.path`` uses it: the file comes from gensim-data's text8 release
(the file ``gensim.downloader.load("text8")`` fetches) and is checked against the md5 that gensim-data
publishes for it. The bytes go to a temporary file beside the target and are renamed into place only
when the checksum matches, so a failed, interrupted or tampered download leaves nothing behind, and
a file in the cache has always been verified.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from w2v.atomic import atomic_open
from w2v.errors import W2VError

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 10.0  # seconds per network operation: an offline machine fails at once instead of hanging
_READ = 1 << 20
_LOG_EVERY_SECONDS = 5.0


class ChecksumMismatch(W2VError):
    """The downloaded bytes are not the published file; nothing was kept."""


def parse_checksum(spec: str) -> tuple[str, str]:
    """``"md5:<hex>"`` or ``"sha256:<hex>"`` -> (algorithm, lowercase hex digest)."""
    algo, sep, digest = spec.partition(":")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if not sep or algo not in ("md5", "sha1", "sha256") or not digest or any(c not in "0123456789abcdef" for c in digest):
        raise W2VError(f"invalid checksum {spec!r}: write it as md5:<hex> or sha256:<hex>")
    return algo, digest


def download_verified(url: str, dest: Path, checksum: str | None, offline_hint: str, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Fetch ``url`` into ``dest``; keep it only if its digest equals ``checksum`` (None: no check)."""
    expected = parse_checksum(checksum) if checksum else None
    hasher = hashlib.new(expected[0]) if expected else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    t0 = last_log = time.perf_counter()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_open(dest, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            while chunk := response.read(_READ):
                f.write(chunk)
                size += len(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                if time.perf_counter() - last_log > _LOG_EVERY_SECONDS:
                    last_log = time.perf_counter()
                    log.info("downloaded %.1f MB%s", size / 1e6, f" of {total / 1e6:.1f}" if total else "")
            if expected is not None and hasher.hexdigest() != expected[1]:
                # Raised inside the block: atomic_open then deletes the temporary file, so nothing stays.
                raise ChecksumMismatch(
                    f"the download of {url} does not match its published {expected[0]} {expected[1]} "
                    f"(got {hasher.hexdigest()}, {size} bytes): nothing was kept; try again, or {offline_hint}"
                )
    except W2VError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise W2VError(f"cannot download {url} ({reason}); {offline_hint}") from None
    check = f"{expected[0]} verified" if expected else "no checksum given"
    log.info("downloaded %s: %.1f MB in %.1fs, %s", dest.name, size / 1e6, time.perf_counter() - t0, check)
    return dest


def cached_corpus_file(ccfg: Any) -> Path:
    """The corpus file of a config without ``corpus.path``: ``corpus.cache_dir``/<file name of ``corpus.url``>,
    downloaded and verified against ``corpus.checksum`` the first time."""
    if not ccfg.get("url"):
        raise W2VError(f"corpus={ccfg.kind} has no corpus.path and no corpus.url: pass corpus.path=/path/to/file")
    name = Path(urllib.request.url2pathname(ccfg.url.rsplit("/", 1)[-1])).name or f"{ccfg.kind}.download"
    dest = Path(os.path.expanduser(ccfg.cache_dir)) / name
    if dest.is_file():
        return dest
    hint = f"offline? train on a local copy with corpus.path=/path/to/{ccfg.kind} (plain or .gz), or put {name} into {ccfg.cache_dir}"
    return download_verified(ccfg.url, dest, ccfg.get("checksum"), hint)
