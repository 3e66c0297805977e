"""Sweep summaries from hand-made job directories laid out as Hydra's multirun writes them."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from w2v.errors import W2VError
from w2v.evaluation.sweep import find_jobs, summarize_sweep, swept_and_fixed

PNG = b"\x89PNG\r\n\x1a\n"


def make_job(root: Path, overrides: list[str], metrics: dict | None) -> Path:
    job = root / ",".join(sorted(overrides))
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    """window x negatives, 2 x 2, with the best analogy at window=5, negatives=10."""
    for window in (2, 5):
        for negatives in (5, 10):
            score = window / 10 + negatives / 100
            metrics = {"analogy": score, "wordsim353": 0.5, "final_loss": 3 - score, "epoch_loss": [3.0], "device": "cpu"}
            make_job(tmp_path, [f"window={window}", f"negatives={negatives}", "epochs=1"], metrics)
    return tmp_path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_two_swept_parameters_make_a_sorted_table_and_a_heatmap(grid):
    table = summarize_sweep(grid)
    rows = read_csv(grid / "summary.csv")
    assert [(r["window"], r["negatives"]) for r in rows] == [("5", "10"), ("5", "5"), ("2", "10"), ("2", "5")]
    assert float(rows[0]["analogy"]) == pytest.approx(0.6)
    assert list(rows[0])[:4] == ["job", "window", "negatives", "analogy"]
    assert "epochs" not in rows[0] and "epoch_loss" not in rows[0] and "device" not in rows[0]
    md = (grid / "summary.md").read_text()
    assert "Fixed for all jobs: epochs=1" in md and "Sorted by analogy (higher is better)" in md
    assert table.splitlines()[0] == "| window | negatives | analogy | wordsim353 | final_loss |"
    assert (grid / "summary.png").read_bytes().startswith(PNG)


def test_sort_by_a_lower_is_better_metric(grid):
    summarize_sweep(grid, sort_by="final_loss")
    rows = read_csv(grid / "summary.csv")
    losses = [float(r["final_loss"]) for r in rows]
    assert losses == sorted(losses)
    assert "lower is better" in (grid / "summary.md").read_text()


def test_one_swept_parameter_draws_lines_and_jobs_without_metrics_are_listed(tmp_path, caplog):
    make_job(tmp_path, ["window=2"], {"final_loss": 2.5})
    make_job(tmp_path, ["window=10"], {"final_loss": 2.0})
    make_job(tmp_path, ["window=7"], None)  # crashed or still running
    with caplog.at_level(logging.WARNING):
        summarize_sweep(tmp_path, out=str(tmp_path / "report"))
    rows = read_csv(tmp_path / "report" / "summary.csv")
    assert [r["window"] for r in rows] == ["10", "2", "7"]  # by final_loss, the job without metrics last
    assert rows[2]["final_loss"] == "" and "no metrics.json" in rows[2]["note"]
    assert "window=7: no metrics.json" in caplog.text
    assert (tmp_path / "report" / "summary.png").read_bytes().startswith(PNG)


def test_many_swept_parameters_and_string_values(tmp_path):
    for i, optim in enumerate(["sgd", "adagrad", "sparse_adam"]):
        make_job(tmp_path, [f"optim={optim}", f"lr={0.01 * (i + 1)}", f"dim={10 * (i + 1)}"], {"analogy": 0.1 * i})
    swept, fixed = swept_and_fixed(find_jobs(tmp_path))
    assert swept == ["optim", "lr", "dim"] and fixed == {}  # command-line order
    summarize_sweep(tmp_path, metrics=["analogy"])
    assert (tmp_path / "summary.png").read_bytes().startswith(PNG)
    assert read_csv(tmp_path / "summary.csv")[0]["optim"] == "sparse_adam"


def test_empty_sweep_directory_is_reported_not_fatal(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        message = summarize_sweep(tmp_path)
    assert "no jobs found" in message and "no jobs found" in caplog.text
    assert not (tmp_path / "summary.md").exists()


def test_sweep_without_any_metrics(tmp_path):
    make_job(tmp_path, ["window=2"], None)
    make_job(tmp_path, ["window=3"], None)
    (tmp_path / "window=3" / "metrics.json").write_text("{not json")
    summarize_sweep(tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "No job has metrics yet" in md and "unreadable metrics.json" in md
    assert not (tmp_path / "summary.png").exists()


def test_bad_sweep_arguments(tmp_path, grid):
    with pytest.raises(W2VError, match="sweep directory .*nowhere not found"):
        summarize_sweep(tmp_path / "nowhere")
    with pytest.raises(W2VError, match="sort_by=accuracy: no job has this metric; available: analogy, final_loss, wordsim353"):
        summarize_sweep(grid, sort_by="accuracy")
