"""Corpora as streams of token sentences: the pieces of :mod:`w2v.data.sources`, tokenised and cut.

A piece is a line or a bounded part of one (:data:`w2v.data.sources.READ_CHUNK`); each line ends a
sentence, and a sentence is cut every ``max_sentence_length`` tokens, as gensim does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from w2v import plugins
from w2v.data.sources import iter_pieces
from w2v.data.sources import open_text as open_text  # re-exported: the evaluation and songs readers import it from here
from w2v.data.tokenizers import prepare_tokenizer

BATCH_PIECES = 4096  # pieces (lines) per tokenizer call
BATCH_CHARS = 1 << 22  # ... or this many characters (four text8 pieces)


def is_wikitext_heading(line: str) -> bool:
    """A WikiText section heading line (``= Title =``), which ``corpus.wikitext_markup`` drops."""
    stripped = line.strip()
    return len(stripped) > 2 and stripped.startswith("= ") and stripped.endswith(" =")


def piece_batches(pieces: Iterable[tuple[str, bool]]) -> Iterator[list[tuple[str, bool]]]:
    """Pieces grouped up to BATCH_PIECES pieces or BATCH_CHARS characters, for one tokenizer call each."""
    batch: list[tuple[str, bool]] = []
    chars = 0
    for piece in pieces:
        batch.append(piece)
        chars += len(piece[0])
        if len(batch) >= BATCH_PIECES or chars >= BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def chunk_sentences(pieces: Iterable[tuple[str, bool]], tokenize: Any, max_len: int, skip_headings: bool = False) -> Iterator[list[str]]:
    """Turn text pieces into sentences: one per line, cut every ``max_len`` tokens.

    ``tokenize.batch(texts)`` tokenizes the pieces a batch at a time (a Hugging Face tokenizer then
    works on many texts in one call); the sentences are those of one piece after another.
    """
    buf: list[str] = []
    for batch in piece_batches(pieces):
        for (text, ends_line), tokens in zip(batch, tokenize.batch([text for text, _ in batch])):
            if skip_headings and ends_line and not buf and is_wikitext_heading(text):
                continue
            buf.extend(tokens)
            full = len(buf) - len(buf) % max_len
            for start in range(0, full, max_len):  # one slice per sentence, not a copy of the rest each time
                yield buf[start : start + max_len]
            if full:
                buf = buf[full:]
            if ends_line and buf:
                yield buf
                buf = []
    if buf:
        yield buf


def iter_sentences(ccfg: Any, tokenize: Any = None, shard: tuple[int, int] | None = None) -> Iterator[list[str]]:
    """Stream the sentences (lists of tokens) of the configured corpus, restartable for each pass.

    ``tokenize``: a tokenizer from :func:`w2v.data.tokenizers.prepare_tokenizer`; None builds the one
    ``corpus.tokenizer`` names (a trained kind needs the run directory, so the trainer passes it).
    ``shard=(rank, world)`` streams one rank's share only (torchrun): text files give each rank every
    world-th piece (:func:`w2v.data.sources.take_share`), ``corpus=hf`` every world-th shard or row (``split_dataset_by_node``),
    a plugged-in reader every world-th sentence. ``world=1`` is the whole corpus, exactly as without it.
    """
    rank, world = shard or (0, 1)
    if ccfg.get("reader"):  # a plugged-in corpus kind (e.g. the songs' playlists) reads itself
        sentences: Iterable[list[str]] = plugins.reader(ccfg.reader)(ccfg)  # a registered name, never a dotted path
        yield from itertools.islice(sentences, rank, None, world) if world > 1 else sentences
        return
    if tokenize is None:
        tokenize = prepare_tokenizer(ccfg)
    yield from chunk_sentences(iter_pieces(ccfg, shard), tokenize, ccfg.max_sentence_length, skip_headings=ccfg.wikitext_markup)
