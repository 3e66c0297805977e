"""Recommend songs from a trained playlists run: nearest neighbours with titles, artists and tags.

``python recommend.py run=outputs/<run> song=3822 [song=...] [negative=...] [topn=10] [tags=true]``
(or ``w2v-recommend ...``). Songs are ids or title/artist searches; several songs and negatives
combine as in gensim's ``most_similar(positive, negative)``, which
:meth:`w2v.vectors.WordVectors.most_similar` computes. This module is the command around it: the
run's vectors and catalog, the song search, its config schema (``configs/recommend.yaml``) and table.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from w2v.errors import W2VError
from w2v.query_args import QueryArgs
from w2v.songs.data import Catalog, load_catalog, metadata_file
from w2v.vectors import WordVectors, read_word2vec_binary

log = logging.getLogger(__name__)


@dataclass
class RecommendConfig:
    """The keys of ``recommend.py``; ``song`` and ``negative`` may repeat (``song=3822 song=1012``)."""

    run: Optional[str] = None  # the run directory of python train.py corpus=playlists
    song: list[str] = field(default_factory=list)  # song ids or title/artist searches: song=3822, song="billie jean michael jackson"
    negative: list[str] = field(default_factory=list)  # songs to subtract, as song=
    topn: int = 10  # how many songs to list
    tags: bool = False  # show each song's first tags
    metadata: Optional[str] = None  # song_hash.txt; None = beside the run's playlists


def split_songs(value: str) -> list[str]:
    """``[a,b]`` or ``1,2`` is a list; anything else (a title with commas too) is one value."""
    if value.startswith("[") and value.endswith("]"):
        return [v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip()]
    parts = value.split(",")
    return [p.strip() for p in parts] if all(p.strip().isdigit() for p in parts) else [value]


ARGS = QueryArgs(
    RecommendConfig,
    lists={"song": split_songs, "negative": split_songs},
    aliases={"songs": "song", "neg": "negative", "negatives": "negative", "n": "topn"},
)


def register_recommend_config() -> None:
    """Register the schema with Hydra's ConfigStore as ``recommend_schema`` (configs/recommend.yaml)."""
    ConfigStore.instance().store(name="recommend_schema", node=RecommendConfig)


class AmbiguousSong(W2VError):
    """A search matched several songs; ``candidates`` lists their ids (most played first)."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


@dataclass
class SongRun:
    """A trained playlists run: vectors in vocab order (most played first) and the song catalog."""

    run_dir: Path
    vectors: WordVectors  # the songs are its words, their ids as strings
    catalog: Catalog
    metadata: Path | None

    @property
    def words(self) -> list[str]:
        return self.vectors.words

    def describe(self, song: str) -> str:
        title, artist = self.catalog.describe(int(song))
        return f"{song} {title} - {artist}"


def run_config(run_dir: Path) -> Any:
    """The run's config, from ``.hydra/config.yaml`` or else its checkpoint."""
    hydra_cfg = run_dir / ".hydra" / "config.yaml"
    if hydra_cfg.is_file():
        import yaml  # omegaconf's own parser: imported here, only a damaged file needs its error type

        try:
            return OmegaConf.load(hydra_cfg)
        except (yaml.YAMLError, ValueError, OSError) as exc:  # ValueError: UnicodeDecodeError of a binary file
            detail = " ".join(str(exc).split())[:200]
            raise W2VError(f"cannot read {hydra_cfg}: {detail}; the run directory is damaged: pass another run") from None
    if (run_dir / "checkpoint.pt").is_file():
        from w2v.train.checkpoint import load_checkpoint

        return OmegaConf.create(load_checkpoint(run_dir / "checkpoint.pt")["config"])
    raise W2VError(f"{run_dir} is not a w2v run directory (no .hydra/config.yaml or checkpoint.pt); pass run=outputs/<date>/<time>")


def load_run(run_dir: str | os.PathLike, metadata: str | None = None, with_tags: bool = False) -> SongRun:
    """Load vectors and metadata of a playlists run, or fail with a one-line reason."""
    run_dir = Path(os.path.expanduser(str(run_dir)))
    if not run_dir.is_dir():
        raise W2VError(f"run={run_dir}: no such directory; pass the output directory of python train.py corpus=playlists")
    cfg = run_config(run_dir)
    kind = OmegaConf.select(cfg, "corpus.kind")
    if kind != "playlists":
        raise W2VError(
            f"{run_dir} is a corpus={kind} run, not a playlists run: for its words use python similar.py run={run_dir} positive=<word>, "
            "or train songs with python train.py corpus=playlists"
        )
    vectors_path = run_dir / "vectors.bin"
    if not vectors_path.is_file():
        raise W2VError(f"{run_dir} has no vectors.bin (training did not finish?); resume it with python train.py resume={run_dir}")
    words, matrix = read_word2vec_binary(vectors_path)  # sizes checked against the file: damage is one line
    vectors = WordVectors(words, matrix, name=run_dir.name, source=str(vectors_path))
    if metadata:
        cfg.corpus.metadata = metadata
    meta = metadata_file(cfg.corpus)
    if meta is None:
        log.warning("no song_hash.txt beside corpus.path=%s: titles and artists unknown; pass metadata=<song_hash.txt>", cfg.corpus.path)
    return SongRun(run_dir, vectors, load_catalog(meta, with_tags), meta)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def resolve_song(run: SongRun, query: str) -> str:
    """A song id (as in the vocabulary) for an id or a title/artist search; one-line errors otherwise."""
    query = query.strip()
    if query.isdigit():
        song = str(int(query))
        if song in run.vectors:
            return song
        if int(song) in run.catalog.titles:
            raise W2VError(f"song {run.describe(song)} has no vector: it never occurs in this run's training playlists")
        raise W2VError(
            f'unknown song id {song}: this run has vectors for {len(run.vectors)} songs; search by title instead (song="title artist")'
        )
    needle = _norm(query)
    if not needle:
        raise W2VError("empty song: pass song=<id> or song=<title/artist words>")
    words = needle.split()
    matches = []
    for song in run.words:  # most played first
        title, artist = (_norm(s) for s in run.catalog.describe(int(song)))
        text = f"{title} {artist}"
        if all(w in text for w in words):
            exact = needle in (title, text, f"{title} - {artist}", f"{artist} - {title}")
            matches.append((song, exact))
    if not matches:
        hint = "" if run.catalog.titles else " (no song metadata loaded: pass metadata=<song_hash.txt>)"
        raise W2VError(f"no song in this run matches {query!r}{hint}; try fewer words or an id")
    exact = [song for song, is_exact in matches if is_exact]
    if len(matches) == 1 or len(exact) == 1:
        return exact[0] if len(exact) == 1 else matches[0][0]
    candidates = [song for song, _ in matches]
    raise AmbiguousSong(f"{query!r} matches {len(candidates)} songs: pass an id, or add words (the artist)", candidates)


def recommend(run: SongRun, positive: list[str], negative: list[str] = (), topn: int = 10) -> list[tuple[str, float]]:
    """Resolve the queries and return the ``topn`` (song id, similarity) pairs."""
    if not positive:
        raise W2VError("no song given: pass song=<id or search>")
    if topn < 1:
        raise W2VError(f"invalid value topn={topn}: must be >= 1")
    pos = [resolve_song(run, q) for q in positive]
    neg = [resolve_song(run, q) for q in negative]
    return run.vectors.most_similar(pos, neg, topn)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(run: SongRun, rows: list[tuple[str, float | None]], with_tags: bool = False) -> str:
    """Aligned text table: rank, id, similarity, title, artist (and the first tags)."""
    header = ["#", "id", "similarity", "title", "artist"] + (["tags"] if with_tags else [])
    body = []
    for rank, (song, sim) in enumerate(rows, 1):
        title, artist = run.catalog.describe(int(song))
        row = [str(rank), song, "" if sim is None else f"{sim:.3f}", _cut(title, 45), _cut(artist, 30)]
        if with_tags:
            row.append(", ".join(run.catalog.tags.get(int(song), [])[:4]))
        body.append(row)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    right = {0, 1, 2}
    fmt = [(lambda s, w, i=i: s.rjust(w) if i in right else s.ljust(w)) for i in range(len(header))]
    return "\n".join("  ".join(fmt[i](r[i], widths[i]) for i in range(len(r))).rstrip() for r in [header, *body])


def command(cfg: Any) -> int:
    """The command: print the table, or one error line (and an ambiguous search's candidates); the exit status."""
    songs = None
    try:
        if not cfg.run:
            raise W2VError("run is not set: pass run=outputs/<date>/<time> (a python train.py corpus=playlists run)")
        songs = load_run(cfg.run, cfg.metadata, cfg.tags)
        rows = recommend(songs, list(cfg.song), list(cfg.negative), cfg.topn)
    except AmbiguousSong as exc:
        print(f"error: {exc}", file=sys.stderr)
        shown = exc.candidates[:20]
        print(format_table(songs, [(song, None) for song in shown], cfg.tags))
        if len(exc.candidates) > len(shown):
            print(f"... and {len(exc.candidates) - len(shown)} more")
        return 2
    except W2VError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    title = " + ".join(songs.describe(resolve_song(songs, q)) for q in cfg.song)
    if cfg.negative:
        title += " - " + " - ".join(songs.describe(resolve_song(songs, q)) for q in cfg.negative)
    print(f"Songs most similar to {title}")
    print(format_table(songs, rows, cfg.tags))
    missing = sum(int(song) not in songs.catalog.titles for song, _ in rows)
    if missing:
        print(f"({missing} of {len(rows)} songs have no metadata in {songs.metadata})")
    return 0
