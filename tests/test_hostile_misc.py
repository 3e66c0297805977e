"""Hostile and damaged files (issue #19): tokenizer.json, sweep job files, downloads, durable writes.

Every case ends in one line naming the problem and the fix, or a warning naming what was skipped;
never a traceback, an abort, a hang, or a partial file left where a later run would use it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import REPO_ROOT, compose_train_cfg, requires_shared_data, run_train_py
from omegaconf import OmegaConf

from w2v import atomic
from w2v.data import download, tokenizers
from w2v.data.download import ChecksumMismatch, cached_corpus_file, download_verified
from w2v.errors import W2VError
from w2v.evaluation.sweep import find_jobs, summarize_sweep
from w2v.songs import data as songs_data
from w2v.songs import sweep as songs_sweep

# ------------------------------------------------------------------ tokenizer.json

GOOD_TOKENIZER = {
    "version": "1.0",
    "added_tokens": [
        {"id": 0, "content": "[UNK]", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    ],
    "normalizer": None,
    "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": None,
    "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1, "b": 2}, "unk_token": "[UNK]"},
}


def tokenizer_json(tmp_path: Path, change=None, text: str | bytes | None = None) -> Path:
    """GOOD_TOKENIZER as a file, after ``change(spec)``; or ``text`` as the file's bytes."""
    path = tmp_path / "tokenizer.json"
    if text is None:
        spec = json.loads(json.dumps(GOOD_TOKENIZER))
        if change:
            change(spec)
        text = json.dumps(spec)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _huge_id(spec: dict) -> None:
    spec["model"]["vocab"]["b"] = 4_000_000_000  # the Rust library allocated 8 GB for this and aborted


def test_sparse_huge_token_id_is_one_line_exit_2_before_the_run_directory(tmp_path):
    bad = tokenizer_json(tmp_path, _huge_id)
    args = [f"corpus.tokenizer={bad}", "eval=none", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = run_train_py(args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "panicked" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "[ERROR]" in errors[0], proc.stderr
    assert "'b' has id 4000000000, outside 0..2" in errors[0] and "renumber the tokens 0..N-1" in errors[0]
    assert not (tmp_path / "run").exists(), "a config error must leave no run directory"


def test_a_good_tokenizer_json_still_loads(tmp_path):
    tok = tokenizers.load_tokenizer_file(str(tokenizer_json(tmp_path)))
    assert tok.get_vocab_size() == 3


def _set(path: str, value):
    def change(spec: dict) -> None:
        *parents, last = path.split(".")
        node = spec
        for key in parents:
            node = node[key]
        node[last] = value

    return change


BPE = {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}
UNIGRAM = {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]]}


@pytest.mark.parametrize(
    "change, text, fragment",
    [
        (None, '{"model": {"type": "WordLevel", "vocab": {"a": 0', "invalid JSON"),  # truncated
        (None, b'{"model": {"vocab": {"\xe9": 0}}}', "not UTF-8: byte 0xe9 at offset 22"),  # Latin-1
        (None, "[1, 2, 3]", "no model object at the top level"),
        (None, "[" * 100000 + "]" * 100000, "nested too deeply"),
        (_set("model", "WordLevel"), None, "no model object"),
        (_set("model.vocab", "abc"), None, "model.vocab is neither an object"),
        (_set("model.vocab.a", "1"), None, "model.vocab maps 'a' to '1', not an integer id"),
        (_set("model.vocab.a", True), None, "not an integer id"),
        (_set("model.vocab.a", -1), None, "'a' has id -1, outside 0..2"),
        (_huge_id, None, "'b' has id 4000000000, outside 0..2"),
        (_set("added_tokens", [{"id": 4_000_000_000, "content": "[X]"}]), None, "'[X]' has id 4000000000, outside 0..3"),
        (_set("added_tokens", [{"id": "0", "content": "[UNK]"}]), None, "added_tokens entry 0 is not an object with an integer id"),
        (_set("added_tokens", {"id": 0}), None, "added_tokens is not a list"),
        (_set("model", {**BPE, "merges": [["a", "zz"]]}), None, "model.merges entry 0 (['a', 'zz']) is not a pair of model.vocab tokens"),
        (_set("model", {**BPE, "merges": ["a b c"]}), None, "model.merges entry 0"),
        (_set("model", {**BPE, "merges": "a b"}), None, "model.merges is not a list"),
        (_set("model", {**UNIGRAM, "vocab": [["a", "x"]]}), None, "model.vocab entry 0 is ['a', 'x'], not a [piece, score] pair"),
        (_set("model", {**UNIGRAM, "unk_id": 7}), None, "model.unk_id=7 is not one of the 2 pieces' ids"),
    ],
)
def test_malformed_tokenizer_json_is_one_line(tmp_path, change, text, fragment):
    bad = tokenizer_json(tmp_path, change, text)
    with pytest.raises(W2VError) as err:
        tokenizers.load_tokenizer_file(str(bad))
    message = str(err.value)
    assert fragment in message and f"{bad} is not a Hugging Face tokenizer.json" in message and "\n" not in message


def test_a_dense_bpe_and_unigram_pass_the_check(tmp_path):
    for model in (BPE, UNIGRAM, {**BPE, "merges": ["a b"]}):
        path = tokenizer_json(tmp_path, _set("model", model))
        tokenizers.check_tokenizer_json(path)


def test_vocabulary_and_file_size_bounds(tmp_path, monkeypatch):
    path = tokenizer_json(tmp_path)
    monkeypatch.setattr(tokenizers, "MAX_TOKENIZER_VOCAB", 2)
    with pytest.raises(W2VError, match=r"\(model.vocab holds 3 tokens, more than 2\); use a tokenizer of fewer tokens"):
        tokenizers.load_tokenizer_file(str(path))
    monkeypatch.setattr(tokenizers, "MAX_TOKENIZER_VOCAB", 10)
    monkeypatch.setattr(tokenizers, "MAX_TOKENIZER_BYTES", 100)
    with pytest.raises(W2VError, match=r"\(larger than 0 MB\); check the path"):
        tokenizers.load_tokenizer_file(str(path))


def test_validate_reports_the_bad_tokenizer_json(tmp_path):
    from w2v.config import validate

    bad = tokenizer_json(tmp_path, _huge_id)
    with pytest.raises(W2VError, match="outside 0..2"):
        validate(compose_train_cfg([f"corpus.tokenizer={bad}"]))


# ------------------------------------------------------------------ sweep summaries


def make_job(root: Path, name: str, overrides: str | bytes, metrics: str | bytes | None) -> Path:
    """A job directory as Hydra's multirun leaves it, with the files' raw contents given."""
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_bytes(overrides.encode() if isinstance(overrides, str) else overrides)
    if metrics is not None:
        (job / "metrics.json").write_bytes(metrics.encode() if isinstance(metrics, str) else metrics)
    return job


GOOD_OVERRIDES = "- window=2\n- epochs=1\n"
GOOD_METRICS = json.dumps({"analogy": 0.5, "final_loss": 2.0, "device": "cpu", "epoch_loss": [2.0], "final_val_loss": None})
DAMAGED = {
    "metrics-bad-json": ("- window=3\n- epochs=1\n", '{"analogy": 0.', "unreadable metrics.json"),
    "metrics-a-list": ("- window=3\n- epochs=1\n", "[0.5, 2.0]", "a JSON list, not an object"),
    "metrics-a-string-metric": ("- window=3\n- epochs=1\n", '{"analogy": "high"}', "analogy is 'high', not a number"),
    "metrics-a-huge-int": ("- window=3\n- epochs=1\n", '{"final_loss": 1' + "0" * 400 + "}", "final_loss is"),
    "metrics-not-utf8": ("- window=3\n- epochs=1\n", b'{"analogy": "\xff"}', "metrics.json is not UTF-8"),
    "overrides-bad-yaml": ("- window=3\n  - : [", GOOD_METRICS, "unreadable .hydra/overrides.yaml"),
    "overrides-a-mapping": ("window: 3\n", GOOD_METRICS, "not a list of key=value strings"),
    "overrides-not-strings": ("- window=3\n- [1, 2]\n", GOOD_METRICS, "not a list of key=value strings"),
    "overrides-not-utf8": (b"- window=\xff\n", GOOD_METRICS, "overrides.yaml is not UTF-8"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_a_damaged_job_is_skipped_with_a_warning_naming_it(tmp_path, caplog, kind):
    overrides, metrics, problem = DAMAGED[kind]
    make_job(tmp_path, "good", GOOD_OVERRIDES, GOOD_METRICS)
    make_job(tmp_path, "good2", "- window=5\n- epochs=1\n", GOOD_METRICS.replace("0.5", "0.7"))
    make_job(tmp_path, kind, overrides, metrics)
    with caplog.at_level(logging.WARNING):
        table = summarize_sweep(tmp_path)
    assert f"sweep job {kind} skipped: " in caplog.text and problem in caplog.text
    assert table.splitlines()[0] == "| window | analogy | final_loss |"  # the damaged job neither adds rows nor columns
    assert len(table.splitlines()) == 4
    rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["good2", "good"]
    md = (tmp_path / "summary.md").read_text()
    assert "2 jobs, 2 with metrics. Fixed for all jobs: epochs=1." in md and f"- {kind}: " in md and problem in md


def test_a_sweep_of_only_damaged_jobs_is_one_line(tmp_path):
    for kind in ("metrics-bad-json", "overrides-a-mapping"):
        make_job(tmp_path, kind, *DAMAGED[kind][:2])
    with pytest.raises(W2VError) as err:
        summarize_sweep(tmp_path)
    message = str(err.value)
    assert "no usable job under" in message and "all 2 are damaged" in message and "fix or delete" in message and "\n" not in message


def test_the_songs_summary_skips_damaged_jobs_too(tmp_path, capsys):
    make_job(tmp_path, "a", "- window=3\n", json.dumps({"hr@10": 0.2}))
    make_job(tmp_path, "b", "- window=20\n", json.dumps({"hr@10": 0.3}))
    make_job(tmp_path, "c", "- window=7\n", '{"hr@10": "best"}')
    effects = songs_sweep.summarize(tmp_path)
    assert "**window**: 20 → 0.3000 (1 jobs), 3 → 0.2000 (1 jobs)" in effects
    assert [job.name for job in find_jobs(tmp_path, ["hr@10"])] == ["a", "b"]
    for kind in ("a", "b"):
        (tmp_path / kind / "metrics.json").write_text("{")
    assert songs_sweep.main([str(tmp_path)]) == 2  # no usable job: one line, exit 2, no traceback


def test_evaluate_py_summarises_the_good_jobs_and_names_the_bad(tmp_path):
    sweep, out = tmp_path / "sweep", tmp_path / "report"
    make_job(sweep, "window=2", GOOD_OVERRIDES, GOOD_METRICS)
    make_job(sweep, "window=3", *DAMAGED["metrics-a-list"][:2])
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "evaluate.py"), f"sweep={sweep}", f"out={out}", f"hydra.run.dir={tmp_path / 'eval-run'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "sweep job window=3 skipped: unreadable metrics.json" in proc.stderr
    assert "| analogy | final_loss |" in proc.stdout and (out / "summary.csv").is_file()


# ------------------------------------------------------------------ downloads

BODY = b"the corpus " * 1000
MD5 = hashlib.md5(BODY).hexdigest()
HINT = "offline? use corpus.path"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Good, wrong, oversized, short and slow answers, by path."""

    stop: threading.Event  # set by the fixture: slow answers end

    def log_message(self, *args) -> None:
        pass

    def _send(self, body: bytes, length: int | None) -> None:
        self.send_response(200)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        try:
            self._answer()
        except OSError:  # the client gave up (a deadline, a size cap)
            pass

    def _answer(self) -> None:
        if self.path == "/good":
            self._send(BODY, len(BODY))
        elif self.path == "/wrong":
            self._send(BODY[::-1], len(BODY))
        elif self.path == "/big":  # announces more than the cap, sends little
            self._send(BODY, 10**12)
        elif self.path == "/big-unannounced":  # no Content-Length, more bytes than the cap
            self.close_connection = True
            self._send(BODY * 10, None)
        elif self.path == "/short":  # promises more than it sends, then hangs up
            self.close_connection = True
            self._send(BODY[:100], len(BODY))
        elif self.path == "/drip-body":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self._drip(BODY)
        elif self.path == "/drip-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._drip(b"x" * 10000)

    def _drip(self, data: bytes) -> None:
        for i in range(len(data)):
            if self.stop.is_set():
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(0.02)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"stop": threading.Event()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_good_download_is_kept_and_verified(server, tmp_path):
    dest = tmp_path / "cache" / "corpus.gz"
    assert download_verified(f"{server}/good", dest, f"md5:{MD5}", HINT) == dest
    assert dest.read_bytes() == BODY and leftovers(dest.parent) == ["corpus.gz"]


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("/wrong", "does not match its published md5"),
        ("/big", f"announces {10**12} bytes, more than the 5000 a download may take"),
        ("/big-unannounced", "sent more than the 5000 bytes a download may take"),
        ("/short", "ended after 100 of 11000 bytes"),
    ],
)
def test_a_bad_download_is_one_line_and_keeps_nothing(server, tmp_path, path, fragment):
    dest = tmp_path / "cache" / "corpus.gz"
    max_bytes = 5000 if "big" in path else download.DOWNLOAD_MAX_BYTES
    with pytest.raises(W2VError) as err:
        download_verified(f"{server}{path}", dest, f"md5:{MD5}", HINT, max_bytes=max_bytes)
    assert fragment in str(err.value) and "nothing was kept" in str(err.value) and "\n" not in str(err.value)
    assert leftovers(dest.parent) == []


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_slow_server_hits_the_deadline_and_keeps_nothing(server, tmp_path, path):
    dest = tmp_path / "cache" / "corpus.gz"
    start = time.perf_counter()
    with pytest.raises(W2VError, match=r"took longer than 1s: nothing was kept; try again on a faster connection, or offline\?"):
        download_verified(f"{server}{path}", dest, f"md5:{MD5}", HINT, timeout=0.5, deadline=1.0)
    assert time.perf_counter() - start < 4.0  # the deadline, plus at most one read to clean up
    assert leftovers(dest.parent) == []


def _text8_cfg(cache: Path, url: str, checksum: str):
    return OmegaConf.create({"kind": "text8", "url": url, "cache_dir": str(cache), "checksum": checksum})


def test_a_cached_file_is_verified_before_use(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / "good"
    cached.write_bytes(BODY)
    ccfg = _text8_cfg(cache, "http://127.0.0.1:9/good", f"md5:{MD5}")  # the discard port: no download possible
    hashed = []
    real = download.file_digest
    monkeypatch.setattr(download, "file_digest", lambda *a, **k: hashed.append(a[0]) or real(*a, **k))
    assert cached_corpus_file(ccfg) == cached and cached_corpus_file(ccfg) == cached
    assert len(hashed) == 1, "an unchanged file is hashed once per process"
    cached.write_bytes(BODY[:-1] + b"X")  # damaged after download
    with pytest.raises(W2VError) as err:
        cached_corpus_file(ccfg)
    assert f"the cached {cached} does not match its published md5 {MD5}" in str(err.value) and "delete it" in str(err.value)
    assert "\n" not in str(err.value) and cached.exists(), "the user's file is not deleted behind their back"


def test_the_playlists_download_is_pinned_and_verified(server, tmp_path, monkeypatch):
    folder = tmp_path / "served"
    folder.mkdir()
    files = {"train.txt": b"ids\ncounts\n1 2 3 \n4 5 \n", "song_hash.txt": b"1 \tA\tB\n"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    sums = {name: "sha256:" + hashlib.sha256(content).hexdigest() for name, content in files.items()}
    cache = tmp_path / "cache"
    ccfg = SimpleNamespace(path=None, url=folder.as_uri(), cache_dir=str(cache), checksums=sums, metadata=None)
    assert songs_data.playlists_file(ccfg) == cache / "train.txt"
    assert leftovers(cache) == ["song_hash.txt", "train.txt"]
    # A hand-made train.txt.gz in the cache is checked by its content; a damaged one is refused.
    (cache / "train.txt").unlink()
    (cache / "train.txt.gz").write_bytes(gzip.compress(files["train.txt"]))
    assert songs_data.playlists_file(ccfg) == cache / "train.txt.gz"
    (cache / "song_hash.txt").write_bytes(b"0 \tX\tY\n")
    with pytest.raises(W2VError, match="song_hash.txt does not match its published sha256 .*delete it"):
        songs_data.metadata_file(ccfg)
    # A served file that is not the pinned one is never kept.
    empty = tmp_path / "cache2"
    bad = SimpleNamespace(**{**vars(ccfg), "cache_dir": str(empty), "checksums": {**sums, "train.txt": "sha256:" + "0" * 64}})
    with pytest.raises(ChecksumMismatch):
        songs_data.playlists_file(bad)
    assert leftovers(empty) == []


def test_the_pinned_playlists_checksums_are_the_shared_copys():
    ccfg = compose_train_cfg(["corpus=playlists"]).corpus
    assert set(ccfg.checksums) == {"train.txt", "song_hash.txt"}
    for name, checksum in ccfg.checksums.items():
        path = requires_shared_data(f"playlists/{name}.gz")
        assert "sha256:" + download.file_digest(path, "sha256", decompress=True) == checksum


# ------------------------------------------------------------------ durable writes


def test_atomic_writes_fsync_the_file_and_then_the_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def record(fd: int) -> None:
        st = os.fstat(fd)
        synced.append(("dir" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    target = tmp_path / "metrics.json"
    atomic.atomic_write_text(target, "{}")
    assert synced == [("file", target.stat().st_ino), ("dir", tmp_path.stat().st_ino)]


def test_a_directory_that_refuses_fsync_is_not_an_error(tmp_path, monkeypatch):
    def refuse(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "fsync", refuse)
    atomic.atomic_write_text(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").read_text() == "x"
