"""Plot a run's training loss beside its held-out loss (val/loss), from its TensorBoard data.

    python train.py corpus=text8 corpus.path=../shared/data/wiki8/wiki8.txt.gz corpus.max_tokens=4000000 heldout=0.02 eval=none
    python bench/heldout_plot.py outputs/<date>/<time> docs/heldout_loss.png

The training loss (train/loss) is progressive: each example is scored just before its own update,
and the epoch's average so far is logged. The held-out loss scores fixed examples of blocks that
are never trained on, with the frozen model. Epoch averages of both come from metrics.json; the
per-epoch values also go to ``--json`` (default ``bench/results/heldout_loss.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import add_json_argument, write_results


def load(run_dir: Path) -> tuple[dict[str, list[tuple[float, float]]], dict]:
    """TensorBoard scalars {tag: [(words, value)]} and metrics.json of a finished run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    series = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in ("train/loss", "val/loss")}
    return series, json.loads((run_dir / "metrics.json").read_text())


def plot(run_dir: Path, out: Path) -> list[dict]:
    """Two panels: both losses along training (words), and their per-epoch values; returns the per-epoch rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series, metrics = load(run_dir)
    if not metrics.get("val_loss"):
        raise SystemExit(f"{run_dir} has no held-out loss: train with heldout > 0 and enough blocks (see train.log)")
    per_epoch = metrics["train_words"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    curves = (("train/loss", "-", "training loss (progressive, epoch average so far)"), ("val/loss", "o-", "held-out loss"))
    for tag, style, label in curves:
        words, values = zip(*series[tag])
        left.plot([w / per_epoch for w in words], values, style, ms=3, label=label)
    left.set_xlabel("epochs")
    left.set_ylabel("loss per example")
    left.legend()
    epochs = range(1, len(metrics["epoch_loss"]) + 1)
    right.plot(epochs, metrics["epoch_loss"], "s-", label="training loss (epoch average)")
    right.plot(epochs, metrics["val_loss"], "o-", label="held-out loss (end of epoch)")
    right.set_xlabel("epoch")
    right.set_xticks(list(epochs))
    right.legend()
    tokens = metrics["corpus_tokens"] / 1e6
    fig.suptitle(f"{metrics['model']}, {tokens:.0f}M tokens, {metrics['epochs']} epochs: training loss against held-out loss")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print("epoch | training loss | held-out loss")
    rows = []
    for e, (t, v) in enumerate(zip(metrics["epoch_loss"], metrics["val_loss"]), 1):
        print(f"{e} | {t:.4f} | {v:.4f}")
        rows.append({"epoch": e, "train_loss": t, "val_loss": v})
    print(f"wrote {out}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a finished run directory trained with heldout > 0")
    parser.add_argument("out", type=Path, help="the PNG to write")
    add_json_argument(parser, "heldout_loss")
    args = parser.parse_args()
    rows = plot(args.run_dir, args.out)
    write_results(args.json, {"run_dir": args.run_dir, "out": args.out}, rows)


if __name__ == "__main__":
    main()
