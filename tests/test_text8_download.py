"""``corpus=text8`` without a path: downloaded once into the cache and verified, never from the network in
tests (a file:// URL, a local HTTP server, a closed port for "offline")."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from helpers import compose_train_cfg, make_synthetic_text, run_train_py

from w2v.data.corpus import iter_sentences
from w2v.data.download import ChecksumMismatch, parse_checksum
from w2v.errors import W2VError

OFFLINE_URL = "http://127.0.0.1:9/text8.gz"  # the discard port: connection refused at once


@pytest.fixture(scope="module")
def text8_gz(tmp_path_factory) -> tuple[Path, str]:
    """A text8-style file (one line of lowercase words), gzipped as gensim-data serves it, and its md5."""
    text = make_synthetic_text(n_sentences=300, n_words=60, length=20, seed=2).replace("\n", " ")
    path = tmp_path_factory.mktemp("server") / "text8.gz"
    path.write_bytes(gzip.compress(text.encode()))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def _corpus_cfg(url: str, cache: Path, checksum: str):
    return compose_train_cfg(["corpus=text8", f"corpus.url={url}", f"corpus.cache_dir={cache}", f"corpus.checksum={checksum}"]).corpus


def test_the_default_is_gensim_datas_text8_with_its_published_md5():
    ccfg = compose_train_cfg(["corpus=text8"]).corpus
    assert ccfg.path is None and ccfg.cache_dir == "~/.cache/w2v/text8"
    assert ccfg.url == "https://github.com/RaRe-Technologies/gensim-data/releases/download/text8/text8.gz"
    assert ccfg.checksum == "md5:68799af40b6bda07dfa47a32612e5364"  # gensim-data list.json, corpora.text8.checksum


def test_downloads_once_then_reads_the_cache(text8_gz, tmp_path):
    source, md5 = text8_gz
    served = tmp_path / "served" / "text8.gz"
    served.parent.mkdir()
    served.write_bytes(source.read_bytes())
    cache = tmp_path / "cache"
    ccfg = _corpus_cfg(served.as_uri(), cache, f"md5:{md5}")
    sentences = list(iter_sentences(ccfg))
    assert sum(map(len, sentences)) == 300 * 20
    assert (cache / "text8.gz").read_bytes() == source.read_bytes()
    assert [p.name for p in cache.iterdir()] == ["text8.gz"]  # no temporary file left
    served.unlink()  # the second run must not download again
    assert list(iter_sentences(ccfg)) == sentences


def test_checksum_mismatch_is_one_line_and_keeps_nothing(text8_gz, tmp_path):
    source, _ = text8_gz
    cache = tmp_path / "cache"
    ccfg = _corpus_cfg(source.as_uri(), cache, "md5:" + "0" * 32)
    with pytest.raises(ChecksumMismatch) as err:
        list(iter_sentences(ccfg))
    message = str(err.value)
    assert "does not match its published md5 " + "0" * 32 in message and "nothing was kept" in message and "\n" not in message
    assert not cache.exists() or not list(cache.iterdir())


def test_offline_names_the_local_file_alternative(tmp_path):
    cache = tmp_path / "cache"
    ccfg = _corpus_cfg(OFFLINE_URL, cache, "md5:68799af40b6bda07dfa47a32612e5364")
    with pytest.raises(W2VError, match=r"cannot download http://127.0.0.1:9/text8.gz .*offline\? .*corpus.path=/path/to/text8") as err:
        list(iter_sentences(ccfg))
    assert "\n" not in str(err.value)
    assert not cache.exists() or not list(cache.iterdir())


def test_a_given_path_never_downloads(tmp_path, text8_gz):
    source, _ = text8_gz
    ccfg = compose_train_cfg(["corpus=text8", f"corpus.path={source}", f"corpus.url={OFFLINE_URL}"]).corpus
    assert sum(map(len, iter_sentences(ccfg))) == 300 * 20


@pytest.mark.parametrize("spec", ["68799af40b6bda07dfa47a32612e5364", "crc32:1234", "md5:xyz", "md5:"])
def test_malformed_checksum(spec):
    with pytest.raises(W2VError, match="invalid checksum"):
        parse_checksum(spec)


@pytest.fixture
def http_server(text8_gz):
    """Serves the fixture's directory on a free local port, as a release server would."""
    handler = functools.partial(_QuietHandler, directory=str(text8_gz[0].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


QUICK = ["eval=none", "epochs=1", "dim=8", "min_count=1", "threads=1", "checkpoint_every_minutes=0"]


def test_train_py_downloads_over_http_then_trains(http_server, text8_gz, tmp_path):
    cache = tmp_path / "cache"
    args = ["corpus=text8", f"corpus.url={http_server}/text8.gz", f"corpus.cache_dir={cache}", f"corpus.checksum=md5:{text8_gz[1]}", *QUICK]
    proc = run_train_py([*args, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (cache / "text8.gz").is_file() and (tmp_path / "run" / "vectors.bin").is_file()
    assert "md5 verified" in (tmp_path / "run" / "train.log").read_text()


def test_train_py_offline_is_one_line_exit_2(tmp_path):
    args = ["corpus=text8", f"corpus.url={OFFLINE_URL}", f"corpus.cache_dir={tmp_path / 'cache'}", *QUICK]
    proc = run_train_py([*args, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and "corpus.path=" in errors[0] and "Traceback" not in proc.stderr
