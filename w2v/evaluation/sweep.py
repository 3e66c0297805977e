"""Summaries of a Hydra sweep: one row per job, the swept overrides as columns, metrics beside them.

A multirun of ``train.py`` leaves ``<sweep>/<override_dirname>/`` per job (``<sweep>/<n>/`` per trial
for an Optuna search, configs/hparams_search/), holding ``.hydra/overrides.yaml`` (the job's
command-line overrides) and ``metrics.json``; an Optuna search also leaves
``optimization_results.yaml`` (the best trial), which the summary quotes. Overrides that
differ between jobs are the swept hyperparameters; those shared by all are reported once. Jobs that
failed or are still running (no ``metrics.json``) are listed with a note, never fatal. A job whose
files are damaged (bad JSON or YAML, the wrong shapes or types) is skipped with a warning naming it,
and the rest are summarised.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from w2v.atomic import atomic_write_text
from w2v.errors import W2VError
from w2v.evaluation.plot import plot_sweep
from w2v.evaluation.report import markdown_table

log = logging.getLogger(__name__)

# Columns shown when the user names none, in this order, where at least one job has them.
DEFAULT_METRICS = (
    "analogy",
    "analogy_3cosmul",
    "wordsim353",
    "simlex999",
    "men",
    "glove_overlap",
    "final_loss",
    "words_per_sec",
    "train_seconds",
)
LOWER_IS_BETTER = ("loss", "seconds", "oov")
# Bounds on the files a summary reads: a train.py job writes a few KB of each.
MAX_METRICS_BYTES = 16 << 20
MAX_OVERRIDES_BYTES = 1 << 20
OPTUNA_RESULTS = "optimization_results.yaml"  # the Optuna sweeper's record of the best trial


class DamagedJob(ValueError):
    """A job file that cannot be summarised; the message says which and why."""


@dataclass
class Job:
    name: str  # directory relative to the sweep directory
    overrides: dict[str, str]  # key -> value as typed on the command line
    metrics: dict[str, float] | None
    problem: str | None = None  # why there are no metrics (a row with a note), or why the job is skipped


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


def _typed(value: str) -> Any:
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"sgd"`` -> ``"sgd"``: numbers sort and plot as numbers."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        return value
    return parsed


def _read_capped(path: Path, limit: int) -> str:
    """``path``'s text, if UTF-8 and at most ``limit`` bytes (a damaged or hostile file is never read whole)."""
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise DamagedJob(f"{path.name} is larger than {limit >> 20} MB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedJob(f"{path.name} is not UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})") from None


def _read_overrides(path: Path) -> dict[str, str]:
    """``key -> value`` of a job's ``.hydra/overrides.yaml``: a YAML list of ``key=value`` strings."""
    try:
        items = yaml.safe_load(_read_capped(path, MAX_OVERRIDES_BYTES))
    except yaml.YAMLError as exc:
        raise DamagedJob(f"unreadable .hydra/overrides.yaml ({str(exc).splitlines()[0]})") from None
    items = [] if items is None else items
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise DamagedJob(".hydra/overrides.yaml is not a list of key=value strings")
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key.lstrip("+~")] = value
    return out


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a JSON number (not a bool) a float can hold, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond a double's range
        return None


def _read_metrics(path: Path, expected: tuple[str, ...]) -> dict[str, float] | None:
    """The numeric entries of a job's ``metrics.json``; None when there is none yet (a failed or running job).

    Other entries (``device``, per-epoch lists) are not columns and are left out; an ``expected``
    metric that is neither a number nor null means the file is damaged.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(_read_capped(path, MAX_METRICS_BYTES))
    except (ValueError, RecursionError) as exc:
        raise DamagedJob(f"unreadable metrics.json ({str(exc).splitlines()[0] if str(exc) else 'nested too deeply'})") from None
    if not isinstance(data, dict):
        raise DamagedJob(f"unreadable metrics.json (a JSON {type(data).__name__}, not an object)")
    out = {k: n for k, v in data.items() if (n := _number(v)) is not None}
    bad = next((k for k in expected if data.get(k) is not None and k not in out), None)
    if bad is not None:
        raise DamagedJob(f"unreadable metrics.json ({bad} is {str(data[bad])[:40]!r}, not a number)")
    return out


def _read_job(root: Path, overrides: Path, expected: tuple[str, ...]) -> Job | None:
    """The job of one ``.hydra/overrides.yaml``; None for an evaluate.py run. Raises :class:`DamagedJob`."""
    job_dir = overrides.parent.parent
    parsed = _read_overrides(overrides)
    if "sweep" in parsed or "vectors" in parsed:
        return None  # an evaluate.py run kept inside the sweep directory, not a training job
    metrics = _read_metrics(job_dir / "metrics.json", expected)
    problem = None if metrics is not None else "no metrics.json (failed or still running)"
    return Job(str(job_dir.relative_to(root)), parsed, metrics, problem)


def scan_jobs(sweep_dir: str | os.PathLike, expected: Iterable[str] = ()) -> tuple[list[Job], list[Job]]:
    """The job directories (those with ``.hydra/overrides.yaml``) under ``sweep_dir``: (usable, damaged).

    A damaged job's ``problem`` says which file is wrong; its overrides and metrics are empty. A job
    whose ``metrics.json`` holds a non-number for one of :data:`DEFAULT_METRICS` or ``expected`` is damaged.
    """
    wanted = tuple(dict.fromkeys([*DEFAULT_METRICS, *expected]))
    root = Path(os.path.expanduser(str(sweep_dir)))
    if not root.is_dir():
        raise W2VError(f"sweep directory {root} not found: pass sweep=outputs/multirun/<date>/<time>")
    jobs, damaged = [], []
    for overrides in sorted(root.rglob(".hydra/overrides.yaml")):
        try:
            job = _read_job(root, overrides, wanted)
        except DamagedJob as exc:
            damaged.append(Job(str(overrides.parent.parent.relative_to(root)), {}, None, str(exc)))
            continue
        except OSError as exc:  # a file that vanished, or that we may not read
            damaged.append(Job(str(overrides.parent.parent.relative_to(root)), {}, None, f"unreadable ({exc.strerror or exc})"))
            continue
        if job is not None:
            jobs.append(job)
    return jobs, damaged


def find_jobs(sweep_dir: str | os.PathLike, expected: Iterable[str] = ()) -> list[Job]:
    """The usable jobs under ``sweep_dir`` (damaged ones left out: :func:`scan_jobs` lists them)."""
    return scan_jobs(sweep_dir, expected)[0]


def swept_and_fixed(jobs: list[Job]) -> tuple[list[str], dict[str, str]]:
    """Overrides that vary between jobs (in first-seen order), and those every job shares."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    swept = [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]
    fixed = {k: jobs[0].overrides[k] for k in keys if k not in swept}
    return swept, fixed


def optuna_best(sweep_dir: str | os.PathLike) -> str | None:
    """One line on the best trial of an Optuna search's ``optimization_results.yaml``; None if there is none.

    The file is the sweeper's (``best_value`` and ``best_params`` for one objective, ``solutions`` for
    several); one that cannot be read is reported with a warning and left out of the summary.
    """
    path = Path(os.path.expanduser(str(sweep_dir))) / OPTUNA_RESULTS
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(_read_capped(path, MAX_OVERRIDES_BYTES))
    except (DamagedJob, OSError, yaml.YAMLError) as exc:
        log.warning("%s left out of the summary: %s", OPTUNA_RESULTS, str(exc).splitlines()[0])
        return None
    if not isinstance(data, dict):
        log.warning("%s left out of the summary: not a mapping", OPTUNA_RESULTS)
        return None
    if isinstance(data.get("solutions"), list):
        return f"Optuna's Pareto front ({OPTUNA_RESULTS}): {len(data['solutions'])} trials."
    value, params = _number(data.get("best_value")), data.get("best_params")
    if value is None or not isinstance(params, dict):
        log.warning("%s left out of the summary: no best_value and best_params", OPTUNA_RESULTS)
        return None
    settings = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"Optuna's best trial ({OPTUNA_RESULTS}): objective {value:.6g} with {settings or 'no searched parameter'}."


def _pick_sort(jobs: list[Job], sort_by: str | None) -> str | None:
    available = sorted({k for job in jobs if job.metrics for k in job.metrics})
    if sort_by:
        if sort_by not in available:
            raise W2VError(f"sort_by={sort_by}: no job has this metric; available: {', '.join(available) or 'none'}")
        return sort_by
    for candidate in ("analogy", "final_loss"):
        if candidate in available:
            return candidate
    return available[0] if available else None


def summarize_sweep(
    sweep_dir: str | os.PathLike, sort_by: str | None = None, metrics: list[str] | None = None, out: str | None = None
) -> str:
    """Write ``summary.md``, ``summary.csv`` and ``summary.png`` for a sweep; return the markdown table."""
    root = Path(os.path.expanduser(str(sweep_dir)))
    jobs, damaged = scan_jobs(root, [str(m) for m in [*(metrics or []), *([sort_by] if sort_by else [])]])
    for job in damaged:
        log.warning("sweep job %s skipped: %s", job.name, job.problem)
    if not jobs and damaged:
        raise W2VError(
            f"no usable job under {root}: all {len(damaged)} are damaged (first: {damaged[0].name}: {damaged[0].problem}); "
            "fix or delete those job directories"
        )
    if not jobs:
        log.warning("no jobs found under %s (looked for */.hydra/overrides.yaml): nothing to summarise", root)
        return f"no jobs found under {root}"
    for job in jobs:
        if job.problem:
            log.warning("sweep job %s: %s", job.name, job.problem)
    swept, fixed = swept_and_fixed(jobs)
    metric = _pick_sort(jobs, sort_by)
    present = {k for job in jobs if job.metrics for k in job.metrics}
    columns = [str(m) for m in metrics] if metrics else [m for m in DEFAULT_METRICS if m in present]
    if metric and metric not in columns:
        columns.insert(0, metric)
    ranked = _rank(jobs, metric)
    rows = [
        {"job": job.name, **{p: _typed(job.overrides[p]) if p in job.overrides else None for p in swept}}
        | {m: (job.metrics or {}).get(m) for m in columns}
        | {"note": job.problem or ""}
        for job in ranked
    ]
    has_notes = any(r["note"] for r in rows)
    headers = swept + columns + (["note"] if has_notes else [])
    table = markdown_table(headers, [[r[h] for h in headers] for r in rows])

    target = Path(os.path.expanduser(out)) if out else root
    target.mkdir(parents=True, exist_ok=True)
    chart = None
    if metric and any(r[metric] is not None for r in rows):
        chart = plot_sweep(swept, rows, metric, target / "summary.png", f"{metric} over {len(jobs)} jobs")
    direction = "lower is better" if metric and lower_is_better(metric) else "higher is better"
    lines = [
        f"# Sweep {root}",
        "",
        f"{len(jobs)} jobs, {sum(1 for j in jobs if j.metrics is not None)} with metrics."
        + (f" Fixed for all jobs: {', '.join(f'{k}={v}' for k, v in fixed.items())}." if fixed else "")
        + (f" Sorted by {metric} ({direction})." if metric else " No job has metrics yet."),
        "",
        table,
        "",
    ]
    best = optuna_best(root)
    if best:
        lines += [best, ""]
    if chart:
        lines += [f"![{metric}]({chart.name})", ""]
    if damaged:
        lines += [f"Skipped {len(damaged)} damaged jobs:", "", *(f"- {j.name}: {j.problem}" for j in damaged), ""]
    atomic_write_text(target / "summary.md", "\n".join(lines))
    atomic_write_text(target / "summary.csv", _csv(["job"] + headers, rows))
    log.info("sweep summary of %d jobs written to %s (summary.md, summary.csv%s)", len(jobs), target, ", summary.png" if chart else "")
    return table


def _rank(jobs: list[Job], metric: str | None) -> list[Job]:
    """Best first by ``metric``; jobs without it last, in directory order."""
    if metric is None:
        return list(jobs)
    sign = 1.0 if lower_is_better(metric) else -1.0
    scored = [j for j in jobs if j.metrics and metric in j.metrics]
    rest = [j for j in jobs if not (j.metrics and metric in j.metrics)]
    return sorted(scored, key=lambda j: sign * j.metrics[metric]) + rest


def _csv(headers: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if row.get(h) is None else row.get(h) for h in headers])
    return buffer.getvalue()
