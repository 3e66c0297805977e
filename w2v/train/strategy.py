"""How training is spread over processes: what the trainer's one epoch loop asks at each round's end.

The loop (:meth:`w2v.train.trainer.Trainer.fit`) is the same for one process and for torchrun. It
reads an epoch's stream items cut into rounds (:mod:`w2v.train.rounds`); at each round's end it asks
its strategy to :meth:`~Strategy.reduce` the round's counts (with the stop and checkpoint flags) and
to :meth:`~Strategy.end_round` (merge the tables), then counts the totals into its progress.

- :class:`SingleProcess`: a round is one item of the stream and its counts are this process's; the
  loss stays on the device until the trainer logs it. Nothing is merged.
- :class:`DataParallel`: torchrun's ranks each train their blocks of a round (pWord2Vec's recipe,
  :mod:`w2v.train.dist`), then one all-reduce of the counts and the merge of the tables: all rows,
  or with ``dist.hot_rows`` the ruler schedule's hottest rows (:mod:`w2v.train.sync_schedule`), and
  all rows at the epoch's last round and before a checkpoint or a stop.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from w2v.data.batches import StreamItem
from w2v.data.stream import Word2VecStream
from w2v.engines.base import Engine
from w2v.train.dist import DistContext, TableAverager, all_reduce_sum
from w2v.train.dist_chunks import blocks_per_round, round_chunks
from w2v.train.prefetch import Prefetcher
from w2v.train.progress import Progress, Tally
from w2v.train.rounds import RoundEnd, item_rounds, round_blocks, round_items
from w2v.train.sync_schedule import lr_factor, merge_for, rows_at_round

log = logging.getLogger(__name__)

EpochItems = Iterator[StreamItem | RoundEnd]


@dataclass
class RoundTotals:
    """A round's counts over all processes, and what every process does next."""

    words: int
    loss: float  # summed loss of the round's examples (0 while it stays on the device: one process)
    examples: int
    stop: bool  # a process was interrupted: every one stops after this round
    save: bool  # rank 0's checkpoint is due: written after this round


class Strategy(ABC):
    """Where the processes of a run meet: round ends. The base does what one process needs, which is nothing."""

    world = 1  # replicas training at once: a round's local words count this many times in the schedule
    rank = 0
    is_main = True  # this process writes the run directory
    lr_scale = 1.0  # factor on the configured learning rate schedule

    @abstractmethod
    def epoch(self, stream: Word2VecStream, loader: Iterable[StreamItem], progress: Progress, overlap: bool) -> Any:
        """A context manager over this process's items of the epoch, from ``progress``'s position, with a
        :class:`RoundEnd` after each round; ``overlap``: build the next items in a thread meanwhile."""

    @abstractmethod
    def reduce(self, tally: Tally, stop: bool, checkpoint_due: Callable[[int], bool]) -> RoundTotals:
        """The round's totals from this process's ``tally`` (taken) and ``stop`` flag. ``checkpoint_due(words)``
        says whether this process's checkpoint is due once ``words`` more are counted: a strategy asks it
        with the words it knows before it reduces."""

    def rounds_per_log(self, cfg: Any, engine: Engine) -> int:
        """Rounds between log steps."""
        return cfg.log_every

    def end_round(self, totals: RoundTotals) -> dict[str, float]:
        """Merge the replicas' tables after a round; returns scalars for TensorBoard."""
        return {}

    def end_epoch(self, epoch: int) -> None:  # noqa: B027 - one process has nothing to close
        """After the epoch's last round (or the round a stop ended it at)."""

    def log_start(self) -> None:  # noqa: B027 - one process has nothing to add to the start-up log
        """Say how the processes train together, once the run is set up."""

    def metrics(self) -> dict[str, Any]:
        """What the run's metrics.json records about the processes."""
        return {}

    def checkpoint_state(self) -> dict[str, Any]:
        """What a checkpoint records about the processes."""
        return {}

    def interrupted(self, progress: Progress, run_dir: Path) -> str:
        """The warning after a stop: where the checkpoint stands and how to resume."""
        return (
            f"interrupted: checkpoint saved at epoch {progress.epoch + 1}, {progress.words_done} words done; "
            f"resume with: python train.py resume={run_dir}"
        )


class SingleProcess(Strategy):
    """One process: each stream item is a round; the counts are this process's own."""

    @contextlib.contextmanager
    def epoch(self, stream: Word2VecStream, loader: Iterable[StreamItem], progress: Progress, overlap: bool) -> Iterator[EpochItems]:
        stream.set_epoch(progress.epoch, progress.start)
        # An engine that releases the GIL while it updates trains one item while a thread builds the
        # next; with DataLoader workers the items are made in other processes already.
        with Prefetcher(loader) if overlap else contextlib.nullcontext(loader) as items:
            yield item_rounds(iter(items))

    def rounds_per_log(self, cfg: Any, engine: Engine) -> int:
        return 1 if engine.reads_spans else cfg.log_every  # a CPU span chunk is seconds of training: log each

    def reduce(self, tally: Tally, stop: bool, checkpoint_due: Callable[[int], bool]) -> RoundTotals:
        # The loss and examples stay on the device, summed, until a log step or checkpoint reads them (one sync).
        words = tally.take_words()
        return RoundTotals(words, 0.0, 0, stop, checkpoint_due(words))


class DataParallel(Strategy):
    """torchrun's ranks: rounds of ``dist.sync_blocks`` blocks per rank, each closed by an all-reduce and a merge."""

    def __init__(self, ctx: DistContext, cfg: Any, engine: Engine, stream: Word2VecStream):
        self.ctx, self.cfg, self.engine = ctx, cfg, engine
        self.world, self.rank, self.is_main = ctx.world, ctx.rank, ctx.is_main
        self.blocks_per_round = blocks_per_round(cfg.dist.sync_blocks, stream.cfg.token_chunks)  # whole chunks (dist_chunks.py)
        # dist.merge=auto: deltas for 2 ranks and 1-block rounds, else average (sync_schedule.merge_for).
        self.merge = merge_for(cfg.dist.merge, ctx.world, self.blocks_per_round)
        tables = engine.merged_tables()
        self.averager = TableAverager(ctx, tables.hot_first, hot_last=tables.hot_last, merge=self.merge)
        self.lr_scale = lr_factor(cfg.dist.lr_scale, ctx.world, self.merge)  # averaging divides each update by W
        self.sync_bytes = self.sync_rounds = 0
        self.n_rounds = self.done_rounds = self.epoch_bytes = 0
        self.epoch_seconds = 0.0

    def log_start(self) -> None:
        ctx, cfg = self.ctx, self.cfg
        log.info("rank %d of %d (local rank %d of %d), backend %s, %d threads: merging (%s) every %d block(s) per rank%s",
                 ctx.rank, ctx.world, ctx.local_rank, ctx.local_world, torch.distributed.get_backend(), self.engine.threads,
                 self.merge, self.blocks_per_round,
                 f", the {cfg.dist.hot_rows} hottest rows x the ruler sequence (all rows at epoch ends"
                 + (f" and every {cfg.dist.full_every} rounds)" if cfg.dist.full_every else ")")
                 if cfg.dist.hot_rows else "")  # fmt: skip

    @contextlib.contextmanager
    def epoch(self, stream: Word2VecStream, loader: Iterable[StreamItem], progress: Progress, overlap: bool) -> Iterator[EpochItems]:
        stream.set_epoch(progress.epoch, {})
        start = progress.start.get(0, (0, 0))
        rounds = round_blocks(stream.heldout, self.rank, self.world, self.blocks_per_round, start)
        self.n_rounds, self.done_rounds, self.epoch_bytes, self.epoch_seconds = len(rounds), 0, 0, 0.0
        if stream.cfg.token_chunks:
            source = round_chunks(stream, rounds, self.rank, self.world, start[0])
        else:
            source = round_items(stream, rounds)
        with Prefetcher(source) if overlap else contextlib.nullcontext(source) as items:
            yield iter(items)

    def rounds_per_log(self, cfg: Any, engine: Engine) -> int:
        return max(1, cfg.log_every // 8)  # a round is many batches

    def reduce(self, tally: Tally, stop: bool, checkpoint_due: Callable[[int], bool]) -> RoundTotals:
        # (loss, examples) from the device: one sync per round. The round's words are known only after the
        # all-reduce, so rank 0's checkpoint clock is asked with the earlier rounds' words.
        loss, examples = tally.take_sums()
        save = checkpoint_due(0)
        # Python floats: all_reduce_sum puts them on ctx.device (CUDA for NCCL), whatever device the engine trains on.
        words, loss, examples, any_stop, any_save = all_reduce_sum(self.ctx, [tally.take_words(), loss, examples, float(stop), float(save)])
        return RoundTotals(int(words), loss, int(examples), bool(any_stop), bool(any_save))

    def end_round(self, totals: RoundTotals) -> dict[str, float]:
        self.done_rounds += 1
        n_rows = self.averager.n_rows
        # The ruler schedule's rows; all rows at the epoch's last round and before a checkpoint or a stop.
        rows = rows_at_round(self.done_rounds, self.cfg.dist.hot_rows, self.cfg.dist.full_every, n_rows)
        if self.done_rounds == self.n_rounds or totals.stop or totals.save:
            rows = n_rows
        t0 = time.perf_counter()
        sent = self.averager.average(rows)
        self.epoch_seconds += time.perf_counter() - t0
        self.epoch_bytes += sent
        if self.done_rounds == 1 or log.isEnabledFor(logging.DEBUG):
            log.log(logging.INFO if self.done_rounds == 1 else logging.DEBUG, "round %d/%d: merged %d of %d rows, %.2f MB",
                    self.done_rounds, self.n_rounds, rows, n_rows, sent / 2**20)  # fmt: skip
        return {"dist/bytes_per_round": sent}

    def end_epoch(self, epoch: int) -> None:
        mb = self.epoch_bytes / 2**20
        log.info(
            "epoch %d: %d rounds of %d block(s) per rank over %d ranks, %.1f MB merged per rank (%.1f MB per round), %.1fs in merging",
            epoch + 1, self.done_rounds, self.blocks_per_round, self.world, mb, mb / max(1, self.done_rounds), self.epoch_seconds,
        )  # fmt: skip
        self.sync_bytes += self.epoch_bytes
        self.sync_rounds += self.done_rounds

    def metrics(self) -> dict[str, Any]:
        return {"world_size": self.world, "sync_merge": self.merge, "sync_rounds": self.sync_rounds, "sync_bytes": self.sync_bytes}

    def checkpoint_state(self) -> dict[str, Any]:
        return {"dist_world_size": self.world}

    def interrupted(self, progress: Progress, run_dir: Path) -> str:
        # Any world size resumes it, or one process (rounds.round_blocks starts at its block).
        return (
            f"interrupted: all ranks stopped after the same round; rank 0 saved the averaged tables at epoch {progress.epoch + 1}, "
            f"{progress.words_done} words done; resume with: torchrun --nproc_per_node=N train.py resume={run_dir} (any N), "
            f"or python train.py resume={run_dir}"
        )


def make_strategy(ctx: DistContext, cfg: Any, engine: Engine, stream: Word2VecStream) -> Strategy:
    """:class:`DataParallel` under torchrun (a process group exists), else :class:`SingleProcess`."""
    return DataParallel(ctx, cfg, engine, stream) if ctx.enabled else SingleProcess()
