"""Corpus stage: tokenizer, file formats, globs, long-line chunking, WikiText markup, bad bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w2v.config import CorpusConfig
from w2v.data import sources
from w2v.data.corpus import chunk_sentences, iter_sentences
from w2v.data.sources import iter_file_pieces, resolve_paths, undecodable_bytes
from w2v.data.tokenizers import RegexTokenizer
from w2v.errors import W2VError

DEFAULT_PATTERN = CorpusConfig.token_pattern  # the pattern every word corpus uses unless overridden


def sentences_of(compose_cfg, path, *overrides) -> list[list[str]]:
    cfg = compose_cfg(["corpus=text", f"corpus.path={path}", *overrides])
    return list(iter_sentences(cfg.corpus))


# ---------------------------------------------------------------- tokenizer


def test_tokenizer_lowercases_and_strips_punctuation():
    tok = RegexTokenizer(lowercase=True, token_pattern=DEFAULT_PATTERN)
    assert tok("King. king, KING! The king?") == ["king", "king", "king", "the", "king"]


def test_tokenizer_keeps_inner_hyphens_and_apostrophes():
    tok = RegexTokenizer(lowercase=True, token_pattern=DEFAULT_PATTERN)
    assert tok("Don't re-use e-mail -- 'quoted' - dash") == ["don't", "re-use", "e-mail", "quoted", "dash"]


def test_tokenizer_without_pattern_splits_on_whitespace_only():
    tok = RegexTokenizer(lowercase=False, token_pattern=None)
    assert tok("anarchism  originated\tas a Term.") == ["anarchism", "originated", "as", "a", "Term."]


def test_wikitext_joiners_are_glued_back():
    tok = RegexTokenizer(lowercase=True, token_pattern=DEFAULT_PATTERN, wikitext_markup=True)
    assert tok("a well @-@ known game , 1 @,@ 000 units") == ["a", "well-known", "game", "1", "000", "units"]
    plain = RegexTokenizer(lowercase=True, token_pattern=DEFAULT_PATTERN, wikitext_markup=False)
    assert plain("a well @-@ known") == ["a", "well", "known"]


def test_wikitext_headings_are_dropped(compose_cfg, write_corpus):
    text = " = Valkyria Chronicles = \n Senjō no Valkyria is a game .\n = = Gameplay = = \n It is well @-@ known .\n x = y\n"
    path = write_corpus("wiki.txt", text)
    got = sentences_of(compose_cfg, path, "corpus.wikitext_markup=true")
    assert got == [["senjō", "no", "valkyria", "is", "a", "game"], ["it", "is", "well-known"], ["x", "y"]]
    # Without the markup flag the headings are ordinary text.
    assert sentences_of(compose_cfg, path)[0] == ["valkyria", "chronicles"]


def test_wikitext_config_turns_markup_on(compose_cfg):
    cfg = compose_cfg(["corpus=wikitext"])
    assert cfg.corpus.wikitext_markup is True and cfg.corpus.lowercase is True


@given(st.text(), st.booleans(), st.booleans(), st.sampled_from([DEFAULT_PATTERN, r"\w+", None]))
def test_tokenizer_never_crashes(text, lowercase, markup, pattern):
    tokens = RegexTokenizer(lowercase, pattern, markup)(text)
    assert isinstance(tokens, list)
    for token in tokens:
        assert isinstance(token, str) and token and not any(ch.isspace() for ch in token)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.integers(2, 6))
def test_chunk_sentences_keeps_every_token_and_respects_max_len(text, max_len):
    tok = RegexTokenizer(True, DEFAULT_PATTERN)
    pieces = [(line, True) for line in text.split("\n")]
    sentences = list(chunk_sentences(pieces, tok, max_len))
    assert all(0 < len(s) <= max_len for s in sentences)
    assert [t for s in sentences for t in s] == [t for line, _ in pieces for t in tok(line)]


# ---------------------------------------------------------------- files, formats, globs


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".xz"])
def test_reads_plain_and_compressed_files(compose_cfg, write_corpus, suffix):
    path = write_corpus(f"x.txt{suffix}", "The cat sat.\n\nOn the MAT!\n")
    assert sentences_of(compose_cfg, path) == [["the", "cat", "sat"], ["on", "the", "mat"]]


def test_glob_and_directory_are_read_in_sorted_order(compose_cfg, write_corpus, tmp_path):
    write_corpus("d/b.txt.bz2", "bravo\n")
    write_corpus("d/a.txt.gz", "alpha\n")
    write_corpus("d/c.txt.xz", "charlie\n")
    write_corpus("d/.hidden", "hidden\n")
    write_corpus("d/sub/e.txt", "echo\n")
    by_glob = sentences_of(compose_cfg, tmp_path / "d" / "*.txt*")
    assert by_glob == [["alpha"], ["bravo"], ["charlie"]]
    by_dir = sentences_of(compose_cfg, tmp_path / "d")
    assert by_dir == [["alpha"], ["bravo"], ["charlie"], ["echo"]]  # recursive, hidden files skipped


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nope.txt", "no such file"),
        ("*.nothing", "matches no files"),
        ("emptydir", "empty directory"),
        ("", "is not set"),
    ],
)
def test_bad_paths_are_one_line_errors(tmp_path, spec, message):
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(W2VError, match=message) as err:
        resolve_paths(str(tmp_path / spec) if spec else spec)
    assert "\n" not in str(err.value)


def test_unreadable_compressed_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.txt.gz"
    bad.write_bytes(b"this is not gzip data")
    with pytest.raises(W2VError, match="cannot read corpus file"):
        list(iter_file_pieces(bad))


def test_undecodable_bytes_are_replaced_and_counted(compose_cfg, write_corpus):
    path = write_corpus("bad.txt", b"caf\xe9 au lait\n\xff\xfe ok word\n")
    before = undecodable_bytes()
    got = sentences_of(compose_cfg, path)
    assert undecodable_bytes() - before == 3
    assert got == [["caf", "au", "lait"], ["ok", "word"]]  # U+FFFD is not a word character


# ---------------------------------------------------------------- long lines (text8)


def test_text8_single_line_is_cut_into_max_sentence_length(compose_cfg, write_corpus):
    words = [f"w{i % 97}" for i in range(2503)]
    path = write_corpus("text8.gz", " ".join(words))  # one line, no newline at the end, like text8
    cfg = compose_cfg(["corpus=text8", f"corpus.path={path}", "corpus.max_sentence_length=1000"])
    with mock.patch.object(sources, "READ_CHUNK", 64):  # force many partial reads of the one line
        sentences = list(iter_sentences(cfg.corpus))
    assert [len(s) for s in sentences] == [1000, 1000, 503]
    assert [t for s in sentences for t in s] == words


def test_text8_config_splits_on_whitespace_and_keeps_case(compose_cfg):
    cfg = compose_cfg(["corpus=text8", "corpus.path=x"])
    assert cfg.corpus.token_pattern is None and cfg.corpus.lowercase is False


@given(
    st.lists(st.text(alphabet="abcé", min_size=1, max_size=20), max_size=60),
    st.integers(2, 9),  # tokens of 16 * READ_CHUNK characters or more are dropped by design
    st.integers(2, 50),
)
def test_piecewise_reading_never_splits_a_token(words, chunk, max_len):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "line.txt"
        path.write_text(" ".join(words), encoding="utf-8")
        with mock.patch.object(sources, "READ_CHUNK", chunk):
            sentences = list(chunk_sentences(iter_file_pieces(path), RegexTokenizer(False, None), max_len))
    assert [t for s in sentences for t in s] == words
    assert all(0 < len(s) <= max_len for s in sentences)


def test_lee_corpus_is_gensims_bundled_file(compose_cfg):
    sentences = list(iter_sentences(compose_cfg([]).corpus))
    assert len(sentences) == 300  # one document per line
    with open(sources.gensim_datapath("lee_background.cor"), encoding="utf-8") as f:
        first = f.readline()
    assert sentences[0] == RegexTokenizer(True, DEFAULT_PATTERN)(first)
