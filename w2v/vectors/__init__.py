"""Word vectors out of training: the object that holds them and answers queries, and their file formats.

gensim's split: the trainable model (:mod:`w2v.models`) apart from the exported vectors. Modules:
``keyed`` (:class:`WordVectors`: words, table, counts; ``most_similar``, ``similarity``, batched
:func:`nearest`), ``word2vec_format`` (word2vec text and binary, read and written), ``fasttext_bin``
(Facebook fastText ``.bin``: written by subwords training, read for vectors), ``text_cache`` (parsed
copies of big text files) and ``load`` (:func:`load_vectors`: any source, sniffed, checked, named).
"""

from w2v.vectors.keyed import WordVectors, describe_query, nearest
from w2v.vectors.load import (
    FULL_MODEL_FILE,
    RUN_FILES,
    default_name,
    load_vectors,
    refuse_untrusted_pickle,
    resolve_vectors_path,
    untrusted_pickle_message,
)
from w2v.vectors.word2vec_format import read_word2vec_binary, read_word2vec_text, save_word2vec

__all__ = [
    "FULL_MODEL_FILE",
    "RUN_FILES",
    "WordVectors",
    "default_name",
    "describe_query",
    "load_vectors",
    "nearest",
    "read_word2vec_binary",
    "read_word2vec_text",
    "refuse_untrusted_pickle",
    "resolve_vectors_path",
    "save_word2vec",
    "untrusted_pickle_message",
]
