"""Bad input, tried systematically (issue 6): each case is a one-line error or a counted warning,
never a traceback, and never partial outputs that look complete."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import compose_train_cfg, make_synthetic_text, write_text_file

from w2v.errors import W2VError
from w2v.train.trainer import train

QUICK = ["eval=none", "corpus=text", "dim=8", "epochs=1", "threads=1", "checkpoint_every_minutes=0"]


def _train(tmp_path: Path, corpus: Path, *extra: str) -> dict:
    return train(compose_train_cfg([*QUICK, f"corpus.path={corpus}", *extra]), tmp_path / "run")


def test_binary_garbage_is_read_with_counted_replacements(tmp_path, caplog):
    garbage = bytes(range(256)) * 400 + b"\n" + b"real words here and there " * 50
    corpus = tmp_path / "garbage.bin"
    corpus.write_bytes(garbage)
    metrics = _train(tmp_path, corpus, "min_count=1")
    assert metrics["vocab_size"] >= 5
    assert "undecodable bytes" in caplog.text


def test_invalid_utf8_in_the_middle_of_a_file(tmp_path, caplog):
    text = make_synthetic_text(n_sentences=50, n_words=20).encode()
    corpus = tmp_path / "mixed.txt"
    corpus.write_bytes(text[: len(text) // 2] + b"\xff\xfe\xc3(" + text[len(text) // 2 :])
    _train(tmp_path, corpus, "min_count=1")
    assert "replaced 3 undecodable bytes" in caplog.text  # 0xff, 0xfe and the lone lead byte 0xc3; "(" is valid
    assert (tmp_path / "run" / "vectors.bin").is_file()


def test_window_larger_than_every_sentence(tmp_path):
    corpus = write_text_file(tmp_path / "short.txt", "a b c\nb c a\nc a b\n" * 20)
    metrics = _train(tmp_path, corpus, "min_count=1", "window=50")
    assert metrics["epoch_loss"][0] > 0  # pairs exist, all within their sentence (tested exactly in test_pairs)


def test_max_vocab_one_is_a_clear_error(tmp_path):
    corpus = write_text_file(tmp_path / "c.txt", make_synthetic_text(n_sentences=20, n_words=10))
    with pytest.raises(W2VError, match="only 1 word"):
        _train(tmp_path, corpus, "min_count=1", "max_vocab=1")
    assert not (tmp_path / "run" / "corpus.ids").exists(), "no half-made outputs are left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere, so permissions cannot make a directory unwritable")
def test_unwritable_output_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    corpus = write_text_file(tmp_path / "c.txt", make_synthetic_text(n_sentences=20, n_words=10))
    with pytest.raises(W2VError, match="cannot write to the run directory"):
        train(compose_train_cfg([*QUICK, f"corpus.path={corpus}"]), locked / "run")


def test_run_directory_that_is_a_file(tmp_path):
    corpus = write_text_file(tmp_path / "c.txt", make_synthetic_text(n_sentences=20, n_words=10))
    blocker = tmp_path / "run"
    blocker.write_text("a file where the run directory should go")
    with pytest.raises(W2VError, match="cannot write to the run directory"):
        train(compose_train_cfg([*QUICK, f"corpus.path={corpus}"]), blocker)


def test_directory_where_a_checkpoint_file_is_expected(tmp_path):
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(W2VError, match="no checkpoint at"):
        train(compose_train_cfg([f"resume={tmp_path / 'empty_run'}"]))


def _peak_rss_reading(path: Path) -> tuple[int, int]:
    """(tokens, peak RSS in MB) of a fresh process that streams ``path`` as a text8 corpus."""
    code = textwrap.dedent(f"""
        import resource
        from omegaconf import OmegaConf
        from w2v.config import CorpusConfig
        from w2v.data.corpus import iter_sentences
        cfg = OmegaConf.structured(CorpusConfig(kind="text8", path={str(path)!r}, lowercase=False, token_pattern=None))
        n = sum(len(s) for s in iter_sentences(cfg))
        print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def _single_line(path: Path, megabytes: int) -> Path:
    chunk = b"alpha beta gamma delta " * 45590  # ~1 MB, no newline anywhere
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(chunk)
    return path


def _check_flat_memory(tmp_path: Path, megabytes: int) -> None:
    _, baseline = _peak_rss_reading(_single_line(tmp_path / "small.txt", 1))
    tokens, peak = _peak_rss_reading(_single_line(tmp_path / "huge.txt", megabytes))
    assert tokens == 4 * 45590 * megabytes
    assert peak - baseline < 60, f"reading a {megabytes} MB line grew peak RSS by {peak - baseline} MB"


def test_a_long_single_line_is_streamed_in_flat_memory(tmp_path):
    _check_flat_memory(tmp_path, 30)


@pytest.mark.slow
def test_a_200mb_single_line_is_streamed_in_flat_memory(tmp_path):
    _check_flat_memory(tmp_path, 200)


def test_memory_stays_flat_over_epochs(tmp_path, caplog):
    import logging
    import re

    caplog.set_level(logging.INFO)
    corpus = write_text_file(tmp_path / "c.txt", make_synthetic_text(n_sentences=800, n_words=300))
    _train(tmp_path, corpus, "min_count=1", "epochs=8", "block_tokens=2000")
    rss = [float(x) for x in re.findall(r"memory after epoch \d+: rss (\d+) MB", caplog.text)]
    assert len(rss) == 8
    assert max(rss[1:]) - rss[0] < 20, f"RSS after each epoch: {rss}"


def test_bad_eval_value_fails_before_training(tmp_path):
    corpus = write_text_file(tmp_path / "c.txt", make_synthetic_text(n_sentences=20, n_words=10))
    cfg = compose_train_cfg(["corpus=text", f"corpus.path={corpus}", "eval.topk=0"])
    with pytest.raises(W2VError, match="eval.topk=0"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "corpus.ids").exists(), "the error must come before the counting pass"
