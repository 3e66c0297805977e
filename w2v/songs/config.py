"""The playlists corpus kind's config: the core corpus keys plus the ones only this kind reads.

Registered in :mod:`w2v.plugins` beside the playlists reader and evaluator, so the core config knows
none of these keys. ``configs/corpus/playlists.yaml`` names the schema in its defaults list, and Hydra
then checks ``corpus.holdout=...`` and the rest against it at start-up as it checks any other key; a
checkpoint's saved config is typed by it again on resume (:func:`w2v.config.train_schema`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from w2v.config import CorpusConfig


@dataclass
class PlaylistsCorpusConfig(CorpusConfig):
    """``corpus=playlists``: the Cornell yes_complete playlists, split for next-song evaluation."""

    # The last song of a seeded `holdout` fraction of playlists is kept out of training for next-song
    # evaluation; path=None downloads `url`/train.txt (and song_hash.txt) once into `cache_dir`.
    holdout: float = 0.1
    holdout_seed: int = 0
    metadata: Optional[str] = None  # song_hash.txt[.gz]; None = beside the playlists
    url: Optional[str] = "https://storage.googleapis.com/maps-premium/dataset/yes_complete"
    cache_dir: str = "~/.cache/w2v/playlists"
    # The downloaded files' pinned digests: file name -> "sha256:<hex>" (configs/corpus/playlists.yaml).
    checksums: Optional[dict[str, str]] = None
    compare_gensim: bool = False  # also train gensim with this run's model and settings on the split and report it
    gensim_sg: Optional[int] = None  # the comparison's sg; null = the run's own (model=cbow: the tutorial's call)
