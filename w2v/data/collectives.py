"""The few collective operations data preparation needs from the processes of a job.

:func:`w2v.data.prepare.prepare_corpus` runs in every process of a job: one process alone, or each
rank of a torchrun job. The ranks count their own shares of the corpus and agree on one vocabulary
and one phrase set through the operations of :class:`Collectives` only, so ``w2v/data`` never imports
``torch.distributed``: the trainer passes the torch implementation (``w2v.train.collectives``), and
one process passes :data:`LOCAL`, where every operation is the identity.
"""

from __future__ import annotations

from typing import Any, Protocol


class Collectives(Protocol):
    """Collective operations over the processes of a job, called by every process in the same order.

    ``what`` names the step (``"merging the vocabulary counts"``) for the one-line error an
    implementation raises when another process stopped or did not answer.
    """

    @property
    def rank(self) -> int:
        """This process's rank, 0..world_size-1."""
        ...

    @property
    def world_size(self) -> int:
        """The number of processes."""
        ...

    @property
    def distributed(self) -> bool:
        """True for the ranks of a torchrun job (even of one rank): each writes its own shard of the id file."""
        ...

    @property
    def is_main(self) -> bool:
        """True on the process that writes the run directory's shared files (rank 0)."""
        ...

    def all_gather_object(self, obj: Any, what: str) -> list[Any]:
        """Every rank's ``obj``, by rank, on every rank."""
        ...

    def gather_object(self, obj: Any, dst: int, what: str) -> list[Any] | None:
        """Every rank's ``obj``, by rank, on rank ``dst``; None on the others."""
        ...

    def all_reduce_sum(self, values: list[float], what: str) -> list[float]:
        """The element-wise sum of ``values`` over the ranks, as float64 (``what`` names the values: "the shard sizes")."""
        ...

    def barrier(self, what: str) -> None:
        """Wait until every rank has reached this call."""
        ...


class LocalCollectives:
    """One process holds the whole corpus: every operation is the identity."""

    rank = 0
    world_size = 1
    distributed = False
    is_main = True

    def all_gather_object(self, obj: Any, what: str) -> list[Any]:
        return [obj]

    def gather_object(self, obj: Any, dst: int, what: str) -> list[Any] | None:
        return [obj]

    def all_reduce_sum(self, values: list[float], what: str) -> list[float]:
        return [float(v) for v in values]

    def barrier(self, what: str) -> None:
        pass


LOCAL = LocalCollectives()
