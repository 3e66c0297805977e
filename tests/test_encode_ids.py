"""The counting pass on a Hugging Face tokenizer's ids (w2v/data/encode_ids.py) against the string path:
the same corpus.ids bytes, words, counts and sizes, for each tokenizer mode, sentence cut and prefix."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.tokenizers import TRICKY, byte_level_bpe, lee_lines, rewriting_bpe, trained_tokenizer

from w2v.data import corpus as corpus_mod
from w2v.data.corpus import chunk_sentences
from w2v.data.encode_ids import encode_token_ids
from w2v.data.tokenizers import HFTokenizer
from w2v.data.vocab import encode_corpus

MAKERS = {"wordpiece": lambda lines: trained_tokenizer("wordpiece", lines), "byte-level": byte_level_bpe, "exact": rewriting_bpe}


def _pieces() -> list[tuple[str, bool]]:
    """Lines, a wikitext heading, and a long line in pieces that do not end it (text8's shape)."""
    lines = [(t, True) for t in lee_lines(40) + TRICKY + [" = Heading = "]]
    long = [(" ".join(lee_lines(60)[40:45]), False), (" ".join(lee_lines(60)[45:50]), False), ("tail words", True)]
    return lines[:20] + long + lines[20:] + [(" = Another = ", True), ("last line open", False)]


@pytest.fixture(scope="module", params=list(MAKERS))
def hf(request) -> HFTokenizer:
    return HFTokenizer(MAKERS[request.param](lee_lines() + TRICKY))


@pytest.mark.parametrize("max_len", [7, 10000])
@pytest.mark.parametrize("skip_headings", [False, True])
@pytest.mark.parametrize("max_tokens", [None, 1, 500, 2003, 10**9])
def test_token_ids_encode_exactly_as_the_strings(hf, tmp_path, monkeypatch, max_len, skip_headings, max_tokens):
    monkeypatch.setattr(corpus_mod, "BATCH_PIECES", 9)  # several batches, so state carries across them
    pieces = _pieces()
    want = encode_corpus(chunk_sentences(pieces, hf, max_len, skip_headings), tmp_path / "s.ids", max_tokens)
    got = encode_token_ids(pieces, hf, tmp_path / "i.ids", max_tokens, max_len, skip_headings)
    assert (tmp_path / "i.ids").read_bytes() == (tmp_path / "s.ids").read_bytes()
    assert got.words == want.words
    assert np.array_equal(got.counts, want.counts)
    assert (got.n_tokens, got.n_sentences) == (want.n_tokens, want.n_sentences)
    if max_tokens == 500:
        assert got.n_tokens == 500
