"""Reliability: interrupt (SIGINT, SIGKILL after a periodic checkpoint), resume, compare; corrupt files.

The interrupted and resumed ``train.py`` runs and their settings are tests/helpers/resume.py's.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, make_synthetic_text, write_text_file
from helpers.resume import RUN_ARGS, checkpoint_vectors, resume_run, start_run, wait_for_checkpoint
from omegaconf import OmegaConf

from w2v.errors import W2VError
from w2v.train.checkpoint import load_checkpoint
from w2v.train.trainer import train


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    text = make_synthetic_text(n_sentences=800, n_words=300, length=20, seed=1)
    return write_text_file(tmp_path_factory.mktemp("corpus") / "c.txt", text)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("ref")
    metrics = train(compose_train_cfg(RUN_ARGS + [f"corpus.path={corpus}"]), run_dir)
    return run_dir, metrics


def _interrupt(run_dir: Path, corpus: Path, sig: int = signal.SIGINT) -> subprocess.Popen:
    proc = start_run(run_dir, corpus)
    wait_for_checkpoint(proc, run_dir)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert not load_checkpoint(run_dir)["progress"]["done"], "the run finished before it was interrupted: the test proved nothing"
    return proc


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, pytest.param(signal.SIGKILL, marks=pytest.mark.slow)], ids=["sigint", "sigkill"]
)  # SIGKILL (slow): resume from the periodic checkpoint
def test_interrupt_and_resume_gives_bitwise_same_vectors(tmp_path, corpus, reference, sig):
    run_dir = tmp_path / "run"
    proc = start_run(run_dir, corpus)
    wait_for_checkpoint(proc, run_dir)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    state = load_checkpoint(run_dir)
    assert not state["progress"]["done"], "the run finished before it was interrupted: the test proved nothing"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert f"resume with: python train.py resume={run_dir}" in err
        assert "Traceback" not in err
    assert not (run_dir / "vectors.txt").exists(), "an interrupted run must not leave outputs that look complete"

    done = resume_run(run_dir)  # no other flag: the run continues as it was configured
    assert done.returncode == 0, done.stderr[-3000:]
    assert "keeping the checkpoint's" not in done.stderr  # nothing was given, so nothing is ignored
    config = load_checkpoint(run_dir)["config"]
    assert config["threads"] == 1 and config["eval"]["enabled"] is False and config["log_every"] == 1
    assert not (run_dir / "eval.json").exists(), "eval=none was set when the run started"
    ref_dir, ref_metrics = reference
    # Exact: same words in the same order with the same draws, so the tables are bitwise equal.
    assert np.array_equal(checkpoint_vectors(run_dir), checkpoint_vectors(ref_dir))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["words_done"] == ref_metrics["words_done"] == 4 * ref_metrics["train_words"]
    assert metrics["epoch_loss"] == pytest.approx(ref_metrics["epoch_loss"], rel=1e-9)
    assert len(ref_metrics["val_loss"]) == 4 and metrics["val_loss"] == pytest.approx(ref_metrics["val_loss"], rel=1e-9)


# In the slow set to hold the default run near 5 minutes: which keys a resume takes is checked in-process below
# (test_resume_config_programmatic_explicit_keys, test_hydra_override_keys), and train.py resume= end to end by
# test_interrupt_and_resume_gives_bitwise_same_vectors.
@pytest.mark.slow
def test_keys_given_on_resume_change_and_others_are_kept_with_a_warning(tmp_path, corpus):
    run_dir = tmp_path / "run"
    _interrupt(run_dir, corpus)
    done = resume_run(run_dir, ["threads=2", "log_every=3", "epochs=9", "window=2"])
    assert done.returncode == 0, done.stderr[-3000:]
    config = load_checkpoint(run_dir)["config"]
    assert config["threads"] == 2 and config["log_every"] == 3  # machine settings a resume may change
    assert config["epochs"] == 4 and config["window"] == 5  # the model and the data are the checkpoint's
    assert "resume: keeping the checkpoint's epochs=4 (ignoring 9)" in done.stderr
    assert "resume: keeping the checkpoint's window=5 (ignoring 2)" in done.stderr
    assert config["eval"]["enabled"] is False and config["checkpoint_every_words"] == 2000  # not given: kept


def test_resume_config_programmatic_explicit_keys():
    from w2v.train.resume import resume_config

    saved = compose_train_cfg(RUN_ARGS)
    state = {"config": OmegaConf.to_container(saved, resolve=True)}
    cfg = compose_train_cfg(["eval=default", "threads=3", "resume=x", "epochs=2"])
    kept = resume_config(cfg, state)  # nothing explicit but resume itself
    assert kept.threads == 1 and kept.eval.enabled is False and kept.epochs == 4 and kept.resume == "x"
    changed = resume_config(cfg, state, explicit=["threads", "eval", "epochs"])
    assert changed.threads == 3 and changed.eval.enabled is True and changed.epochs == 4
    one_value = resume_config(compose_train_cfg(["eval.every_epoch=true"]), state, explicit=["eval.every_epoch"])
    assert one_value.eval.every_epoch is True and one_value.eval.enabled is False


def test_a_checkpoint_from_before_dist_merge_resumes_with_the_average_it_trained_with():
    from w2v.train.resume import resume_config

    saved = OmegaConf.to_container(compose_train_cfg(RUN_ARGS), resolve=True)
    del saved["dist"]["merge"]  # written before the key existed, with dist.lr_scale=linear
    saved["dist"]["lr_scale"] = "linear"
    cfg = resume_config(compose_train_cfg(["resume=x"]), {"config": saved})
    assert cfg.dist.merge == "average" and cfg.dist.lr_scale == "linear"
    given = resume_config(compose_train_cfg(["resume=x", "dist.merge=deltas"]), {"config": saved}, explicit=["dist.merge"])
    assert given.dist.merge == "deltas"  # dist.* may change on resume


def test_hydra_override_keys():
    from w2v.train.resume import override_keys

    assert override_keys(["threads=1", "eval=none", "+eval.seed=3", "hydra.run.dir=/x", "resume=/a/b"]) == [
        "threads", "eval", "eval.seed", "hydra.run.dir", "resume",
    ]  # fmt: skip


def test_resume_of_a_finished_run_says_it_is_complete_and_how_to_continue(tmp_path, reference):
    ref_dir, _ = reference
    (tmp_path / "checkpoint.pt").write_bytes((ref_dir / "checkpoint.pt").read_bytes())
    proc = resume_run(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(lines) == 1, proc.stderr
    assert f"the run in {tmp_path} is complete (4 epochs" in lines[0]
    assert f"python train.py init={tmp_path} corpus=..." in lines[0]
    assert "corpus.ids" not in proc.stderr


@pytest.mark.slow  # 15 s; test_heldout covers every block once for 1-3 workers
def test_workers_train_every_word_exactly_once_across_resume(tmp_path, corpus):
    run_dir = tmp_path / "run"
    proc = start_run(run_dir, corpus, ["workers=2"])
    wait_for_checkpoint(proc, run_dir)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    state = load_checkpoint(run_dir)
    assert not state["progress"]["done"]
    assert resume_run(run_dir).returncode == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["words_done"] == 4 * metrics["train_words"]


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path, corpus):
    cfg = compose_train_cfg(RUN_ARGS + [f"corpus.path={corpus}", "lr=1e12", "min_lr=0", "checkpoint_every_words=100000000"])
    with pytest.raises(W2VError, match="diverged"):
        train(cfg, tmp_path)
    assert not (tmp_path / "vectors.txt").exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path, reference):
    ref_dir, _ = reference
    data = (ref_dir / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(W2VError, match="corrupt or not a w2v checkpoint"):
        load_checkpoint(tmp_path)
    proc = resume_run(tmp_path)
    assert proc.returncode == 2 and "corrupt" in proc.stderr and "Traceback" not in proc.stderr


def test_foreign_pickle_is_refused_without_running_it(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").touch, ())

    (tmp_path / "checkpoint.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(W2VError):
        load_checkpoint(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_of_another_vocabulary_or_dim_is_refused(tmp_path, corpus, reference):
    ref_dir, _ = reference
    state = torch.load(ref_dir / "checkpoint.pt", weights_only=True)
    state["model"]["in_embed.weight"] = torch.zeros(5, 16)
    state["progress"]["done"] = False  # the reference run finished; a finished run is refused earlier
    torch.save(state, tmp_path / "checkpoint.pt")
    (tmp_path / "corpus.ids").write_bytes(bytes(4 * state["id_sizes"][0]))  # the recorded size: only the tables are wrong
    with pytest.raises(W2VError, match="different vocabulary or dim"):
        train(compose_train_cfg([f"resume={tmp_path}"]), tmp_path)


def test_disk_full_on_export_keeps_previous_files(tmp_path, corpus, monkeypatch):
    import errno

    import w2v.atomic

    (tmp_path / "vectors.txt").write_text("previous good file\n")
    real_fsync = w2v.atomic.os.fsync

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    cfg = compose_train_cfg(RUN_ARGS + [f"corpus.path={corpus}", "epochs=1", "checkpoint_every_words=100000000"])
    monkeypatch.setattr(w2v.atomic.os, "fsync", full_disk)
    with pytest.raises(W2VError, match="No space left on device"):
        train(cfg, tmp_path)
    monkeypatch.setattr(w2v.atomic.os, "fsync", real_fsync)
    assert (tmp_path / "vectors.txt").read_text() == "previous good file\n"
    assert not list(tmp_path.glob(".*.tmp")), "temporary files must be cleaned up"
    assert not (tmp_path / "metrics.json").exists()
