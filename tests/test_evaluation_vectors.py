"""Loading vectors for evaluation: every format a user may pass, and one-line errors for bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from w2v.errors import W2VError
from w2v.vectors import WordVectors, default_name, load_vectors, save_word2vec

WORDS = ["the", "king", "queen", "man", "woman", "naïve"]


@pytest.fixture
def table() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((len(WORDS), 4)).astype(np.float32)


def glove_text(words: list[str], table: np.ndarray) -> str:
    return "".join(w + " " + " ".join(f"{x:.6g}" for x in row) + "\n" for w, row in zip(words, table))


def assert_same(vecs: WordVectors, table: np.ndarray, words: list[str] = WORDS) -> None:
    assert vecs.words == words
    np.testing.assert_allclose(vecs.matrix, table, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_text_and_binary_from_our_export(tmp_path, table, binary):
    path = tmp_path / ("v.bin" if binary else "v.txt")
    save_word2vec(path, WORDS, table, binary=binary)
    assert_same(load_vectors(path), table)


def test_text_export_is_the_header_then_each_number_as_percent_6g(tmp_path, table):
    """The text writer formats a row at once; its bytes stay those of formatting each number with .6g."""
    table = table.copy()
    table[0, :3] = [np.nan, np.inf, -0.0]
    save_word2vec(tmp_path / "v.txt", WORDS, table, binary=False)
    assert (tmp_path / "v.txt").read_text() == f"{len(WORDS)} 4\n" + glove_text(WORDS, table)


def test_gensim_saved_binary_and_kv(tmp_path, table):
    kv = KeyedVectors(4)
    kv.add_vectors(WORDS, table)
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    kv.save(str(tmp_path / "g.kv"))
    assert_same(load_vectors(tmp_path / "g.bin"), table)
    assert_same(load_vectors(tmp_path / "g.kv", trust_pickle=True), table)


def test_glove_without_header_gzipped_and_limit(tmp_path, table):
    path = tmp_path / "glove.test.4d.txt.gz"
    path.write_bytes(gzip.compress(glove_text(WORDS, table).encode()))
    assert_same(load_vectors(path), table)
    head = load_vectors(path, limit=3)
    assert_same(head, table[:3], WORDS[:3])
    assert default_name(path) == "glove.test.4d"


def test_word2vec_c_trailing_spaces_and_crlf(tmp_path, table):
    lines = [f"{len(WORDS)} 4"] + [w + " " + " ".join(f"{x:.7f}" for x in row) + " " for w, row in zip(WORDS, table)]
    path = tmp_path / "w2v_c.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    assert_same(load_vectors(path), table)


def test_run_directory_prefers_the_binary_file(tmp_path, table):
    save_word2vec(tmp_path / "vectors.bin", WORDS, table, binary=True)
    save_word2vec(tmp_path / "vectors.txt", WORDS[:2], table[:2], binary=False)
    vecs = load_vectors(tmp_path)
    assert_same(vecs, table)
    assert vecs.source.endswith("vectors.bin")
    assert vecs.name == tmp_path.name


def test_parse_many_chunks_keeps_order(tmp_path, monkeypatch):
    import w2v.vectors.word2vec_format as module

    monkeypatch.setattr(module, "_CHUNK_LINES", 7)
    words = [f"w{i}" for i in range(50)]
    table = np.arange(100, dtype=np.float32).reshape(50, 2)
    (tmp_path / "g.txt").write_text(glove_text(words, table))
    assert_same(load_vectors(tmp_path / "g.txt"), table, words)


def test_cache_round_trip_outside_the_repo(tmp_path, monkeypatch, table):
    import w2v.vectors.text_cache as module

    monkeypatch.setattr(module, "CACHE_MIN_BYTES", 0)
    path = tmp_path / "glove.txt"
    path.write_text(glove_text(WORDS, table))
    cache = tmp_path / "cache"
    first = load_vectors(path, cache_dir=cache)
    assert len(list(cache.iterdir())) == 2  # vectors .npy and words
    second = load_vectors(path, cache_dir=cache)
    assert_same(second, first.matrix)
    head = load_vectors(path, cache_dir=cache, limit=2)  # a prefix is cached under its own key
    assert_same(head, first.matrix[:2], WORDS[:2])
    assert len(list(cache.iterdir())) == 4
    assert_same(load_vectors(path, cache_dir=cache, limit=2), first.matrix[:2], WORDS[:2])


def test_upper_index_keeps_the_first_case_variant():
    vecs = WordVectors(["the", "The", "THE", "cat"], np.eye(4, dtype=np.float32), name="t")
    assert vecs.upper_index(4) == {"THE": 0, "CAT": 3}
    assert vecs.upper_index(2) == {"THE": 0}
    assert vecs.canonical(4).tolist() == [0, 0, 0, 3]
    np.testing.assert_allclose(np.linalg.norm(vecs.unit, axis=1), 1.0, rtol=1e-6)


# ---- bad input: one clear line naming the file, the line and the fix --------------------------------


def test_missing_file_is_named(tmp_path):
    with pytest.raises(W2VError, match=r"vectors file .*nope\.bin not found"):
        load_vectors(tmp_path / "nope.bin")


def test_directory_without_vectors(tmp_path):
    with pytest.raises(W2VError, match="without vectors.bin or vectors.txt"):
        load_vectors(tmp_path)


@pytest.mark.parametrize("first_line", ["3 four", "hello", "3 4 extra", "3\t"])
def test_bad_header_names_line_1(tmp_path, first_line):
    path = tmp_path / "bad.txt"
    path.write_text(first_line + "\nthe 1 2 3 4\n")
    with pytest.raises(W2VError, match=r"bad\.txt line 1: bad header"):
        load_vectors(path)


def test_wrong_dimension_names_the_line(tmp_path, table):
    lines = ["6 4"] + [w + " " + " ".join(str(x) for x in row) for w, row in zip(WORDS, table)]
    lines[5] = lines[5].rsplit(" ", 1)[0]  # the 5th word (file line 6) loses a number
    path = tmp_path / "short.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(W2VError, match=r"short\.txt line 6: expected a word and 4 numbers, found 3"):
        load_vectors(path)


def test_wrong_dimension_in_a_glove_file_names_the_line(tmp_path, table):
    text = glove_text(WORDS, table).splitlines()
    text[3] += " 0.5"  # line 4 has 5 numbers in a 4-dimensional file
    path = tmp_path / "glove.txt"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(W2VError, match=r"glove\.txt line 4: expected a word and 4 numbers, found 5"):
        load_vectors(path)


def test_header_dims_disagree_with_every_line(tmp_path, table):
    path = tmp_path / "dims.txt"
    path.write_text("6 5\n" + glove_text(WORDS, table))
    with pytest.raises(W2VError, match=r"dims\.txt line 2: expected a word and 5 numbers, found 4"):
        load_vectors(path)


def test_non_number_names_the_line(tmp_path, table):
    text = glove_text(WORDS, table).replace("queen " + f"{table[2, 0]:.6g}", "queen abc")
    path = tmp_path / "nan.txt"
    path.write_text(text)
    with pytest.raises(W2VError, match=r"nan\.txt line 3: a value after the word is not a number"):
        load_vectors(path)


def test_truncated_text_file(tmp_path, table):
    path = tmp_path / "trunc.txt"
    path.write_text("10 4\n" + glove_text(WORDS, table))
    with pytest.raises(W2VError, match="announces 10 words but the file has 6"):
        load_vectors(path)


def test_truncated_binary_file(tmp_path, table):
    path = tmp_path / "trunc.bin"
    save_word2vec(path, WORDS, table, binary=True)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(W2VError, match=r"cannot read .*trunc\.bin as binary word2vec"):
        load_vectors(path)


def test_not_a_gensim_pickle(tmp_path):
    path = tmp_path / "model.kv"
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(W2VError, match=r"cannot load .*model\.kv as a gensim file"):
        load_vectors(path, trust_pickle=True)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    with pytest.raises(W2VError, match="line 1: bad header"):
        load_vectors(path)


def test_shapes_must_match():
    with pytest.raises(W2VError, match="2 words but a vector table of shape"):
        WordVectors(["a", "b"], np.zeros((3, 2), dtype=np.float32), name="x")


def test_relative_run_dir_name(tmp_path, monkeypatch, table):
    run = tmp_path / "2026-01-01" / "12-00-00"
    run.mkdir(parents=True)
    save_word2vec(run / "vectors.bin", WORDS, table, binary=True)
    monkeypatch.chdir(tmp_path)
    assert load_vectors(Path("2026-01-01/12-00-00")).name == "12-00-00"
    assert load_vectors(Path("2026-01-01/12-00-00/vectors.bin")).name == "12-00-00"
