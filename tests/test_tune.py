"""Hyperparameter searches and cluster sweeps: configs/hparams_search/optuna.yaml (Optuna through Hydra),
configs/hydra/launcher/{local,slurm}.yaml (submitit), and what a failed job does to a sweep.

The Optuna and submitit tests skip when their Hydra plugins are absent (pip install -e ".[tune,cluster]").
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from w2v.config import TrainConfig
from w2v.evaluation.sweep import optuna_best, summarize_sweep
from w2v.tune import StudyStorage, sqlite_path

REPO_ROOT = Path(__file__).resolve().parents[1]
EVALUATE_PY = REPO_ROOT / "evaluate.py"
PNG = b"\x89PNG\r\n\x1a\n"
SEARCHED = {"dim", "window", "negatives", "sample", "lr", "epochs", "ns_exponent"}
# Lee, one epoch of 16-dim vectors, no evaluation: a trial takes about a second.
QUICK = ["corpus=lee", "eval=none", "epochs=1", "dim=16", "threads=1", "checkpoint_every_minutes=0", "min_lr=0"]


def has_plugin(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"hydra_plugins.{name}") is not None
    except ModuleNotFoundError:  # no Hydra plugin installed at all
        return False


needs_optuna = pytest.mark.skipif(not has_plugin("hydra_optuna_sweeper"), reason='needs hydra-optuna-sweeper: pip install -e ".[tune]"')
needs_submitit = pytest.mark.skipif(
    not has_plugin("hydra_submitit_launcher"), reason='needs hydra-submitit-launcher: pip install -e ".[cluster]"'
)


def run_evaluate(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    cmd = [sys.executable, str(EVALUATE_PY), f"hydra.run.dir={cwd / 'evaluate-run'}", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def compose_with_hydra(overrides: list[str]):
    """The train config with its ``hydra`` node, as a multirun composes it."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(REPO_ROOT / "configs"), job_name="test"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


# The pieces, without the plugins.


def test_sqlite_path_of_a_storage_url():
    assert sqlite_path("sqlite:///outputs/hparams_search/w2v_lee.db") == Path("outputs/hparams_search/w2v_lee.db")
    assert sqlite_path("sqlite:////abs/s.db?timeout=30") == Path("/abs/s.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://host/db") is None and sqlite_path(None) is None


def test_study_storage_creates_the_database_folder(tmp_path):
    cfg = OmegaConf.create({"hydra": {"sweeper": {"storage": f"sqlite:///{tmp_path}/a/b/s.db", "study_name": "s"}}})
    StudyStorage().on_multirun_start(cfg)
    assert (tmp_path / "a" / "b").is_dir() and not (tmp_path / "a" / "b" / "s.db").exists()
    StudyStorage().on_multirun_start(OmegaConf.create({"hydra": {"sweeper": {"storage": None}}}))  # in memory: nothing to do


def _job(root: Path, name: str, overrides: list[str], metrics: dict | None) -> None:
    (root / name / ".hydra").mkdir(parents=True)
    (root / name / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (root / name / "metrics.json").write_text(json.dumps(metrics))


def test_summary_of_an_optuna_layout_quotes_the_best_trial(tmp_path):
    _job(tmp_path, "0", ["lr=1e12", "window=3", "hparams_search=optuna"], None)  # diverged: no metrics.json
    _job(tmp_path, "1", ["lr=0.025", "window=4", "hparams_search=optuna"], {"final_loss": 4.4})
    _job(tmp_path, "2", ["lr=0.0125", "window=8", "hparams_search=optuna"], {"final_loss": 4.6})
    (tmp_path / "optimization_results.yaml").write_text("name: optuna\nbest_params:\n  lr: 0.025\n  window: 4\nbest_value: -4.4\n")
    summarize_sweep(tmp_path)
    with (tmp_path / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["1", "2", "0"] and "no metrics.json" in rows[2]["note"]
    md = (tmp_path / "summary.md").read_text()
    assert "Optuna's best trial (optimization_results.yaml): objective -4.4 with lr=0.025, window=4." in md
    assert "Fixed for all jobs: hparams_search=optuna" in md


@pytest.mark.parametrize("text", ["best_value: [1\n", "- a list\n", "name: optuna\nbest_value: high\nbest_params: {}\n"])
def test_a_damaged_optimization_results_file_is_left_out(tmp_path, text, caplog):
    (tmp_path / "optimization_results.yaml").write_text(text)
    assert optuna_best(tmp_path) is None
    assert "optimization_results.yaml left out of the summary" in caplog.text


# A failed job in a sweep, and alone.


def test_a_diverging_single_run_still_exits_2_with_one_line(run_train, tmp_path):
    proc = run_train([*QUICK, "lr=1e12", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "the loss became" in errors[0] and "Traceback" not in proc.stderr


def test_a_diverging_job_leaves_the_rest_of_the_sweep_running(run_train, tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_train(["-m", *QUICK, "lr=1e12,0.025", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    done = sorted(p.parent.name for p in sweep.glob("*/metrics.json"))
    assert len(done) == 1 and "lr=0.025" in done[0], proc.stderr[-3000:]  # the job after the diverging one ran
    # ...and the sweep ends in Hydra's report of the failed job, not with exit 0.
    assert proc.returncode == 1 and "Error executing job with overrides" in proc.stderr
    assert sum("the loss became" in line for line in proc.stderr.splitlines() if "[ERROR]" in line) == 1


# Optuna through Hydra.


@needs_optuna
def test_hparams_search_config_searches_train_config_keys():
    cfg = compose_with_hydra(["hparams_search=optuna"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == SEARCHED and SEARCHED <= {f.name for f in fields(TrainConfig)}
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed is not None
    assert sweeper.study_name == "w2v_lee" and sweeper.storage == "sqlite:///outputs/hparams_search/w2v_lee.db"
    assert sweeper.max_failure_rate == 1.0 and OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.num}"
    assert cfg.window == 5 and cfg.epochs == 20  # the search sets no training value itself


@needs_optuna
def test_optuna_search_on_lee_survives_a_diverging_trial_continues_and_summarises(run_train, tmp_path):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'studies' / 'lee.db'}"
    # Seed 1232 draws lr=1e12 (diverges) for trial 0, then 0.025 twice: the search must go on after it.
    search = ["-m", "hparams_search=optuna", *QUICK, "lr=choice(0.025,1e12)", "hydra.sweeper.n_trials=3"]
    search += ["hydra.sweeper.sampler.seed=1232", f"hydra.sweeper.storage={storage}"]
    first = run_train([*search, f"hydra.sweep.dir={tmp_path / 'first'}"], cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    study = optuna.load_study(study_name="w2v_lee", storage=storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert study.best_params["lr"] == 0.025 and set(study.best_params) == SEARCHED - {"dim", "epochs"}
    assert not (tmp_path / "first" / "0" / "metrics.json").exists() and (tmp_path / "first" / "2" / "metrics.json").is_file()
    assert "best_value" in (tmp_path / "first" / "optimization_results.yaml").read_text()

    again = run_train([*search, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={tmp_path / 'again'}"], cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(optuna.load_study(study_name="w2v_lee", storage=storage).trials) == 4  # the same study, one trial more

    proc = run_evaluate([f"sweep={tmp_path / 'first'}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with (tmp_path / "first" / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows][-1] == "0" and "no metrics.json" in rows[-1]["note"]
    assert {"window", "negatives", "sample", "ns_exponent", "final_loss"} <= set(rows[0])
    assert "Optuna's best trial" in (tmp_path / "first" / "summary.md").read_text()
    assert (tmp_path / "first" / "summary.png").read_bytes().startswith(PNG)
    assert not (tmp_path / "outputs").exists()  # everything went where the command said


def test_objective_is_the_mean_of_the_named_metrics_or_the_runs_headline():
    from w2v.cli import objective_value
    from w2v.errors import W2VError

    metrics = {"analogy": 0.5, "wordsim353": 0.7, "final_loss": 2.0, "songs_oov": None}
    assert objective_value(metrics, ["analogy", "wordsim353"]) == pytest.approx(0.6)
    assert objective_value(metrics, []) == 0.5
    assert objective_value({"final_loss": 2.0}, []) == -2.0
    assert objective_value({"hr@10": 0.2, "analogy": 0.5}, []) == 0.2
    with pytest.raises(W2VError, match="eval.objective names simlex999, which this run did not measure"):
        objective_value(metrics, ["analogy", "simlex999"])


def test_quality_preset_is_cbow_with_normalised_in_plus_out_vectors_and_validates():
    from w2v.config import validate

    cfg = compose_with_hydra(["+experiment=quality"])
    assert (cfg.sg, cfg.cbow_mean, cfg.hs, cfg.export) == (False, True, False, "in+out_norm")
    assert (cfg.dim, cfg.window, cfg.negatives, cfg.sample, cfg.lr, cfg.epochs) == (200, 11, 25, 1e-4, 0.05, 15)
    del cfg.hydra
    validate(cfg, files=False)


def test_fast_preset_is_skip_gram_with_shared_negatives_in_batched_windows_and_validates():
    from w2v.config import validate

    cfg = compose_with_hydra(["+experiment=fast"])
    assert (cfg.sg, cfg.hs, cfg.negatives, cfg.shared_negatives, cfg.batch_windows) == (True, False, 5, True, True)
    del cfg.hydra
    validate(cfg, files=False)


# submitit.


@needs_submitit
def test_slurm_launcher_config_asks_for_a_job_s_resources():
    launcher = compose_with_hydra(["hydra/launcher=slurm"]).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.cpus_per_task == 8 and launcher.mem_gb == 16 and launcher.timeout_min == 240 and launcher.gpus_per_node is None


@needs_submitit
def test_submitit_local_two_job_sweep_on_lee(run_train, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=local", "hydra.launcher.timeout_min=5", *QUICK, "window=2,3", f"hydra.sweep.dir={sweep}"]
    proc = run_train(args, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for window in (2, 3):
        (job,) = [p for p in sweep.iterdir() if p.name.endswith(f"window={window}")]
        assert json.loads((job / "metrics.json").read_text())["epoch_loss"], job
        assert (job / "vectors.bin").is_file()
    assert list((sweep / ".submitit").glob("*/*_result.pkl"))  # each job ran in its own submitit process
