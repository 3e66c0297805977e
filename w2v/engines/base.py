"""The engine interface: what the trainer calls, without knowing which model or engine it is.

A *model* (:class:`w2v.models.word2vec.Word2VecModel`) says which rows an example touches: its
input bag and, per output table, its target rows with labels (:func:`output_rows`). An *engine*
applies the update to those rows: the per-pair numba CPU kernel, the batched torch update, and
later a GPU kernel. Engines register themselves in :data:`ENGINES`; ``engine=auto`` takes the
first in :data:`AUTO_ORDER` that can run the configured job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, NamedTuple

import torch

from w2v.data.batches import StreamItem
from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec, Word2VecModel


class MergedTables(NamedTuple):
    """The tables data-parallel replicas merge, by where their hottest rows are (a partial merge takes those)."""

    hot_first: list[torch.Tensor]  # indexed by word: the vocabulary is sorted by count, the hottest rows first
    hot_last: list[torch.Tensor]  # hierarchical softmax's inner nodes: the root is the last row, on every word's path


def step_result(loss: torch.Tensor, examples: int) -> torch.Tensor:
    """:meth:`Engine.step`'s return value from a batch's summed loss (a 0-d tensor) and its example count:
    ``(loss, examples)`` as a float64 (2,) tensor on the loss's device, made there without a host sync."""
    return torch.stack((loss.to(torch.float64), loss.new_full((), float(examples), dtype=torch.float64)))


class Engine(ABC):
    """Applies one update per stream item to a model's tables.

    Class attributes tell the trainer how to feed it: ``default_batch`` examples per step when
    ``batch_size`` is null, ``shuffle`` whether the stream should shuffle examples within a block
    (when ``shuffle_pairs`` is null), ``overlaps_stream`` whether to build the next item while it
    trains, and ``consumes_tokens``/``reads_spans`` which item it takes (:mod:`w2v.data.batches`).
    Instances add ``grid``: the programs a GPU kernel keeps in flight (None for others).
    """

    name: ClassVar[str]
    default_batch: ClassVar[int]
    shuffle: ClassVar[bool]
    # True when step() releases the GIL and leaves a core for the stream, so the trainer can build
    # the next batch in a thread meanwhile.
    overlaps_stream: ClassVar[bool] = False
    # True when the engine builds its examples itself from token chunks (vocabulary ids with -1
    # between sentences, ``chunk_tokens`` corpus words each) instead of taking example batches.
    consumes_tokens: ClassVar[bool] = False
    # With consumes_tokens: True when the engine takes span chunks (views of the id file and block
    # bounds) and maps, subsamples and windows the ids itself (w2v/engines/hogwild.py).
    reads_spans: ClassVar[bool] = False
    # Updates a GPU kernel keeps in flight (its programs), reported in the run's metrics; None for others.
    grid: int | None = None

    @classmethod
    def batch_size(cls, spec: ModelSpec) -> int:
        """Examples per step when ``batch_size`` is null, for this model."""
        return cls.default_batch

    @classmethod
    def unavailable(cls, cfg: Any, device: torch.device) -> str | None:
        """Why this engine cannot run the configured job on ``device`` (one line with the fix), or None."""
        return None

    def __init__(self, model: Word2VecModel, cfg: Any, device: torch.device, threads: int):
        self.model, self.cfg, self.device, self.threads = model, cfg, device, threads

    def resolved(self) -> dict[str, Any]:
        """Settings the engine chose for itself where the config left them null (auto), by name: the trainer
        logs them at the start and writes them to metrics.json. Empty for an engine with no such choice."""
        return {}

    def chunk_blocks(self) -> int:
        """Blocks per chunk the stream cuts for this engine; 0 for an engine that takes example batches."""
        if not self.consumes_tokens:
            return 0
        return max(1, self.cfg.chunk_tokens // self.cfg.block_tokens)

    def merged_tables(self) -> MergedTables:
        """The tables torchrun's replicas merge (:class:`w2v.train.dist.TableAverager`); empty ones are skipped there."""
        tables = self.model.tables()
        return MergedTables([tables.in_w, tables.out_w], [tables.hs_w])

    def attach(self, stream: Any) -> None:  # noqa: B027 - engines that take example batches need nothing
        """Take what the engine needs from the stream (its keep probabilities, noise table) once it exists."""

    def to_device(self, item: StreamItem) -> StreamItem:
        """The item on the engine's device (an engine may copy on its own CUDA stream)."""
        return item.to(self.device)

    @abstractmethod
    def step(self, item: StreamItem, lr: float, lr_end: float) -> torch.Tensor:
        """Update the tables in place with one non-empty item (the kind the engine takes).

        ``lr`` is the rate at the item's first word and ``lr_end`` at its last: a chunk engine decays
        the rate inside the chunk, an example engine trains the whole batch at ``lr``. Returns a
        float64 (2,) tensor on the engine's device: (summed loss before the updates, examples
        trained) (:func:`step_result` makes one for a batch). Both stay on the device, because only
        the device knows how many examples a chunk made, and reading them would wait for it.
        """

    def state_dict(self) -> dict[str, Any]:
        """Engine state a checkpoint must carry (an optimizer's, say); empty for plain SGD."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - plain SGD has nothing to restore
        """Restore :meth:`state_dict`."""


ENGINES: dict[str, type[Engine]] = {}
AUTO_ORDER: list[str] = []


def register(cls: type[Engine], auto_rank: int | None = None) -> type[Engine]:
    """Add an engine under ``cls.name``; ``auto_rank`` places it in ``engine=auto``'s preference order."""
    ENGINES[cls.name] = cls
    if auto_rank is not None:
        AUTO_ORDER.insert(min(auto_rank, len(AUTO_ORDER)), cls.name)
    return cls


def select_engine(cfg: Any, device: torch.device) -> type[Engine]:
    """The engine class for ``cfg.engine`` on ``device``, or a one-line error saying why it cannot run."""
    if cfg.engine != "auto":
        if cfg.engine not in ENGINES:
            raise W2VError(f"unknown engine {cfg.engine!r}: use auto or one of {', '.join(ENGINES)}")
        cls = ENGINES[cfg.engine]
        reason = cls.unavailable(cfg, device)
        if reason:
            raise W2VError(reason)
        return cls
    for name in AUTO_ORDER:
        if ENGINES[name].unavailable(cfg, device) is None:
            return ENGINES[name]
    raise W2VError(f"no engine can run this job on {device}: {'; '.join(ENGINES[n].unavailable(cfg, device) or '' for n in AUTO_ORDER)}")
