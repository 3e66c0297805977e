"""The engine interface: what the trainer calls, without knowing which model or engine it is.

A *model* (:class:`w2v.models.word2vec.Word2VecModel`) says which rows an example touches: its
input bag and, per output table, its target rows with labels (:func:`output_rows`). An *engine*
applies the update to those rows: the per-pair numba CPU kernel, the batched torch update, and
later a GPU kernel. Engines register themselves in :data:`ENGINES`; ``engine=auto`` takes the
first in :data:`AUTO_ORDER` that can run the configured job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec, Word2VecModel


class Engine(ABC):
    """Applies one update per batch to a model's tables.

    Class attributes tell the trainer how to feed it: ``default_batch`` examples per step when
    ``batch_size`` is null, ``shuffle`` whether the stream should shuffle examples within a block
    (when ``shuffle_pairs`` is null), and ``overlaps_stream`` whether to build the next batch while
    it trains.
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

    def attach(self, stream: Any) -> None:  # noqa: B027 - engines that take example batches need nothing
        """Take what the engine needs from the stream (its keep probabilities, noise table) once it exists."""

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch on the engine's device (an engine may copy on its own CUDA stream)."""
        return batch_to(batch, self.device)

    @abstractmethod
    def step(self, batch: dict[str, Any], lr: float) -> torch.Tensor:
        """Update the tables in place with one batch; return the batch's summed loss before the update.

        A token-chunk engine returns a float64 (2,) tensor: (summed loss, examples trained), because
        only the device knows how many pairs a chunk made.
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


def batch_to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch's tensors on ``device`` (non-blocking from pinned memory)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
