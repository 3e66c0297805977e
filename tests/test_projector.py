"""TensorBoard's Projector: the files a run writes (rows, order, metadata), the switches, and (slow) that a
real ``tensorboard --logdir outputs`` serves the embedding."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_train_cfg, free_port

from w2v.errors import W2VError
from w2v.projector import write_projector
from w2v.train.trainer import train

QUICK = ["epochs=1", "dim=8", "window=2", "negatives=2", "threads=1", "checkpoint_every_minutes=0", "seed=5"]


def _read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def projector_run(tmp_path_factory) -> Path:
    """A one-epoch Lee run without benchmarks but with the Projector's 300 most frequent words."""
    run_dir = tmp_path_factory.mktemp("projector_run")
    train(compose_train_cfg(QUICK + ["eval=none", "eval.projector_words=300"]), run_dir)
    return run_dir


def test_run_writes_the_most_frequent_words_with_metadata(projector_run):
    tb = projector_run / "tb"
    config = (tb / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "vectors:00001"' in config  # step = epochs trained
    assert 'tensor_path: "00001/vectors/tensors.tsv"' in config and 'metadata_path: "00001/vectors/metadata.tsv"' in config
    tensors = np.array(_read_tsv(tb / "00001" / "vectors" / "tensors.tsv"), dtype=np.float64)
    meta = _read_tsv(tb / "00001" / "vectors" / "metadata.tsv")
    assert tensors.shape == (300, 8)
    assert meta[0] == ["word", "count"] and len(meta) == 301
    vocab = _read_tsv(projector_run / "vocab.tsv")
    assert meta[1:] == vocab[:300]  # most frequent first, with their counts
    exported = np.array([line.split(" ")[1:] for line in (projector_run / "vectors.txt").read_text().splitlines()[1:301]], dtype=np.float64)
    np.testing.assert_allclose(tensors, exported, atol=1e-6)  # the exported vectors, rounded to 6 decimals
    assert not (tb / ".projector.tmp").exists()


def test_fewer_words_than_asked_and_a_rewrite(tmp_path):
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    target = write_projector(tmp_path, ["a", "b", "c", "d"], [9, 5, 2, 1], vectors, 10_000, 3)
    assert target == tmp_path / "00003" / "vectors"
    assert len(_read_tsv(target / "tensors.tsv")) == 4 and len(_read_tsv(target / "metadata.tsv")) == 5
    write_projector(tmp_path, ["a", "b", "c", "d"], [9, 5, 2, 1], vectors, 2, 3)  # same step again: replaced, not appended
    assert len(_read_tsv(target / "tensors.tsv")) == 2
    assert (tmp_path / "projector_config.pbtxt").read_text().count("embeddings {") == 1
    assert write_projector(tmp_path / "off", ["a", "b"], [2, 1], vectors[:2], 0, 1) is None
    assert not (tmp_path / "off").exists()


@pytest.mark.parametrize("overrides", [["eval=none"], ["eval.enabled=false", "eval.projector_words=0"]])
def test_off_switches(tmp_path, overrides):
    train(compose_train_cfg(QUICK + ["corpus.max_tokens=5000", *overrides]), tmp_path)
    assert (tmp_path / "vectors.bin").is_file()
    assert not (tmp_path / "tb" / "projector_config.pbtxt").exists()


def test_negative_count_is_a_config_error(tmp_path):
    with pytest.raises(W2VError, match=r"eval.projector_words=-1: must be >= 0"):
        train(compose_train_cfg(QUICK + ["eval.projector_words=-1"]), tmp_path)


@pytest.mark.slow
def test_tensorboard_serves_the_embedding(projector_run, tmp_path):
    """``tensorboard --logdir outputs`` lists the run in its Projector with the right shape and metadata."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "run").symlink_to(projector_run)
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(outputs), "--port", str(port), "--host", "127.0.0.1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/data/plugin/projector"
        deadline = time.monotonic() + 90
        while True:
            try:
                runs = json.load(urllib.request.urlopen(f"{base}/runs", timeout=5))
                if runs:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "tensorboard did not list a projector run"
            time.sleep(1)
        assert runs == ["run/tb"]
        info = json.load(urllib.request.urlopen(f"{base}/info?run=run/tb", timeout=10))
        assert [(e["tensorName"], e["tensorShape"]) for e in info["embeddings"]] == [("vectors:00001", [300, 8])]
        meta = urllib.request.urlopen(f"{base}/metadata?run=run/tb&name=vectors:00001", timeout=10).read().decode()
        assert meta.splitlines()[0] == "word\tcount" and len(meta.splitlines()) == 301
    finally:
        proc.terminate()
        proc.wait(timeout=30)
