"""``evaluate.py`` as a user runs it, in a subprocess: vectors side by side, a real two-job sweep of
``train.py`` summarised into a table and a PNG, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from w2v.errors import W2VError
from w2v.evaluation.run import evaluate

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
EVALUATE_PY = REPO_ROOT / "evaluate.py"
GLOVE = SHARED_DATA / "glove" / "glove.6B.50d.txt.gz"
PNG = b"\x89PNG\r\n\x1a\n"


def run_evaluate(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, str(EVALUATE_PY), f"hydra.run.dir={cwd.parent}/{cwd.name}-evaluate-run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_failure(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_vectors_side_by_side(lee_run, tmp_path):
    """Our run directory beside GloVe (or beside its own text export without ../shared), one table."""
    run_dir, _ = lee_run
    other = str(GLOVE) if GLOVE.exists() else str(run_dir / "vectors.txt")
    out = tmp_path / "report"
    proc = run_evaluate(
        [
            f"vectors=[{run_dir},{other}]",
            "names=[ours,other]",
            "limit=10000",
            "eval.glove_limit=10000",
            "eval.cosmul=false",
            "eval.cache_dir=null",
            f"out={out}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| metric | ours | other |" in proc.stdout and "| analogy |" in proc.stdout
    assert "ours: wordsim353: spearman" in proc.stderr and "other: analogy: 3CosAdd" in proc.stderr
    assert "3CosMul" not in proc.stderr  # eval.cosmul=false
    report = json.loads((out / "eval.json").read_text())
    assert [r["name"] for r in report["reports"]] == ["ours", "other"]
    assert (out / "projection-ours.png").read_bytes().startswith(PNG)
    assert "# Evaluation of ours, other" in (out / "eval.md").read_text()
    if GLOVE.exists():
        assert "nearest neighbours, ours vs GloVe" in proc.stderr
        assert report["reports"][1]["analogy"]["restrict_vocab"] == 10000
        assert "glove" not in report["reports"][1]  # GloVe is not compared with itself


def test_bad_header_is_one_line_exit_2(tmp_path):
    (tmp_path / "bad.txt").write_text("12 abc\nthe 1 2\n")
    assert_one_line_failure(run_evaluate([f"vectors={tmp_path}/bad.txt"], tmp_path), "bad.txt line 1: bad header")


@pytest.mark.slow  # 14 s: two training jobs; the sweep table itself is unit-tested in test_evaluation_sweep
def test_real_two_job_sweep_table_and_png(run_train, tmp_path):
    sweep = tmp_path / "sweep"
    train = run_train(["-m", "window=2,3", "eval=none", "epochs=1", "corpus.max_tokens=20000", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    (sweep / "empty-job" / ".hydra").mkdir(parents=True)  # a job that never wrote anything
    (sweep / "empty-job" / ".hydra" / "overrides.yaml").write_text("- window=9\n- eval=none\n- epochs=1\n- corpus.max_tokens=20000\n")

    proc = run_evaluate([f"sweep={sweep}", "sort_by=final_loss"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].startswith("| window | final_loss |")
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["window"] for r in rows[:2]) == ["2", "3"]
    losses = [float(r["final_loss"]) for r in rows[:2]]
    assert losses == sorted(losses)
    assert rows[2]["window"] == "9" and "no metrics.json" in rows[2]["note"]
    md = (sweep / "summary.md").read_text()
    assert "Fixed for all jobs: eval=none, epochs=1, corpus.max_tokens=20000" in md
    assert (sweep / "summary.png").read_bytes().startswith(PNG)


# In-process, through the composed configs/evaluate.yaml: the same code path, without a Python start each.


@pytest.fixture(scope="module")
def compose_evaluate():
    from hydra import compose, initialize_config_dir

    from w2v.evaluation.config import register_evaluate_config

    register_evaluate_config()

    def make(overrides):
        with initialize_config_dir(version_base="1.3", config_dir=str(REPO_ROOT / "configs"), job_name="test"):
            return compose(config_name="evaluate", overrides=list(overrides))

    return make


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], "nothing to evaluate"),
        (["vectors=/nonexistent/nope.bin"], "vectors file /nonexistent/nope.bin not found"),
        (["vectors=[/nonexistent/a.bin,/nonexistent/b.bin]"], "/nonexistent/a.bin not found"),
        (["sweep=/nonexistent/sweep"], "sweep directory /nonexistent/sweep not found"),
        (["vectors=VECTORS", "names=[a,b]"], "names has 2 entries for 1 vectors"),
        (["vectors=VECTORS", "limit=0"], "limit=0: load at least 1 word"),
    ],
)
def test_user_errors(compose_evaluate, lee_run, tmp_path, overrides, message):
    overrides = [o.replace("VECTORS", str(lee_run[0])) for o in overrides]
    with pytest.raises(W2VError, match=re.escape(message)):
        evaluate(compose_evaluate(overrides + ["eval.glove_path=null"]), tmp_path)


def test_empty_sweep_is_reported(compose_evaluate, tmp_path):
    assert "no jobs found" in evaluate(compose_evaluate([f"sweep={tmp_path}"]), tmp_path)


def test_same_run_twice_gets_distinct_names(compose_evaluate, lee_run, tmp_path):
    run_dir = lee_run[0]
    cfg = compose_evaluate(
        [f"vectors=[{run_dir},{run_dir}/vectors.txt]", "eval.glove_path=null", "eval.similarity=[wordsim353]", "eval.plot=false"]
    )
    table = evaluate(cfg, tmp_path)
    assert table.splitlines()[0] == f"| metric | {run_dir.name} | {run_dir.name}-2 |"
    rows = {line.split(" | ")[0]: line for line in table.splitlines()}
    cells = rows["| wordsim353"].strip(" |").split(" | ")
    assert cells[1] == cells[2]  # the text and binary exports are the same vectors
