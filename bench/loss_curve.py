"""Why the reported training loss can rise while the model improves, in one run.

    python bench/loss_curve.py corpus=playlists corpus.path=../shared/data/playlists corpus.max_tokens=150000
    python bench/loss_curve.py corpus=text8 corpus.path=../shared/data/wiki8/wiki8.txt.gz corpus.max_tokens=2000000

The loss w2v reports (like word2vec.c's and gensim's) is *progressive*: each example is scored just
before the update it causes. This script trains the same configuration twice, in word2vec's
center-by-center order (the numba engine's default) and with examples shuffled within each block
(``shuffle_pairs=true``), and after every epoch also scores a fixed sample of examples with the
frozen model (no updates, fixed negatives). It prints both losses per epoch for both orders, and
writes them to ``--json`` (default ``bench/results/loss_curve.json``). Other arguments are train.py overrides.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import torch
from common import ROOT, add_json_argument, write_results

from w2v.train.callbacks import Callback

SAMPLE_BATCHES = 8


class FrozenLoss(Callback):
    """Scores a fixed sample of the first epoch's examples (and negatives) with the frozen model, before
    training and after every epoch, beside the epoch's reported loss."""

    def __init__(self) -> None:
        self.sample: list = []
        self.rows: list[tuple[float, float]] = []

    def on_fit_start(self, trainer) -> None:
        trainer.stream.set_epoch(0)
        self.sample = list(itertools.islice(iter(trainer.stream), SAMPLE_BATCHES))  # fixed examples and negatives
        self.rows.append((float("nan"), self.loss(trainer)))

    def on_epoch_end(self, trainer) -> None:
        self.rows.append((trainer.progress.epoch_losses[-1], self.loss(trainer)))

    @torch.no_grad()
    def loss(self, trainer) -> float:
        total = sum(float(trainer.model(b.inputs, b.offsets, b.targets, b.negatives)) for b in self.sample)
        return total / sum(len(b) for b in self.sample)


def run(overrides: list[str], shuffle: bool, out: Path) -> list[tuple[float, float]]:
    """(progressive loss, frozen loss) after each epoch; the frozen loss of the untrained model first."""
    from hydra import compose, initialize_config_dir

    from w2v.config import register_configs
    from w2v.train.trainer import train

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        # engine=numba (unless given): the order of examples is a property of the example stream, which
        # engine=auto's CPU choice (hogwild) does not use; it draws its examples inside the kernel.
        engine = [] if any(o.startswith("engine=") for o in overrides) else ["engine=numba"]
        extra = [f"shuffle_pairs={str(shuffle).lower()}", "eval=none", "checkpoint_every_minutes=0"]
        cfg = compose("train", overrides=[*engine, *overrides, *extra])
    frozen = FrozenLoss()
    train(cfg, out, explicit=[], callbacks=[frozen])
    return frozen.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_json_argument(parser, "loss_curve")
    args, overrides = parser.parse_known_args()  # everything else is a train.py override
    with tempfile.TemporaryDirectory() as tmp:
        ordered = run(overrides, False, Path(tmp) / "ordered")
        shuffled = run(overrides, True, Path(tmp) / "shuffled")
    print(f"\n{' '.join(overrides)}")
    print("| epoch | reported, center order | frozen model, center order | reported, shuffled | frozen model, shuffled |")
    print("|---|---|---|---|---|")
    for epoch, ((p1, f1), (p2, f2)) in enumerate(zip(ordered, shuffled)):
        cells = ["-" if p1 != p1 else f"{p1:.4f}", f"{f1:.4f}", "-" if p2 != p2 else f"{p2:.4f}", f"{f2:.4f}"]
        print(f"| {epoch} | " + " | ".join(cells) + " |")
    rows = [{"epoch": e, "reported_center_order": p1, "frozen_center_order": f1, "reported_shuffled": p2, "frozen_shuffled": f2}
            for e, ((p1, f1), (p2, f2)) in enumerate(zip(ordered, shuffled))]  # fmt: skip
    write_results(args.json, {"overrides": overrides}, rows)


if __name__ == "__main__":
    main()
