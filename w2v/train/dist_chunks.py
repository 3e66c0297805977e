"""torchrun rounds for an engine that consumes token chunks (the Triton engine), in place of example batches.

The rounds are :func:`w2v.train.rounds.round_blocks`'s: global block ``b`` goes to rank ``b mod W``, round
``j`` is the next ``per_rank * W`` blocks, and after it the trained blocks are a prefix of the epoch.
Only a rank's work in a round changes: its blocks of the round become token chunks, grouped as a
single process groups them (:meth:`w2v.data.stream.Word2VecStream.iter_chunks`: by the block's index
among this rank's blocks, ``token_chunks`` to a chunk, a separator after each block), and each is
trained at the global-words rate of the trainer's epoch loop (:mod:`w2v.train.strategy`), decaying inside the chunk.

**Round size.** One GPU chunk is ``chunk_tokens`` (4M) words, ``token_chunks`` blocks; averaging after
every block (``dist.sync_blocks=1``, 65k words) would cut it into 64 launches of one block each, each
followed by an all-reduce of both tables, and starve the GPU. So a round is ``dist.sync_blocks``
rounded *up* to whole chunks: ``token_chunks * ceil(sync_blocks / token_chunks)`` blocks per rank, one
chunk at the defaults. Whole chunks also keep one rank bit for bit the single-process run: its rounds
then cut the epoch exactly where the single process cuts its chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from w2v.data.batches import SpanChunk, TokenChunk
from w2v.train.rounds import Round, RoundEnd


def blocks_per_round(sync_blocks: int, token_chunks: int) -> int:
    """Blocks one rank trains per round: ``sync_blocks``, rounded up to whole chunks of ``token_chunks`` blocks (0: no chunks)."""
    if token_chunks <= 0:
        return sync_blocks
    return token_chunks * max(1, -(-sync_blocks // token_chunks))


def chunk_groups(blocks: list[int], rank: int, world: int, token_chunks: int, first_block: int = 0) -> list[list[int]]:
    """``blocks`` (rank ``rank``'s blocks of the round that starts at global block ``first_block``, ascending)
    cut into chunks by the single process's rule, counted from the round's start.

    A chunk ends after a block whose index among the rank's blocks, ``(b - rank) // world``, closes a run of
    ``token_chunks`` counted from the rank's first index in the round (and at the round's end). With one
    rank and an epoch that starts on a chunk boundary those are
    :meth:`~w2v.data.stream.Word2VecStream.iter_chunks`'s chunks; a resume off the boundaries (a
    single-process checkpoint taken up by more ranks) still gets whole chunks. Held-out blocks keep
    their index, so one in a chunk's last place merges that chunk with the next, as ``iter_chunks``
    does; only a round's end cuts such a chunk where one process would not.
    """
    base = -(-(first_block - rank) // world)  # the rank's first block index in the round
    groups: list[list[int]] = []
    group: list[int] = []
    for b in blocks:
        group.append(b)
        if ((b - rank) // world - base + 1) % token_chunks == 0:
            groups.append(group)
            group = []
    if group:
        groups.append(group)
    return groups


def round_chunks(stream: Any, rounds: list[Round], rank: int, world: int, first_block: int) -> Iterator[TokenChunk | SpanChunk | RoundEnd]:
    """The token chunks of each round's blocks, then a round-end marker (also for a rank with no blocks in the round).

    ``first_block`` is the first round's first block (the epoch's start position). A chunk holds whole
    blocks: the batches-to-skip that :func:`w2v.train.rounds.round_blocks` carries are 0 for a chunk
    engine's checkpoints (it stops after whole chunks) and, as in the single-process stream, not used.
    """
    for r in rounds:
        for group in chunk_groups([b for b, _ in r.blocks], rank, world, stream.cfg.token_chunks, first_block):
            yield stream.token_chunk(group)
        yield RoundEnd({0: (r.next_block, 0)})
        first_block = r.next_block
