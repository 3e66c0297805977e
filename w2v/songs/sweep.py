"""Sweep summary: one table of every job of a multirun, and the mean metric per value of each swept key.

Used as a Hydra callback (``configs/experiment/songs_sweep.yaml`` installs it), so ``summary.md``
and ``summary.json`` appear in the sweep directory when the multirun ends; or afterwards with
``python -m w2v.songs.sweep outputs/multirun/<date>/<time> [metric]``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from w2v.atomic import atomic_write_text

log = logging.getLogger(__name__)

COLUMNS = ("hr@10", "ndcg@10", "pop_hr@10", "train_seconds")


def collect_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """``{"overrides": {key: value}, "metrics": {...}}`` for every finished job under ``sweep_dir``."""
    jobs = []
    for overrides_file in sorted(sweep_dir.rglob(".hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        if not (job_dir / "metrics.json").is_file():
            continue  # failed or still running
        pairs = [str(o).lstrip("+~").partition("=") for o in OmegaConf.load(overrides_file)]
        metrics = json.loads((job_dir / "metrics.json").read_text())
        jobs.append({"dir": str(job_dir.relative_to(sweep_dir)), "overrides": {k: v for k, _, v in pairs}, "metrics": metrics})
    return jobs


def swept_keys(jobs: list[dict[str, Any]]) -> list[str]:
    """Override keys whose value differs between jobs."""
    values: dict[str, set[str]] = defaultdict(set)
    for job in jobs:
        for key in {k for j in jobs for k in j["overrides"]}:
            values[key].add(job["overrides"].get(key, "(default)"))
    return sorted(k for k, v in values.items() if len(v) > 1)


def marginals(jobs: list[dict[str, Any]], key: str, metric: str) -> list[tuple[str, float, int]]:
    """(value, mean metric, jobs) per value of ``key``, best mean first."""
    groups: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        if isinstance(job["metrics"].get(metric), (int, float)):
            groups[job["overrides"].get(key, "(default)")].append(float(job["metrics"][metric]))
    rows = [(value, sum(v) / len(v), len(v)) for value, v in groups.items()]
    return sorted(rows, key=lambda r: -r[1])


def summarize(sweep_dir: str | Path, metric: str = "hr@10") -> str:
    """Write ``summary.md``/``summary.json`` into the sweep directory and return the markdown."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_jobs(sweep_dir)
    keys = swept_keys(jobs)
    jobs.sort(key=lambda j: -float(j["metrics"].get(metric, float("-inf")) or float("-inf")))
    cols = [metric, *[c for c in COLUMNS if c != metric]]
    lines = [f"# Sweep summary: {len(jobs)} jobs, ranked by {metric}", "", "| " + " | ".join(keys + cols) + " |"]
    lines.append("|" + "---|" * (len(keys) + len(cols)))
    for job in jobs:
        vals = [_fmt(job["metrics"].get(c), c) for c in cols]
        lines.append("| " + " | ".join([job["overrides"].get(k, "(default)") for k in keys] + vals) + " |")
    effects = {key: marginals(jobs, key, metric) for key in keys}
    lines += ["", f"## Mean {metric} per value (averaged over the other keys)", ""]
    for key, rows in effects.items():
        lines.append(f"- **{key}**: " + ", ".join(f"{v} → {m:.4f}" for v, m, _ in rows))
    text = "\n".join(lines) + "\n"
    atomic_write_text(sweep_dir / "summary.md", text)
    atomic_write_text(sweep_dir / "summary.json", json.dumps({"metric": metric, "jobs": jobs, "effects": effects}, indent=2) + "\n")
    for key, rows in effects.items():
        log.info("sweep: mean %s by %s: %s", metric, key, ", ".join(f"{v}={m:.4f}" for v, m, _ in rows))
    return text


def _fmt(value: Any, column: str) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if column.endswith("seconds") else f"{value:.4f}"
    return "" if value is None else str(value)


class SweepSummary(Callback):
    """Hydra callback: summarise the multirun when it ends."""

    def __init__(self, metric: str = "hr@10"):
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        summarize(sweep_dir, self.metric)
        log.info("sweep summary in %s", sweep_dir / "summary.md")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(summarize(sys.argv[1], *sys.argv[2:3]))
