"""Hostile and damaged files (issue 19): every reader of binary and compressed files answers a damaged,
truncated or lying file with one line naming the file, within a second, never a traceback, a hang or
a MemoryError. End-to-end runs as a user meets them, then the readers fuzzed: cut at every offset and
with random bytes flipped, each load is right or a W2VError, and quick."""

from __future__ import annotations

import bz2
import gzip
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, make_synthetic_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import w2v.models.subwords  # noqa: F401  (imported once here, so no fuzzed call pays torch's import)
from w2v.data.sources import iter_file_pieces
from w2v.errors import W2VError
from w2v.evaluation.analogy import read_questions
from w2v.evaluation.similarity import read_pairs
from w2v.models.subwords import SubwordSpec
from w2v.songs.data import MAX_SONG_ID, load_catalog, parse_playlists
from w2v.vectors import load_vectors, read_word2vec_binary, save_word2vec
from w2v.vectors.fasttext_bin import load_fasttext_vectors, save_fasttext_bin

WORDS = [f"w{i}" for i in range(10)] + ["naïve", "日本"]  # a dozen words, two of them non-ASCII
DIM = 4
SPEC = SubwordSpec(min_n=3, max_n=5, bucket=16)
SECONDS = 1.0  # every read of these small files, good or damaged, finishes well within this
FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _table(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)


def write_fasttext(path: Path) -> Path:
    table = _table(len(WORDS) + SPEC.bucket)
    save_fasttext_bin(path, WORDS, np.arange(len(WORDS), 0, -1), table, _table(len(WORDS), 1), SPEC,
                      sg=True, hs=False, negatives=5, window=5, epochs=1, min_count=1, sample=1e-3)  # fmt: skip
    return path


def write_word2vec(path: Path, binary: bool) -> Path:
    save_word2vec(path, WORDS, _table(len(WORDS)), binary=binary)
    return path


def write_gz_text(path: Path) -> Path:
    """A word2vec text file, gzipped (mtime 0: the same bytes every run)."""
    text = write_word2vec(path.with_suffix(""), binary=False).read_bytes()
    path.write_bytes(gzip.compress(text, mtime=0))
    return path


# --- end to end, as a user meets them ------------------------------------------------------------


def _run(script: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    cmd = [sys.executable, str(REPO_ROOT / script), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def assert_one_line(proc: subprocess.CompletedProcess, names: str, *fragments: str) -> str:
    """Exit status 2, no traceback, exactly one error line, naming the file ``names`` (and ``fragments``)."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:") or "[ERROR]" in line]
    assert len(errors) == 1, output[-3000:]
    assert names in errors[0], errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _cut_in_word_list(path: Path, word: str) -> Path:
    """The fastText file cut inside ``word`` of its word list (gensim's loader then read past the end forever)."""
    data = path.read_bytes()
    path.write_bytes(data[: data.index(word.encode() + b"\0") + len(word.encode()) - 1])
    return path


def _evaluate_args(tmp_path: Path, vectors: Path, *extra: str) -> list[str]:
    out = [f"vectors={vectors}", f"out={tmp_path / 'report'}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    return [*out, "eval.glove_path=null", "eval.plot=false", *extra]


def test_similar_py_on_a_run_whose_fasttext_bin_is_cut_in_its_word_list(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_word2vec(run / "vectors.bin", binary=True)
    _cut_in_word_list(write_fasttext(run / "fasttext.bin"), "日本")  # the last word: past the size check
    proc = _run("similar.py", [f"run={run}", "positive=w1"], tmp_path)
    assert_one_line(proc, "fasttext.bin", "fastText .bin", "truncated")


def test_evaluate_py_on_a_fasttext_bin_cut_in_its_word_list(tmp_path):
    path = _cut_in_word_list(write_fasttext(tmp_path / "cut.bin"), "w5")
    proc = _run("evaluate.py", _evaluate_args(tmp_path, path), tmp_path)
    assert_one_line(proc, "cut.bin", "truncated")


def test_similar_py_on_a_word2vec_bin_claiming_a_trillion_rows(tmp_path):
    path = tmp_path / "huge.bin"
    path.write_bytes(b"1000000000000 300\n" + b"w1 " + bytes(1200) + b"\n")
    proc = _run("similar.py", [f"run={path}", "positive=w1"], tmp_path)
    assert_one_line(proc, "huge.bin", "1000000000000 vectors")


def _claim_rows(path: Path, rows: int) -> Path:
    """Rewrite the fastText input matrix header to claim ``rows`` rows."""
    data = bytearray(path.read_bytes())
    at = data.index(struct.pack("<2q", len(WORDS) + SPEC.bucket, DIM))
    data[at : at + 16] = struct.pack("<2q", rows, DIM)
    path.write_bytes(bytes(data))
    return path


def _claim_buckets(path: Path, bucket: int) -> Path:
    """Claim ``bucket`` n-gram rows in the arguments and in the matrix header alike: only the size check is left."""
    _claim_rows(path, len(WORDS) + bucket)
    data = bytearray(path.read_bytes())
    data[8 + 4 * 8 : 8 + 4 * 9] = struct.pack("<i", bucket)  # Args: dim ws epoch minCount neg wordNgrams loss model bucket ...
    path.write_bytes(bytes(data))
    return path


def test_evaluate_py_on_a_fasttext_bin_claiming_a_huge_input_matrix(tmp_path):
    path = _claim_buckets(write_fasttext(tmp_path / "huge.bin"), 2**31 - 1)
    proc = _run("evaluate.py", _evaluate_args(tmp_path, path), tmp_path)
    assert_one_line(proc, "huge.bin", "the input matrix")


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_evaluate_py_on_a_damaged_gz_vectors_file(tmp_path, damage):
    path = _damage(write_gz_text(tmp_path / "vectors.txt.gz"), damage)
    proc = _run("evaluate.py", _evaluate_args(tmp_path, path), tmp_path)
    assert_one_line(proc, "vectors.txt.gz", "damaged or truncated")


def _damage(path: Path, how: str) -> Path:
    """Flip a byte in the middle of the compressed data, or cut the file's last quarter."""
    data = bytearray(path.read_bytes())
    if how == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) * 3 // 4 :]
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("key", ["eval.similarity=[{}]", "eval.analogies={}"])
def test_evaluate_py_with_a_damaged_benchmark_file(tmp_path, key):
    vectors = write_word2vec(tmp_path / "v.bin", binary=True)
    bench = tmp_path / "bench.txt.gz"
    lines = "".join(f"w{i} w{i + 1} {i}.5\n" for i in range(9)) if "similarity" in key else ": s\n" + "w1 w2 w3 w4\n" * 9
    bench.write_bytes(gzip.compress(lines.encode() * 50, mtime=0))
    _damage(bench, "flipped")
    proc = _run("evaluate.py", _evaluate_args(tmp_path, vectors, key.format(bench)), tmp_path)
    assert_one_line(proc, "bench.txt.gz", "damaged or truncated")


@pytest.mark.parametrize(("name", "damage"), [("corpus.txt.gz", "flipped"), ("corpus.txt.bz2", "truncated")])
def test_train_py_on_a_damaged_compressed_corpus(tmp_path, name, damage):
    text = make_synthetic_text(n_sentences=3000, n_words=50).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(text, mtime=0) if name.endswith(".gz") else bz2.compress(text))
    _damage(path, damage)
    args = ["corpus=text", f"corpus.path={path}", "eval=none", "min_count=1", "dim=8", "epochs=1", "threads=1"]
    proc = _run("train.py", [*args, "checkpoint_every_minutes=0", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert_one_line(proc, name, "corpus file", "damaged or truncated")


def _playlists_dir(folder: Path, damage: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = ["ids", "counts"] + [" ".join(map(str, rng.integers(0, 20, 10))) for _ in range(400)]
    train = folder / "train.txt.gz"
    train.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    if damage:
        _damage(train, damage)
    (folder / "song_hash.txt").write_text("".join(f"{i} \tSong {i}\tArtist\n" for i in range(20)))
    return folder


def test_train_py_on_damaged_playlists(tmp_path):
    folder = _playlists_dir(tmp_path / "songs", damage="flipped")
    args = ["corpus=playlists", f"corpus.path={folder}", "eval=none", "dim=8", "epochs=1", "threads=1", "negatives=5"]
    proc = _run("train.py", [*args, "checkpoint_every_minutes=0", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert_one_line(proc, "train.txt.gz", "playlists", "damaged or truncated")


def _song_run(tmp_path: Path, songs: Path) -> Path:
    """A playlists run directory as recommend.py reads it: its config and vectors.bin (song ids as words)."""
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"corpus:\n  kind: playlists\n  path: {songs}\n  metadata: null\n")
    save_word2vec(run / "vectors.bin", [str(i) for i in range(20)], _table(20), binary=True)
    return run


def test_recommend_py_on_a_truncated_vectors_bin(tmp_path):
    run = _song_run(tmp_path, _playlists_dir(tmp_path / "songs"))
    data = (run / "vectors.bin").read_bytes()
    (run / "vectors.bin").write_bytes(data[: len(data) // 2])
    proc = _run("recommend.py", [f"run={run}", "song=3"], tmp_path)
    assert_one_line(proc, "vectors.bin", "binary word2vec", "truncated")


def test_recommend_py_with_a_damaged_run_config(tmp_path):
    run = _song_run(tmp_path, _playlists_dir(tmp_path / "songs"))
    (run / ".hydra" / "config.yaml").write_bytes(b"\xff\xfe\x00corpus: [kind")
    proc = _run("recommend.py", [f"run={run}", "song=3"], tmp_path)
    assert_one_line(proc, "config.yaml", "the run directory is damaged")


def test_recommend_py_with_damaged_song_metadata(tmp_path):
    run = _song_run(tmp_path, _playlists_dir(tmp_path / "songs"))
    meta = tmp_path / "song_hash.txt.gz"
    meta.write_bytes(gzip.compress("".join(f"{i} \tSong {i}\tArtist {i}\n" for i in range(20)).encode() * 20, mtime=0))
    _damage(meta, "flipped")
    proc = _run("recommend.py", [f"run={run}", "song=3", f"metadata={meta}"], tmp_path)
    assert_one_line(proc, "song_hash.txt.gz", "song metadata", "damaged or truncated")


# --- function level: lying headers and malformed lines --------------------------------------------


def _timed(fn, *args):
    """(result or the W2VError raised, seconds); any other exception propagates and fails the test."""
    t0 = time.perf_counter()
    try:
        result = fn(*args)
    except W2VError as exc:
        result = exc
    return result, time.perf_counter() - t0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (b"3 4\nw0 1 2 3 4\nw1 1 2 3\nw2 1 2 3 4\n", "line 3: expected a word and 4 numbers, found 3"),
        (b"3 4\nw0 1 2 3 4\nw1 1 2 3 4 5\nw2 1 2 3 4\n", "line 3: expected a word and 4 numbers, found 5"),
        (b"3 4\nw0 1 2 3 4\nw1 1 2 x 4\nw2 1 2 3 4\n", "line 3: a value after the word is not a number"),
        (b"1000000000000 4\nw0 1 2 3 4\n", "more than its"),  # a text header claiming more rows than the file can hold
        (b"2 4\nw0 1.5 2.5 3.5 4.5\n", "announces 2 words but the file has 1"),
    ],
)
def test_text_vectors_name_the_bad_line(tmp_path, text, fragment):
    path = tmp_path / "v.txt"
    path.write_bytes(text)
    result, seconds = _timed(load_vectors, path)
    assert isinstance(result, W2VError) and fragment in str(result) and str(path) in str(result)
    assert seconds < SECONDS


def _fasttext_variant(tmp_path: Path, name: str) -> Path:
    """A fastText file with one lie: a huge input matrix, a byte after the end, or labels (a classifier)."""
    path = write_fasttext(tmp_path / f"{name}.bin")
    if name == "rows":
        return _claim_rows(path, 10**12)
    data = bytearray(path.read_bytes())
    if name == "trailing":
        data += b"\0"
    else:
        data[8 + 56 + 8 : 8 + 56 + 12] = struct.pack("<i", 1)  # nlabels, after the magic, version, Args, size and nwords
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("rows", "input matrix is 1000000000000 x 4"), ("trailing", "bytes follow the output matrix"), ("labels", "supervised")],
)
def test_fasttext_sizes_that_do_not_add_up_are_one_line(tmp_path, name, fragment):
    path = _fasttext_variant(tmp_path, name)
    result, seconds = _timed(load_vectors, path)
    assert isinstance(result, W2VError) and fragment in str(result) and str(path) in str(result)
    assert seconds < SECONDS


def test_fasttext_reader_equals_gensims(tmp_path):
    """w2v's own reader gives gensim's words and composed vectors, bit for bit, and its OOV vectors."""
    from gensim.models.fasttext import load_facebook_vectors

    path = write_fasttext(tmp_path / "ft.bin")
    kv = load_facebook_vectors(str(path))
    words, vectors, oov = load_fasttext_vectors(path)
    assert words == list(kv.index_to_key)
    np.testing.assert_array_equal(vectors, kv.vectors)
    for word in ("unseen", "naïvety", "w12"):
        np.testing.assert_allclose(oov(word), kv[word], atol=1e-6)
    gz = tmp_path / "ft.bin.gz"  # compressed models read the same
    gz.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    np.testing.assert_array_equal(load_fasttext_vectors(gz)[1], vectors)


def test_word2vec_binary_reader_equals_gensims(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(DIM)
    kv.add_vectors(WORDS, _table(len(WORDS)))
    path = tmp_path / "g.bin"
    kv.save_word2vec_format(str(path), binary=True)  # gensim writes no newline after a row; w2v's export does
    words, vectors = read_word2vec_binary(path)
    assert words == WORDS
    np.testing.assert_array_equal(vectors, kv.vectors)
    assert read_word2vec_binary(path, limit=3)[0] == WORDS[:3]


def test_damaged_benchmarks_name_the_file(tmp_path):
    pairs = tmp_path / "pairs.txt.gz"
    pairs.write_bytes(gzip.compress(b"a b 1\n" * 5000, mtime=0)[:-20])
    with pytest.raises(W2VError, match=r"cannot read similarity file .*pairs\.txt\.gz after line \d+: .*damaged or truncated"):
        read_pairs(pairs)
    questions = tmp_path / "q.txt.xz"
    questions.write_bytes(b"\xfd7zXZ\x00 not really xz")
    with pytest.raises(W2VError, match=r"cannot read analogy file .*q\.txt\.xz"):
        read_questions(questions)


def test_benchmark_with_nothing_usable_names_the_first_bad_line(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_bytes(b"# comment\n\x00\x01\x02 garbage\nmore bad lines here\n")
    with pytest.raises(W2VError, match="no usable word pairs .2 malformed lines, first at line 2"):
        read_pairs(path)


def test_song_ids_too_large_or_odd_are_counted_not_fatal(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(f"ids\ncounts\n1 2 3\n4 {10**30} 5\n6 {MAX_SONG_ID + 1} ² 7\n{'9' * 5000} 8 9\n")
    parsed, seconds = _timed(parse_playlists, path)
    assert seconds < SECONDS
    assert [p.tolist() for p in parsed.playlists] == [[1, 2, 3], [4, 5], [6, 7], [8, 9]]
    assert parsed.bad_tokens == 4 and parsed.n_songs == 10  # no table of 10^30 songs
    meta = tmp_path / "song_hash.txt"
    meta.write_text("1 \tA\tB\n² \tC\tD\n99999999999999999999 \tE\tF\n")
    catalog = load_catalog(meta)
    assert catalog.titles == {1: ("A", "B")} and catalog.bad_lines == 2


def test_a_damaged_parsed_copy_is_parsed_again(tmp_path, monkeypatch):
    import w2v.vectors.text_cache as vectors_module

    monkeypatch.setattr(vectors_module, "CACHE_MIN_BYTES", 0)
    path = write_word2vec(tmp_path / "v.txt", binary=False)
    first = load_vectors(path, cache_dir=tmp_path / "cache")
    (npy,) = (tmp_path / "cache").glob("*.npy")
    with open(npy, "wb") as f:  # a header claiming 10^12 rows over a few bytes of data
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**12, DIM)})
        f.write(bytes(64))
    again = load_vectors(path, cache_dir=tmp_path / "cache")
    assert again.words == first.words and np.array_equal(again.matrix, first.matrix)


# --- fuzzing: cut at every offset, flip random bytes -----------------------------------------------


FORMATS = {
    "word2vec.bin": lambda p: write_word2vec(p, binary=True),
    "word2vec.txt": lambda p: write_word2vec(p, binary=False),
    "fasttext.bin": write_fasttext,
    "vectors.txt.gz": write_gz_text,
}


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, tuple[bytes, list[str], np.ndarray]]:
    """Each format's bytes and what loading them gives."""
    folder = tmp_path_factory.mktemp("originals")
    out = {}
    for name, write in FORMATS.items():
        path = write(folder / name)
        vecs = load_vectors(path)
        out[name] = (path.read_bytes(), vecs.words, vecs.matrix)
    return out


def _load(path: Path):
    """load_vectors' (words, matrix), or the W2VError; timed; any other exception fails the test."""
    result, seconds = _timed(load_vectors, path)
    assert seconds < SECONDS, f"{path.name}: {seconds:.2f}s"
    if isinstance(result, W2VError):
        assert "\n" not in str(result) and path.name in str(result), str(result)
        return result
    assert result.matrix.shape == (len(result.words), result.dim) and result.matrix.dtype == np.float32
    return result.words, result.matrix


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_truncation_is_an_error_or_an_equal_load(tmp_path, originals, name):
    data, words, matrix = originals[name]
    path = tmp_path / name
    last_space = data.rstrip().rfind(b" ")
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        result = _load(path)
        if isinstance(result, W2VError):
            continue
        got_words, got = result
        if name == "word2vec.txt" and cut > last_space:  # cut inside the last number: it still parses
            assert got_words == words and np.array_equal(got[:-1], matrix[:-1]), cut
        else:  # only the final newline may go
            assert data[cut:] == b"\n" and got_words == words and np.array_equal(got, matrix), cut


@pytest.mark.parametrize("name", list(FORMATS))
@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4))
def test_flipped_bytes_are_an_error_or_a_sound_load(tmp_path, originals, name, flips):
    data, words, matrix = originals[name]
    damaged = bytearray(data)
    for where, mask in flips:
        damaged[int(where * len(data))] ^= mask
    path = tmp_path / name
    path.write_bytes(bytes(damaged))
    result = _load(path)
    if name.endswith(".gz") and not isinstance(result, W2VError):  # the gzip checksum lets no change through
        assert result[0] == words and np.array_equal(result[1], matrix)


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4))
def test_a_fuzzed_gz_corpus_reads_whole_or_fails_in_one_line(tmp_path, flips):
    text = b"".join(b"w%d w%d w%d\n" % (i, i + 1, i + 2) for i in range(40))
    data = bytearray(gzip.compress(text, mtime=0))
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(bytes(data))
    result, seconds = _timed(lambda: "".join(piece for piece, _ in iter_file_pieces(path)))
    assert seconds < SECONDS
    assert isinstance(result, W2VError) and "corpus.txt.gz" in str(result) or result == text.decode()
