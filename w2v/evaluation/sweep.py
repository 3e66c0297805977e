"""Summaries of a Hydra sweep: one row per job, the swept overrides as columns, metrics beside them.

A multirun of ``train.py`` leaves ``<sweep>/<override_dirname>/`` per job, holding
``.hydra/overrides.yaml`` (the job's command-line overrides) and ``metrics.json``. Overrides that
differ between jobs are the swept hyperparameters; those shared by all are reported once. Jobs that
failed or are still running (no readable ``metrics.json``) are listed with a note, never fatal.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
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


@dataclass
class Job:
    name: str  # directory relative to the sweep directory
    overrides: dict[str, str]  # key -> value as typed on the command line
    metrics: dict[str, float] | None
    problem: str | None = None


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


def _read_overrides(path: Path) -> dict[str, str]:
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        out[key.lstrip("+~")] = value
    return out


def _read_metrics(path: Path) -> tuple[dict[str, float] | None, str | None]:
    if not path.is_file():
        return None, "no metrics.json (failed or still running)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "unreadable metrics.json"
    if not isinstance(data, dict):
        return None, "unreadable metrics.json"
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}, None


def find_jobs(sweep_dir: str | os.PathLike) -> list[Job]:
    """Every job directory (one with ``.hydra/overrides.yaml``) under ``sweep_dir``."""
    root = Path(os.path.expanduser(str(sweep_dir)))
    if not root.is_dir():
        raise W2VError(f"sweep directory {root} not found: pass sweep=outputs/multirun/<date>/<time>")
    jobs = []
    for overrides in sorted(root.rglob(".hydra/overrides.yaml")):
        job_dir = overrides.parent.parent
        try:
            parsed = _read_overrides(overrides)
        except (OSError, yaml.YAMLError):
            jobs.append(Job(str(job_dir.relative_to(root)), {}, None, "unreadable .hydra/overrides.yaml"))
            continue
        if "sweep" in parsed or "vectors" in parsed:
            continue  # an evaluate.py run kept inside the sweep directory, not a training job
        metrics, problem = _read_metrics(job_dir / "metrics.json")
        jobs.append(Job(str(job_dir.relative_to(root)), parsed, metrics, problem))
    return jobs


def swept_and_fixed(jobs: list[Job]) -> tuple[list[str], dict[str, str]]:
    """Overrides that vary between jobs (in first-seen order), and those every job shares."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    swept = [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]
    fixed = {k: jobs[0].overrides[k] for k in keys if k not in swept}
    return swept, fixed


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
    jobs = find_jobs(root)
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
    if chart:
        lines += [f"![{metric}]({chart.name})", ""]
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
