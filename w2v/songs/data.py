"""The Cornell "yes_complete" radio playlists: find or download the files, parse, split, metadata.

Format (the dataset's README): in ``train.txt`` line 1 holds the songs' external ids and line 2
their counts, both skipped; every further line is one playlist of space-separated integer song
ids. ``song_hash.txt`` is ``id \\t title \\t artist`` (the id field carries a trailing space);
``tags.txt`` has one line of tag ids per song (``#`` for none) and ``tag_hash.txt`` is ``id, name``.

Evaluation holds out the last song of a fixed-seed sample of the playlists (Caselles-Dupré et al.
2018): those playlists train without their last song, and the song before it is the query.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from w2v.data.corpus import open_text
from w2v.data.download import download_verified, verify_cached
from w2v.errors import W2VError

log = logging.getLogger(__name__)

PLAYLISTS = "train.txt"
SONGS = "song_hash.txt"
TAGS = "tags.txt"
TAG_NAMES = "tag_hash.txt"
# Song ids index dense per-song arrays (counts, ranks): a larger id is damage, not a catalogue
# (the dataset has 75,262 songs; Spotify's Million Playlist Dataset 2.3M tracks).
MAX_SONG_ID = (1 << 24) - 1
_OFFLINE_HINT = "offline? point corpus.path at a local copy (a directory with train.txt[.gz] and song_hash.txt[.gz])"


# --- finding the files ---------------------------------------------------------------------------


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _checksum(ccfg: Any, name: str) -> str | None:
    """``corpus.checksums[name]``: the pinned digest of a downloaded file (None: not checked)."""
    return (getattr(ccfg, "checksums", None) or {}).get(name)


def cached_file(ccfg: Any, name: str) -> Path | None:
    """``name`` (or ``name.gz``) in ``corpus.cache_dir``, verified against its checksum; None when absent.

    A ``.gz`` put there by hand is checked by its content, which is what the checksum pins.
    """
    found = find_file(Path(os.path.expanduser(ccfg.cache_dir)), name)
    return None if found is None else verify_cached(found, _checksum(ccfg, name), decompress=found.name != name)


def playlists_file(ccfg: Any) -> Path:
    """The playlist file of a corpus config: ``corpus.path`` (file or directory) or the download cache."""
    spec = getattr(ccfg, "path", None)
    if not spec:
        cache = Path(os.path.expanduser(ccfg.cache_dir))
        for name in (PLAYLISTS, SONGS):  # the two files the tutorial uses; tags stay optional
            if cached_file(ccfg, name) is None:  # each kept only whole and verified (download_verified)
                download_verified(f"{ccfg.url.rstrip('/')}/{name}", cache / name, _checksum(ccfg, name), _OFFLINE_HINT)
        return find_file(cache, PLAYLISTS) or cache / PLAYLISTS
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        found = find_file(path, PLAYLISTS)
        if found is None:
            raise W2VError(f"corpus.path={spec!r} has no {PLAYLISTS} or {PLAYLISTS}.gz; point it at the playlists directory or file")
        return found
    if not path.is_file():
        raise W2VError(f"corpus.path={spec!r}: no such file or directory; point it at the playlists (train.txt[.gz]) or its directory")
    return path


def metadata_file(ccfg: Any) -> Path | None:
    """``song_hash.txt`` of a corpus config: ``corpus.metadata``, else beside the playlists, else None."""
    spec = getattr(ccfg, "metadata", None)
    if spec:
        path = Path(os.path.expanduser(spec))
        if path.is_dir():
            path = find_file(path, SONGS) or path / SONGS
        if not path.is_file():
            raise W2VError(f"corpus.metadata={spec!r}: no such file; point it at song_hash.txt[.gz]")
        return path
    if not getattr(ccfg, "path", None):
        return cached_file(ccfg, SONGS)
    folder = Path(os.path.expanduser(ccfg.path))
    return find_file(folder if folder.is_dir() else folder.parent, SONGS)


# --- playlists -----------------------------------------------------------------------------------


@dataclass
class Playlists:
    """Parsed playlists (each an int64 array of >= 2 song ids) and what parsing skipped."""

    path: Path
    playlists: list[np.ndarray]
    dropped_short: int = 0  # playlists with fewer than 2 songs
    bad_tokens: int = 0  # tokens that are not non-negative integers
    first_bad: str = ""  # "file:line: 'token'" of the first bad token

    @property
    def n_songs(self) -> int:
        """One more than the largest song id (ids are 0..n-1)."""
        return 1 + max((int(p.max()) for p in self.playlists), default=-1)


def _is_song_id(token: str) -> bool:
    """A non-negative ASCII integer no larger than MAX_SONG_ID (the length test first: ``int`` of a
    100k-digit token is slow, then refused)."""
    return len(token) <= 10 and token.isascii() and token.isdigit() and int(token) <= MAX_SONG_ID


def _parse_ids(tokens: list[str]) -> tuple[list[int], list[str]]:
    try:
        ids = list(map(int, tokens))  # the fast path: a whole line of good ids
        if not ids or (min(ids) >= 0 and max(ids) <= MAX_SONG_ID):
            return ids, []
    except ValueError:
        pass
    good = [int(t) for t in tokens if _is_song_id(t)]
    return good, [t for t in tokens if not _is_song_id(t)]


def parse_playlists(path: Path) -> Playlists:
    """Read a playlist file: skip the two header lines, drop playlists shorter than 2, count bad tokens
    (not an integer, negative, or above MAX_SONG_ID)."""
    result = Playlists(Path(path), [])
    with open_text(path, "playlists") as f:  # damaged compression: a W2VError naming the file and line
        for lineno, line in enumerate(f, 1):
            if lineno <= 2:
                continue  # external ids, then counts
            ids, bad = _parse_ids(line.split())
            if bad:
                if not result.bad_tokens:
                    result.first_bad = f"{path}:{lineno}: {bad[0][:40]!r}"
                result.bad_tokens += len(bad)
            if len(ids) < 2:
                result.dropped_short += bool(line.strip())
                continue
            result.playlists.append(np.asarray(ids, dtype=np.int64))
    if not result.playlists:
        hint = f" ({result.bad_tokens} non-integer tokens, first at {result.first_bad})" if result.bad_tokens else ""
        raise W2VError(f"{path} holds no playlist of 2 or more integer song ids{hint}; is it the dataset's train.txt?")
    if result.bad_tokens:
        log.warning("skipped %d non-integer tokens in %s (first at %s)", result.bad_tokens, path, result.first_bad)
    return result


_cache: dict[tuple[str, int, int], Playlists] = {}


def load_playlists(path: Path) -> Playlists:
    """:func:`parse_playlists`, remembered for the last file so per-epoch evaluations parse once."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
    if key not in _cache:
        _cache.clear()
        _cache[key] = parse_playlists(path)
    return _cache[key]


# --- the held-out split --------------------------------------------------------------------------


@dataclass
class Split:
    """Training playlists, and for each held-out playlist its last song (target) and the one before (query)."""

    train: list[np.ndarray]
    held: np.ndarray  # indices of the held-out playlists
    queries: np.ndarray  # song before the held-out one
    targets: np.ndarray  # the held-out last song
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # training count per song id
    max_tokens: int | None = None  # training reads only this prefix of ``train``

    def train_sentences(self) -> Iterator[list[str]]:
        """The training playlists as song-id strings, cut at ``max_tokens`` as the trainer cuts them."""
        left = self.max_tokens if self.max_tokens is not None else -1
        for ids in self.train:
            if left == 0:
                return
            cut = ids if left < 0 else ids[:left]
            left = left - len(cut) if left > 0 else left
            yield [str(i) for i in cut.tolist()]


def holdout_indices(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``round(fraction * n)`` playlists drawn without replacement by ``seed``."""
    if not 0 <= fraction < 1:
        raise W2VError(f"invalid value corpus.holdout={fraction}: must be in [0, 1)")
    k = round(fraction * n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def make_split(playlists: Playlists, fraction: float, seed: int, max_tokens: int | None = None) -> Split:
    """Hold out the last song of a seeded ``fraction`` of the playlists.

    With ``max_tokens`` (``corpus.max_tokens``: training reads only a prefix) the counts cover that
    prefix and only held-out playlists wholly inside it are evaluated.
    """
    pls = playlists.playlists
    held = holdout_indices(len(pls), fraction, seed)
    train = list(pls)
    for i in held.tolist():
        train[i] = pls[i][:-1]
    tokens = np.concatenate(train)
    if max_tokens is not None:
        ends = np.cumsum([len(p) for p in train])  # (P,) training tokens up to and including each playlist
        held = held[ends[held] <= max_tokens]
        tokens = tokens[:max_tokens]
    queries = np.asarray([pls[i][-2] for i in held.tolist()], dtype=np.int64)
    targets = np.asarray([pls[i][-1] for i in held.tolist()], dtype=np.int64)
    counts = np.bincount(tokens, minlength=playlists.n_songs).astype(np.int64)
    return Split(train, held, queries, targets, counts, max_tokens)


def corpus_split(ccfg: Any) -> Split:
    """The split a playlists corpus config describes (file, holdout fraction and seed, max_tokens)."""
    playlists = load_playlists(playlists_file(ccfg))
    return make_split(playlists, float(ccfg.holdout), int(ccfg.holdout_seed), getattr(ccfg, "max_tokens", None))


def iter_playlists(source: Any) -> Iterator[list[str]]:
    """Training sentences: playlists as lists of song-id strings, held-out last songs removed.

    ``source`` is the corpus config (``path``, ``holdout``, ``holdout_seed``...) or a plain path,
    which trains on every playlist whole. Playlists longer than ``max_sentence_length`` are cut.
    """
    if isinstance(source, (str, os.PathLike)):
        playlists = load_playlists(Path(source))
        split = make_split(playlists, 0.0, 0)
        max_len = 10000
    else:
        playlists = load_playlists(playlists_file(source))
        split = make_split(playlists, float(source.holdout), int(source.holdout_seed))
        max_len = int(source.max_sentence_length)
    log.info(
        "playlists: %d kept, %d dropped (fewer than 2 songs), %d non-integer tokens skipped; last song of %d held out",
        len(playlists.playlists),
        playlists.dropped_short,
        playlists.bad_tokens,
        len(split.held),
    )
    for ids in split.train:
        for lo in range(0, len(ids), max_len):
            yield [str(i) for i in ids[lo : lo + max_len].tolist()]


# --- metadata ------------------------------------------------------------------------------------


@dataclass
class Catalog:
    """Title, artist and (optionally) tags per song id."""

    titles: dict[int, tuple[str, str]]
    tags: dict[int, list[str]] = field(default_factory=dict)
    bad_lines: int = 0

    def describe(self, song: int) -> tuple[str, str]:
        """(title, artist), or ("?", "?") when the metadata lacks the id."""
        return self.titles.get(song, ("?", "?"))


def _clean(text: str) -> str:
    return text.replace("\\/", "/").strip()


def load_catalog(path: Path | None, with_tags: bool = False) -> Catalog:
    """Read ``song_hash.txt`` (and ``tags.txt`` + ``tag_hash.txt`` beside it when asked and present)."""
    catalog = Catalog({})
    if path is None:
        return catalog
    with open_text(path, "song metadata") as f:  # damaged compression: a W2VError naming the file and line
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or not _is_song_id(parts[0].strip()):
                catalog.bad_lines += bool(line.strip())
                continue
            catalog.titles[int(parts[0])] = (_clean(parts[1]), _clean(parts[2]))
    if catalog.bad_lines:
        log.warning("skipped %d malformed lines in %s (expected 'id<TAB>title<TAB>artist')", catalog.bad_lines, path)
    if with_tags:
        catalog.tags = _load_tags(path.parent)
    return catalog


def _load_tags(folder: Path) -> dict[int, list[str]]:
    tags_path, names_path = find_file(folder, TAGS), find_file(folder, TAG_NAMES)
    if tags_path is None or names_path is None:
        log.warning("no %s/%s in %s: the tags column stays empty", TAGS, TAG_NAMES, folder)
        return {}
    names: dict[str, str] = {}
    with open_text(names_path, "tag names") as f:
        for line in f:
            tag_id, sep, name = line.partition(",")
            if sep:
                names[tag_id.strip()] = name.strip()
    tags: dict[int, list[str]] = {}
    with open_text(tags_path, "song tags") as f:
        for song, line in enumerate(f):  # line i holds the tags of song i; '#' means none
            ids = [t for t in line.split() if t != "#"]
            if ids:
                tags[song] = [names.get(t, t) for t in ids]
    return tags
