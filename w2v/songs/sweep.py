"""Song sweep summary: the shared sweep table, plus the mean metric per value of each swept key.

:func:`w2v.evaluation.sweep.summarize_sweep` writes the job table (``summary.md``, ``.csv``, ``.png``);
this module appends what a grid is for: how HR@10 moves with each hyperparameter, averaged over the
others. Installed as a Hydra callback by ``configs/experiment/songs_sweep.yaml``, so it runs when
the multirun ends; or afterwards: ``python -m w2v.songs.sweep outputs/multirun/<date>/<time> [metric]``.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from w2v.atomic import atomic_write_text
from w2v.errors import W2VError
from w2v.evaluation.sweep import Job, find_jobs, summarize_sweep, swept_and_fixed

log = logging.getLogger(__name__)

COLUMNS = ["hr@10", "ndcg@10", "pop_hr@10", "songs_oov", "train_seconds"]


def marginals(jobs: list[Job], key: str, metric: str) -> list[tuple[str, float, int]]:
    """(value, mean metric, jobs) for each value of ``key``, best mean first."""
    groups: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        if job.metrics and metric in job.metrics:
            groups[job.overrides.get(key, "(default)")].append(job.metrics[metric])
    return sorted(((v, sum(m) / len(m), len(m)) for v, m in groups.items()), key=lambda r: -r[1])


def effects_md(jobs: list[Job], metric: str) -> str:
    """Markdown list: for each swept key, its values with the mean ``metric`` of their jobs."""
    swept, _ = swept_and_fixed(jobs)
    lines = [f"## Mean {metric} per value (averaged over the other keys)", ""]
    for key in swept:
        rows = marginals(jobs, key, metric)
        lines.append(f"- **{key}**: " + ", ".join(f"{v} → {m:.4f} ({n} jobs)" for v, m, n in rows))
        log.info("sweep: mean %s by %s: %s", metric, key, ", ".join(f"{v}={m:.4f}" for v, m, _ in rows))
    return "\n".join(lines) + "\n"


def summarize(sweep_dir: str | Path, metric: str = "hr@10") -> str:
    """Write the sweep summary with the per-value means appended; return the appended markdown."""
    sweep_dir = Path(sweep_dir)
    columns = [c for c in COLUMNS if c != metric]
    summarize_sweep(sweep_dir, metric, columns)
    effects = effects_md(find_jobs(sweep_dir, [metric, *columns]), metric)  # the table's jobs: damaged ones skipped
    summary = sweep_dir / "summary.md"
    atomic_write_text(summary, summary.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + effects)
    return effects


class SweepSummary(Callback):
    """Hydra callback: summarise the multirun when it ends."""

    def __init__(self, metric: str = "hr@10"):
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            summarize(sweep_dir, self.metric)
        except W2VError as exc:  # e.g. every job failed: say so, the jobs' own logs tell why
            log.warning("no sweep summary: %s", exc)
            return
        log.info("sweep summary in %s", sweep_dir / "summary.md")


def main(argv: list[str]) -> int:
    """``python -m w2v.songs.sweep DIR [metric]``: print the per-value means; a W2VError is one line, exit 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not 1 <= len(argv) <= 2:
        log.error("usage: python -m w2v.songs.sweep outputs/multirun/<date>/<time> [metric]")
        return 2
    try:
        print(summarize(argv[0], *argv[1:]))
    except W2VError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
