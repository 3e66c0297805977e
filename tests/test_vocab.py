"""Vocabulary stage: exact counts, min_count / max_vocab, order, vocab.tsv, the keep/drop report."""

from __future__ import annotations

import logging
import re
from collections import Counter
from unittest import mock

import numpy as np
import pytest

from w2v.data import vocab as vocab_mod
from w2v.data.corpus import iter_sentences
from w2v.data.vocab import SENTENCE_END, Vocab, build_vocab, encode_corpus
from w2v.errors import W2VError

TEXT = "The cat sat on the mat.\nThe dog sat too!\n\nA cat, a dog; the END.\n"


def encode_text(compose_cfg, write_corpus, tmp_path, text, max_tokens=None):
    path = write_corpus("corpus.txt", text)
    cfg = compose_cfg(["corpus=text", f"corpus.path={path}"])
    return encode_corpus(iter_sentences(cfg.corpus), tmp_path / "corpus.ids", max_tokens)


def reference_counts(text: str) -> Counter:
    """Plain-Python count with the default tokenizer's rules (lowercase, word characters)."""
    return Counter(re.findall(r"\w+(?:[-']\w+)*", text.lower()))


def test_counts_are_exact_on_a_small_text(compose_cfg, write_corpus, tmp_path):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, TEXT)
    assert dict(zip(enc.words, enc.counts.tolist())) == {
        "the": 4,
        "cat": 2,
        "sat": 2,
        "on": 1,
        "mat": 1,
        "dog": 2,
        "too": 1,
        "a": 2,
        "end": 1,
    }
    assert (enc.n_tokens, enc.n_sentences) == (16, 3)  # the empty line is no sentence
    vocab = build_vocab(enc, min_count=1)
    # Descending count; ties keep the order of first occurrence.
    assert vocab.words == ["the", "cat", "sat", "dog", "a", "on", "mat", "too", "end"]
    assert vocab.counts.tolist() == [4, 2, 2, 2, 2, 1, 1, 1, 1]


def test_counts_match_a_plain_counter_across_flushes(compose_cfg, write_corpus, tmp_path, synthetic_text):
    text = synthetic_text(n_sentences=300, n_words=60, length=17, seed=5)
    with mock.patch.object(vocab_mod, "_FLUSH_IDS", 37):  # many partial flushes, growing vocab between them
        enc = encode_text(compose_cfg, write_corpus, tmp_path, text)
    assert dict(zip(enc.words, enc.counts.tolist())) == reference_counts(text)
    assert enc.n_tokens == 300 * 17


def test_id_file_holds_the_sentences(compose_cfg, write_corpus, tmp_path):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, TEXT)
    ids = np.fromfile(enc.path, dtype=np.int32)
    assert ids[-1] == SENTENCE_END and (ids == SENTENCE_END).sum() == 3
    sentences = [[enc.words[i] for i in chunk] for chunk in np.split(ids, np.flatnonzero(ids == SENTENCE_END))]
    sentences = [s[1:] if i else s for i, s in enumerate(sentences)][:-1]  # drop separators and the empty tail
    assert sentences[0] == ["the", "cat", "sat", "on", "the", "mat"]
    assert sentences[2] == ["a", "cat", "a", "dog", "the", "end"]


def test_max_tokens_cuts_exactly(compose_cfg, write_corpus, tmp_path):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, TEXT, max_tokens=8)
    assert enc.n_tokens == 8 and enc.n_sentences == 2
    assert enc.counts.sum() == 8


def test_min_count_and_max_vocab(compose_cfg, write_corpus, tmp_path):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, TEXT)
    v2 = build_vocab(enc, min_count=2)
    assert v2.words == ["the", "cat", "sat", "dog", "a"]
    v3 = build_vocab(enc, min_count=2, max_vocab=3)
    assert v3.words == ["the", "cat", "sat"] and v3.total == 8
    # remap: provisional id -> vocab id, -1 for dropped words
    for prov, word in enumerate(enc.words):
        assert v3.remap[prov] == (v3.words.index(word) if word in v3.words else -1)


def test_keep_drop_report(compose_cfg, write_corpus, tmp_path, caplog):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, TEXT)
    with caplog.at_level(logging.INFO, logger="w2v.data.vocab"):
        build_vocab(enc, min_count=2)
    line = "vocab: kept 5 of 9 unique words (55.56%) with min_count=2, covering 12 of 16 tokens (75.00%)"
    assert line in caplog.messages


def test_nothing_above_min_count_is_a_clear_error(compose_cfg, write_corpus, tmp_path):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, TEXT)
    with pytest.raises(W2VError, match=r"no word occurs at least min_count=5 times .*lower min_count") as err:
        build_vocab(enc, min_count=5)
    assert "\n" not in str(err.value)


def test_empty_corpus_is_a_clear_error(compose_cfg, write_corpus, tmp_path):
    enc = encode_text(compose_cfg, write_corpus, tmp_path, "\n  \n... !!\n")
    assert enc.n_tokens == 0
    with pytest.raises(W2VError, match="the corpus has no tokens"):
        build_vocab(enc, min_count=1)


def test_vocab_tsv_round_trip(tmp_path):
    vocab = Vocab(["the", "naïve", "co-op"], np.array([9, 4, 4]))
    vocab.save_tsv(tmp_path / "vocab.tsv")
    assert (tmp_path / "vocab.tsv").read_text(encoding="utf-8") == "the\t9\nnaïve\t4\nco-op\t4\n"
    back = Vocab.load_tsv(tmp_path / "vocab.tsv")
    assert back.words == vocab.words and back.counts.tolist() == [9, 4, 4]
    (tmp_path / "bad.tsv").write_text("the 9\n")
    with pytest.raises(W2VError, match="bad.tsv:1: malformed"):
        Vocab.load_tsv(tmp_path / "bad.tsv")


def test_keep_probability_is_word2vecs_formula():
    counts = np.array([5000, 1000, 100, 10, 1])
    vocab = Vocab([f"w{i}" for i in range(5)], counts)
    t = 1e-3
    f = counts / counts.sum()
    expected = np.minimum(np.sqrt(t / f) + t / f, 1.0)
    np.testing.assert_allclose(vocab.keep_probs(t), expected, rtol=1e-6)
    assert vocab.keep_probs(t)[0] < 0.05 and vocab.keep_probs(t)[-1] == 1.0
    assert vocab.keep_probs(0.0).tolist() == [1.0] * 5


@pytest.mark.parametrize("exponent", [0.75, 1.0, 0.0, -0.5])
def test_noise_weights_are_count_to_the_exponent(exponent):
    counts = np.array([100, 20, 3])
    vocab = Vocab(["a", "b", "c"], counts)
    np.testing.assert_allclose(vocab.noise_weights(exponent), counts.astype(float) ** exponent)
