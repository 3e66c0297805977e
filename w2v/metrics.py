"""Metric logging: one small interface, TensorBoard behind it (torchtune's MetricLogger idea)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

log = logging.getLogger(__name__)


def flat_config(cfg: Any) -> dict[str, Any]:
    """A config as one level of dotted keys (``dist.merge``), for :meth:`MetricLogger.hparams`."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}{k}.", v)
        else:
            out[prefix[:-1]] = node

    walk("", OmegaConf.to_container(cfg, resolve=True))
    return out


class MetricLogger:
    """Writes scalars and hyperparameters to TensorBoard event files under ``log_dir``."""

    def __init__(self, log_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Log one scalar, e.g. ``train/loss``."""
        self.writer.add_scalar(tag, value, step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Log several scalars at one step."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """Record the run's flat config beside its final metrics (TensorBoard's HPARAMS tab)."""
        clean = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        self.writer.add_hparams(clean, metrics, run_name=".")

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


class NullMetricLogger(MetricLogger):
    """Logs nothing: for torchrun ranks other than 0, which write no TensorBoard files."""

    def __init__(self) -> None:
        pass

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Ignore the scalar."""

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Ignore the scalars."""

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """Ignore the hyperparameters."""

    def close(self) -> None:
        """Nothing to close."""
