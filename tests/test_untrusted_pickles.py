"""No code runs from a file the user did not write: crafted pickles as ``.kv``/``.model`` vectors and as
``checkpoint.pt``. Each pickle runs a shell command that creates a marker file when unpickled; loading
must leave no marker and fail with one line that names the safe way on."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT, run_train_py

from w2v.errors import W2VError
from w2v.train.checkpoint import load_checkpoint
from w2v.vectors import load_vectors

EVALUATE_PY = REPO_ROOT / "evaluate.py"


class _ShellCommand:
    """Unpickling this object runs ``command`` in a shell, as the crafted model.kv of issue 13 did."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def write_crafted_pickle(path: Path, marker: Path) -> Path:
    """A pickle (protocol 4, so it starts like a gensim .kv) whose loading creates ``marker``."""
    data = pickle.dumps(_ShellCommand(f"touch {marker}"), protocol=4)
    if path.suffix == ".gz":
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _run(script: Path, args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "[ERROR]" in line]


def test_the_crafted_pickle_really_runs_its_command(tmp_path):
    """The fixture is live: plain ``pickle.load`` runs the command (so the tests below can fail)."""
    marker = tmp_path / "ran"
    pickle.loads(write_crafted_pickle(tmp_path / "evil.kv", marker).read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("name", ["model.kv", "word2vec.model", "vectors.kv.gz"])
def test_pickled_vectors_are_refused_without_trust(tmp_path, name):
    marker = tmp_path / "ran"
    path = write_crafted_pickle(tmp_path / name, marker)
    with pytest.raises(W2VError) as err:
        load_vectors(path)
    message = str(err.value)
    assert "\n" not in message
    assert f"{path} is a Python pickle" in message and "trust_pickle=true" in message
    assert "save_word2vec_format(" in message and "binary=True" in message  # how to convert
    assert not marker.exists()


def test_evaluate_py_refuses_a_crafted_kv_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    evil = write_crafted_pickle(tmp_path / "model.kv", marker)
    proc = _run(EVALUATE_PY, [f"vectors={evil}", f"out={tmp_path / 'report'}", f"hydra.run.dir={tmp_path / 'hydra'}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = _error_lines(proc)
    assert len(errors) == 1 and "trust_pickle=true" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not marker.exists()


@pytest.mark.slow  # 19 s: a full evaluation; the refusal tests stay in the default run
def test_evaluate_py_loads_a_real_gensim_kv_with_trust_pickle(lee_run, tmp_path):
    from gensim.models import KeyedVectors

    run_dir, _ = lee_run
    kv_path = tmp_path / "lee.kv"
    KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True).save(str(kv_path))
    common = [f"vectors={kv_path}", "eval.glove_path=null", "eval.plot=false", "eval.similarity=[wordsim353]"]
    common.append(f"hydra.run.dir={tmp_path}/h")
    refused = _run(EVALUATE_PY, [*common, f"out={tmp_path / 'a'}"], tmp_path)
    assert refused.returncode == 2 and "trust_pickle=true" in refused.stderr, refused.stderr[-2000:]
    proc = _run(EVALUATE_PY, [*common, "trust_pickle=true", f"out={tmp_path / 'b'}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| wordsim353 |" in proc.stdout
    ours = _run(EVALUATE_PY, [f"vectors={run_dir}", *common[1:], f"out={tmp_path / 'c'}"], tmp_path)
    assert ours.returncode == 0, ours.stderr[-2000:]
    # The .kv holds the run's own vectors, so the scores are the run's.
    assert _row(proc.stdout, "wordsim353") == _row(ours.stdout, "wordsim353")


def _row(table: str, metric: str) -> str:
    return next(line.split("|")[2].strip() for line in table.splitlines() if line.startswith(f"| {metric} |"))


def test_crafted_checkpoint_is_refused_without_pytorchs_unsafe_hint(tmp_path):
    marker = tmp_path / "ran"
    write_crafted_pickle(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(W2VError) as err:
        load_checkpoint(tmp_path)
    message = str(err.value)
    assert "not a w2v checkpoint" in message and "refuses to unpickle" in message and "\n" not in message
    assert "weights_only" not in message and "add_safe_globals" not in message
    assert not marker.exists()


def test_resume_from_a_crafted_checkpoint_is_one_line_without_the_hint(tmp_path):
    marker = tmp_path / "ran"
    write_crafted_pickle(tmp_path / "checkpoint.pt", marker)
    proc = run_train_py([f"resume={tmp_path}"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = _error_lines(proc)
    assert len(errors) == 1 and "not a w2v checkpoint" in errors[0], proc.stderr[-2000:]
    assert "weights_only" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert not marker.exists()
