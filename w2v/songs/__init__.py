"""Song embeddings: playlists as sentences, songs as words (the word2vec tutorial's application).

``config`` is the kind's schema (the keys only it reads: ``holdout``, ``metadata``, ``compare_gensim``...);
``data`` reads (or downloads) the Cornell yes_complete playlists and holds out the last song of a
seeded sample of them; ``evaluate`` scores next-song prediction (HR@k, NDCG@k) against popularity
and gensim; ``recommend`` prints nearest songs with titles and artists; ``sweep`` summarises a
hyperparameter sweep. The trainer only needs :func:`iter_playlists` and :func:`evaluate_songs`.
"""

from w2v.songs.data import iter_playlists
from w2v.songs.evaluate import evaluate_songs

__all__ = ["iter_playlists", "evaluate_songs"]
