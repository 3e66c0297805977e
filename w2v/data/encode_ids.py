"""The counting pass on a Hugging Face tokenizer's ids: the same ``corpus.ids``, words and counts as
:func:`w2v.data.vocab.encode_corpus` over :func:`w2v.data.corpus.chunk_sentences`' token strings, without
the strings.

The string path looks each token up twice (the tokenizer's word cache, then the counting dictionary) and
builds a list per sentence. Here the library's token ids are the keys: the sentence cuts are array slices,
each batch's ids get their provisional ids (first-occurrence order, as the dictionary gives) from one
``np.unique``, and the counts are one ``bincount``. :func:`encode_text` picks this path for a Hugging Face
tokenizer and the string path otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from w2v.atomic import atomic_open
from w2v.data.corpus import is_wikitext_heading, iter_sentences, piece_batches
from w2v.data.sources import iter_pieces
from w2v.data.vocab import SENTENCE_END, EncodedCorpus, encode_corpus

log = logging.getLogger(__name__)

_SEP = np.array([SENTENCE_END], dtype=np.int64)


def encode_text(ccfg: Any, tokenize: Any, path: Path, shard: tuple[int, int] | None = None) -> EncodedCorpus:
    """Count and encode the configured corpus (or one rank's ``shard`` of it) into ``path``.

    A Hugging Face tokenizer whose ids each stand for one token string takes :func:`encode_token_ids`;
    every other tokenizer, and a corpus kind that reads its own tokens, the string path.
    """
    max_tokens = ccfg.max_tokens if shard is None else None  # a rank's share of a prefix is cut by w2v.data.prepare
    if hasattr(tokenize, "batch_ids") and not ccfg.get("reader") and tokenize.distinct_strings:
        pieces = iter_pieces(ccfg, shard)
        return encode_token_ids(pieces, tokenize, path, max_tokens, ccfg.max_sentence_length, ccfg.wikitext_markup)
    return encode_corpus(iter_sentences(ccfg, tokenize, shard), path, max_tokens)


def _sentences_of(batch: list[tuple[str, bool]], tokens: np.ndarray, ends: list[int], state: dict, max_len: int, skip_headings: bool):
    """The batch's ids with ``-1`` where :func:`w2v.data.corpus.chunk_sentences` ends a sentence: every
    ``max_len`` tokens of a line and at each line end; ``state['open']`` carries the open sentence's length."""
    parts: list[np.ndarray] = []
    start = 0
    for (text, ends_line), end in zip(batch, ends):
        seg, start = tokens[start:end], end
        if skip_headings and ends_line and not state["open"] and is_wikitext_heading(text):
            continue
        pos = 0
        while state["open"] + len(seg) - pos >= max_len:  # full sentences
            take = max_len - state["open"]
            parts += [seg[pos : pos + take], _SEP]
            pos += take
            state["open"] = 0
        if pos < len(seg):
            parts.append(seg[pos:])
            state["open"] += len(seg) - pos
        if ends_line and state["open"]:
            parts.append(_SEP)
            state["open"] = 0
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def encode_token_ids(
    pieces: Iterable[tuple[str, bool]], tokenize: Any, path: Path, max_tokens: int | None, max_len: int, skip_headings: bool = False
) -> EncodedCorpus:
    """:func:`w2v.data.vocab.encode_corpus` of ``chunk_sentences(pieces, tokenize, max_len, skip_headings)``,
    computed on ``tokenize.batch_ids``: the same file, words (in first-occurrence order) and counts."""
    start = time.perf_counter()
    prov = np.full(len(tokenize.id_to_token), -1, dtype=np.int64)  # library id -> provisional id
    order: list[np.ndarray] = []  # library ids, in provisional-id order
    counts = np.zeros(0, dtype=np.int64)
    n_tokens = n_sentences = n_words = 0
    state = {"open": 0}
    with atomic_open(path, "wb") as f:
        for batch in piece_batches(pieces):
            tokens, ends = tokenize.batch_ids([text for text, _ in batch])
            arr = _sentences_of(batch, tokens, ends, state, max_len, skip_headings)
            words = arr >= 0
            if max_tokens is not None and n_tokens + int(words.sum()) >= max_tokens:
                # take_tokens: the prefix of max_tokens tokens, its last sentence cut there and closed.
                cut = int(np.flatnonzero(words)[max_tokens - n_tokens - 1]) + 1 if max_tokens > n_tokens else 0
                arr = np.concatenate([arr[:cut], _SEP]) if cut else arr[:0]
                words = arr >= 0
                state["open"], stop = 0, True
            else:
                stop = False
            ids = arr[words]
            uniq, first = np.unique(ids, return_index=True)
            new = uniq[prov[uniq] < 0]
            new = new[np.argsort(first[prov[uniq] < 0], kind="stable")]  # first occurrence, as a dict numbers them
            prov[new] = np.arange(n_words, n_words + len(new))
            n_words += len(new)
            order.append(new)
            out = np.where(words, prov[np.maximum(arr, 0)], SENTENCE_END).astype(np.int32)
            out.tofile(f)
            counts = np.pad(counts, (0, n_words - len(counts))) + np.bincount(prov[ids], minlength=n_words)
            n_tokens += len(ids)
            n_sentences += len(arr) - len(ids)
            if stop:
                break
        if state["open"]:  # the corpus ends inside a sentence
            _SEP.astype(np.int32).tofile(f)
            n_sentences += 1
    seconds = time.perf_counter() - start
    words_list = tokenize.id_to_token[np.concatenate([np.zeros(0, dtype=np.int64), *order])].tolist()
    log.info(
        "counted %d tokens in %d sentences, %d distinct words, in %.1fs (%.2fM tokens/s; token ids)",
        n_tokens, n_sentences, len(words_list), seconds, n_tokens / max(seconds, 1e-9) / 1e6,
    )  # fmt: skip
    return EncodedCorpus(path, words_list, counts, n_tokens, n_sentences, seconds)
