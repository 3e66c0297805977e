"""torch.distributed behind :class:`w2v.data.collectives.Collectives`: what the trainer hands data preparation.

Each operation runs inside :func:`w2v.train.dist.collective`, so a rank that stopped or hangs is a
one-line error naming the step on the others; sums run on the context's device (CUDA for NCCL).
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist

from w2v.data.collectives import LOCAL, Collectives
from w2v.train.dist import DistContext, all_reduce_sum, collective


class TorchCollectives:
    """:class:`w2v.data.collectives.Collectives` over the process group of a torchrun job."""

    distributed = True

    def __init__(self, ctx: DistContext):
        self.ctx = ctx

    @property
    def rank(self) -> int:
        return self.ctx.rank

    @property
    def world_size(self) -> int:
        return self.ctx.world

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def all_gather_object(self, obj: Any, what: str) -> list[Any]:
        out: list[Any] = [None] * self.ctx.world
        with collective(self.ctx, what):
            dist.all_gather_object(out, obj)
        return out

    def gather_object(self, obj: Any, dst: int, what: str) -> list[Any] | None:
        box: list[Any] | None = [None] * self.ctx.world if self.ctx.rank == dst else None
        with collective(self.ctx, what):
            dist.gather_object(obj, box, dst=dst)
        return box

    def all_reduce_sum(self, values: list[float], what: str) -> list[float]:
        return all_reduce_sum(self.ctx, values, what)

    def barrier(self, what: str) -> None:
        with collective(self.ctx, what):
            dist.barrier()


def collectives_for(ctx: DistContext) -> Collectives:
    """The collectives of this process's job: torch.distributed's under torchrun, else one process's identity."""
    return TorchCollectives(ctx) if ctx.enabled else LOCAL
