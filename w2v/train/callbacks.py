"""Hooks into a training run, for code that watches or extends it without patching the trainer.

Pass instances to :func:`w2v.train.trainer.train` (``callbacks=[...]``). Each hook gets the
:class:`~w2v.train.trainer.Trainer`, whose ``cfg``, ``model``, ``vocab``, ``stream``, ``progress``,
``engine`` and ``run_dir`` it may read; it runs on every torchrun rank (``trainer.strategy.is_main``
tells rank 0). An exception raised in a hook ends the run as it would in the trainer: a
``KeyboardInterrupt`` from :meth:`Callback.on_epoch_end`, say, stops after that epoch's checkpoint.

Example (bench/loss_curve.py scores a fixed sample with the frozen model after every epoch)::

    class FrozenLoss(Callback):
        def on_epoch_end(self, trainer):
            print(trainer.progress.epoch, trainer.progress.epoch_losses[-1])

    train(cfg, run_dir, callbacks=[FrozenLoss()])
"""

from __future__ import annotations

from typing import Any


class Callback:
    """Override the hooks you need; each one does nothing here."""

    def on_fit_start(self, trainer: Any) -> None:
        """Before the first update of this process (after a resume's restore): the tables as training starts."""

    def on_log(self, trainer: Any, scalars: dict[str, float]) -> None:
        """At each log step on rank 0: ``train/loss``, ``train/lr`` and ``train/words_per_sec`` as sent to TensorBoard."""

    def on_epoch_end(self, trainer: Any) -> None:
        """After an epoch's loss, held-out loss, evaluation and checkpoint; ``trainer.progress.epoch`` counts it done."""
