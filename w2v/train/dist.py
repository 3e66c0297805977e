"""Data-parallel training under ``torchrun``: one process per rank, periodic model averaging.

The recipe is pWord2Vec's (Ji et al. 2016): every rank trains its own shard with local Hogwild
updates, and at deterministic round boundaries all ranks all-reduce (SUM, then divide) the rows of
both tables in place. Everything every rank must agree on is decided from counts all ranks know
(blocks per rank, words per round), never from a wall clock, so every rank issues the same
collectives in the same order, even when the shards are uneven.

- **Vocabulary.** Each rank reads, tokenises, counts and encodes only its share of the text, and
  the counts are merged *by word*, so the words and their ids are identical everywhere; each rank
  then rewrites its shard as vocabulary ids into ``corpus.shard<r>.ids``. Phrases and ``init=`` give
  every rank what one process gives. All of it is :func:`w2v.data.prepare.prepare_corpus`, which
  reaches the other ranks through :class:`w2v.train.collectives.TorchCollectives`.
- **Stream.** The corpus is the concatenation of the shard files in rank order (fixed when the run
  starts, recorded in the checkpoint), cut into global blocks seeded by ``(seed, epoch, block)``
  exactly as in one process; block ``b`` goes to rank ``b mod W`` (:mod:`w2v.train.rounds`). So the
  union over ranks is the single-process stream of that corpus, one rank is bit for bit the plain
  run, and a resume with any number of ranks (or in one process) continues at the next block.
- **Rounds.** Round ``j`` of an epoch is the global blocks ``[s + j*k*W, s + (j+1)*k*W)`` (``s`` the
  epoch's start block, ``k = dist.sync_blocks``), so every rank knows the number of rounds without a
  collective, a rank without blocks in a round still joins it, and after each round the trained
  blocks are a prefix of the epoch: the checkpoint's position is one block number.
  A round ends with one small all-reduce of (words, loss, examples, interrupt, checkpoint due) and
  the merge of the tables (``dist.merge``: their average, or the sum of every rank's change since the
  last merge; :mod:`w2v.train.sync_schedule` says which and why): all rows, or with ``dist.hot_rows`` pWord2Vec's frequency bands (the
  hottest rows every round, rarer bands exponentially less often: :mod:`w2v.train.sync_schedule`),
  and all rows every ``dist.full_every`` rounds, at the end of an epoch and before a checkpoint.
  An engine that consumes token chunks (Triton) trains a rank's blocks of a round as chunks, and its
  rounds are whole chunks (:mod:`w2v.train.dist_chunks`). The trainer's one epoch loop runs the rounds
  through :class:`w2v.train.strategy.DataParallel`; this module holds the collectives it uses.
- **Schedule.** The learning rate decays with the global words: the words of all earlier rounds
  (exact, from the all-reduce) plus ``W`` times this rank's words in the current round, and is
  scaled by ``dist.lr_scale`` (``auto``: W for the average, which divides every update by W; 1 for
  the sum of changes).
- **Output.** Rank 0 alone writes vocab.tsv, vectors, metrics, TensorBoard, checkpoints and the
  evaluation; rank ``r > 0`` logs to ``train.rank<r>.log``.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from w2v.errors import W2VError
from w2v.train.sync_schedule import merge_for

log = logging.getLogger(__name__)

# Keys torchrun sets in every rank's environment.
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_ENV_FIX = f"for one process unset {' '.join(_ENV)}; for a job launch every rank with torchrun --nproc_per_node=N train.py"
JOIN_TIMEOUT_S = 30.0  # dist.join_timeout_s's default (configs saved before the key lack it)


@dataclass
class DistContext:
    """This process's place in the job: rank, world size, and whether a process group exists."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    enabled: bool = False  # a torch.distributed process group was initialised (torchrun)
    timeout_s: float = 300.0
    device: str = "cpu"  # where small collectives' tensors live: NCCL reduces CUDA tensors only
    owns_group: bool = False  # this module made the process group (and destroys it at the end)

    @property
    def is_main(self) -> bool:
        """True on the rank that writes the run directory (rank 0)."""
        return self.rank == 0


SINGLE = DistContext()


def launch_env() -> dict[str, str]:
    """The rendezvous variables set in this process's environment, by name."""
    return {k: os.environ[k] for k in _ENV if k in os.environ}


def check_launch_env(env: dict[str, str]) -> bool:
    """Whether ``env`` (:func:`launch_env`) makes this process a rank of a job; one line when it is a stray one.

    A cluster's shell or a parent job can leave RANK/WORLD_SIZE behind: a partial set that still says
    "one of several ranks" cannot be a job (torchrun sets all five), so it stops here at once; a
    partial set for one rank (WORLD_SIZE=1) is one process. A complete set that is stray is caught by
    :func:`_join`'s short wait for the other ranks.
    """
    if not env:
        return False
    said = _said(env)
    try:
        rank, world, _, _ = (int(env.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0), ("MASTER_PORT", 0)))
    except ValueError:
        raise W2VError(f"{said}, but not to numbers; {_ENV_FIX}") from None
    if len(env) < len(_ENV):
        if world > 1 or rank > 0:
            missing = [k for k in _ENV if k not in env]
            verb = "is" if len(missing) == 1 else "are"
            raise W2VError(f"{said} but {' '.join(missing)} {verb} not: a stray launcher environment, not torchrun's; {_ENV_FIX}")
        return False
    if not 0 <= rank < world:
        raise W2VError(f"{said}, and RANK={rank} is not below WORLD_SIZE={world}; {_ENV_FIX}")
    return True


def _said(env: dict[str, str]) -> str:
    """``RANK=0 WORLD_SIZE=2 are set``: the variables as the user would see them in ``env``."""
    return " ".join(f"{k}={v}" for k, v in env.items()) + (" is set" if len(env) == 1 else " are set")


def setup(cfg: Any, device: torch.device) -> DistContext:
    """Initialise torch.distributed when launched by torchrun (gloo on CPU, nccl on CUDA), else SINGLE.

    Every rank must reach the rendezvous within ``dist.join_timeout_s`` (a plain ``python train.py``
    that inherited a launcher's variables finds no peers and stops in one line); the process group then
    gets ``dist.timeout_s``: a collective that waits longer, because a rank died or hangs, fails with
    an error instead of blocking forever.
    """
    env = launch_env()
    if not check_launch_env(env):
        return SINGLE
    timeout = float(cfg.dist.timeout_s)
    ctx = DistContext(
        rank=int(os.environ["RANK"]), world=int(os.environ["WORLD_SIZE"]), local_rank=int(os.environ["LOCAL_RANK"]),
        local_world=int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])), enabled=True, timeout_s=timeout,
    )  # fmt: skip
    if dist.is_initialized():  # a caller (a test, a notebook) made the group already
        if dist.get_backend() == "nccl":
            ctx.device = f"cuda:{torch.cuda.current_device()}"
        return ctx
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ctx.local_rank)
        ctx.device = f"cuda:{ctx.local_rank}"
    store = _join(ctx, env, min(timeout, float(cfg.dist.get("join_timeout_s", JOIN_TIMEOUT_S))))
    with collective(ctx, "joining the process group"):
        dist.init_process_group(backend, store=store, rank=ctx.rank, world_size=ctx.world, timeout=datetime.timedelta(seconds=timeout))
    ctx.owns_group = True
    return ctx


def _join(ctx: DistContext, env: dict[str, str], seconds: float) -> dist.Store:
    """torch's env:// rendezvous (torchrun's store), then a wait for all ranks, both within ``seconds``.

    Ranks that torchrun (or a cluster launcher) starts together meet in seconds; a lone process whose
    environment names ranks that do not exist would otherwise wait the whole ``dist.timeout_s``. The
    store then waits up to ``dist.timeout_s``, as the process group does.
    """
    try:
        store, _, _ = next(dist.rendezvous("env://", timeout=datetime.timedelta(seconds=seconds)))
        # torchrun's agent keeps its store across restarts: one key per attempt.
        key = f"w2v/joined/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        if store.add(key, 1) == ctx.world:
            store.set(f"{key}/all", "1")
        store.wait([f"{key}/all"], datetime.timedelta(seconds=seconds))
    except Exception as exc:  # DistStoreError (timeout), DistNetworkError (refused, unknown host, port in use), ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise W2VError(
            f"{_said(env)}, but the {ctx.world} ranks did not all meet within dist.join_timeout_s={seconds:g}s ({first}); "
            f"{_ENV_FIX} (or raise dist.join_timeout_s if ranks start slowly)"
        ) from None
    store.set_timeout(datetime.timedelta(seconds=ctx.timeout_s))
    return store


def shutdown(ctx: DistContext) -> None:
    """Destroy the process group this module made (nothing for a single process)."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def collective(ctx: DistContext, what: str) -> Iterator[None]:
    """Turn a failed or timed-out collective into one line that names the cause and the fix."""
    try:
        yield
    except W2VError:
        raise
    except Exception as exc:  # DistBackendError, RuntimeError from gloo/nccl, a closed socket, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise W2VError(
            f"rank {ctx.rank}/{ctx.world}: {what} failed: another rank stopped or did not answer within dist.timeout_s={ctx.timeout_s:g}s "
            f"({first}); see the failing rank's error (train.rank<r>.log) and rerun, or raise dist.timeout_s for slow steps"
        ) from None


def default_threads(ctx: DistContext) -> int:
    """Numba threads of one rank when ``threads=0``: this node's cores shared by its ranks.

    torchrun sets OMP_NUM_THREADS=1, but numba reads its own setting, so each rank sets it explicitly.
    """
    return max(1, (os.cpu_count() or 1) // max(1, ctx.local_world))


def check_supported(cfg: Any, ctx: DistContext) -> None:
    """What this version does not run under torchrun yet, as one-line errors, before any work."""
    if not ctx.enabled:
        return
    unsupported = {
        "workers>0": cfg.workers > 0,
    }
    for what, bad in unsupported.items():
        if bad:
            raise W2VError(f"{what} is not supported under torchrun yet: run it in a single process (python train.py ...)")
    merge_for(cfg.dist.merge, ctx.world, blocks_per_round=1)  # dist.merge=deltas above 2 ranks: refused before any counting


def check_resumable(state: dict[str, Any], run_dir: Path, ctx: DistContext) -> None:
    """Under torchrun, a position kept per DataLoader worker (``workers>0``) cannot be shared out: say so.

    Any other checkpoint resumes with any world size: its position is one (block, batch) of the
    global stream (:func:`round_blocks` starts there).
    """
    workers = int(state.get("config", {}).get("workers", 0) or 0)
    if ctx.enabled and workers > 0:  # each worker at its own block: the blocks done are no prefix
        raise W2VError(
            f"{run_dir} was trained with workers={workers}, each DataLoader worker at its own block: torchrun cannot split that "
            f"position over ranks; resume it in a single process: python train.py resume={run_dir}"
        )


def shared_run_dir(ctx: DistContext, run_dir: Path) -> Path:
    """Rank 0's run directory on every rank (each rank's Hydra may have resolved its own timestamp)."""
    if not ctx.enabled or ctx.world == 1:
        return run_dir
    box = [str(run_dir)]
    with collective(ctx, "agreeing on the run directory"):
        dist.broadcast_object_list(box, src=0)
    shared = Path(box[0])
    if shared.resolve() != run_dir.resolve() and run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra"}:
        # This rank's Hydra resolved another second: drop the directory it made (its .hydra/ only).
        with contextlib.suppress(OSError):
            shutil.rmtree(run_dir / ".hydra", ignore_errors=True)
            run_dir.rmdir()
    return shared


def quiet_console(ctx: DistContext) -> None:
    """Ranks other than 0 show only warnings on the terminal (their full log is train.rank<r>.log)."""
    if ctx.is_main:
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def all_reduce_sum(ctx: DistContext, values: list[float], what: str = "the round's counts") -> list[float]:
    """Sum of ``values`` over ranks (float64: word counts stay exact below 2**53)."""
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    with collective(ctx, f"summing {what}"):
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


class TableAverager:
    """Averages the model's tables in place over ranks: all-reduce SUM, then divide by W.

    In place on the model's own storage, which the numba kernel's views point to (no new tensors, so
    no ``PeriodicModelAverager``, which also skips parameters without ``.grad``), and without
    ``ReduceOp.AVG``, which gloo does not have. A partial average takes the ``rows`` hottest rows of
    each table, a contiguous view: the first rows of word-indexed tables (the vocabulary is sorted by
    count) and the last rows of ``hot_last`` tables (hierarchical softmax's inner nodes: the root is
    the last row, and the nodes near it are on every word's path).
    """

    def __init__(self, ctx: DistContext, tables: Iterable[torch.Tensor], hot_last: Iterable[torch.Tensor] = (), merge: str = "average"):
        self.ctx, self.merge = ctx, merge
        self.parts = [(t, False) for t in tables if t.numel()] + [(t, True) for t in hot_last if t.numel()]
        self.n_rows = max((len(t) for t, _ in self.parts), default=0)
        for t, _ in self.parts:
            if not t.is_contiguous():
                raise ValueError("TableAverager needs contiguous tables (row ranges are then contiguous views)")
        if merge not in ("average", "deltas"):  # dist.merge=auto is resolved by sync_schedule.merge_for
            raise ValueError(f"unknown merge {merge!r}: use average or deltas")
        # merge=deltas keeps the tables as of each row's last sync: a replica's change is its table minus that.
        self.synced: list[torch.Tensor] = []
        if merge == "deltas" and ctx.world > 1:
            # The replicas start identical whatever each rank initialised (then the copies agree): one full
            # all-reduce more than the rounds, left out of the bytes the run reports.
            self.average()
            self.synced = [t.clone() for t, _ in self.parts]

    def bytes(self, rows: int | None = None) -> int:
        """Bytes of table data one average all-reduces (a ring all-reduce sends about 2(W-1)/W of it per rank)."""
        return sum(self._part(t, last, rows).numel() * t.element_size() for t, last in self.parts)

    @staticmethod
    def _part(t: torch.Tensor, hot_last: bool, rows: int | None) -> torch.Tensor:
        if rows is None or rows >= len(t):
            return t
        return t[len(t) - rows :] if hot_last else t[:rows]

    def average(self, rows: int | None = None) -> int:
        """Average the ``rows`` hottest rows of every table (None: all rows) over all ranks; return the bytes reduced."""
        if self.ctx.world == 1:
            return 0
        sent = 0
        with collective(self.ctx, "averaging the tables"):
            for i, (t, last) in enumerate(self.parts):
                part = self._part(t, last, rows)
                if not part.numel():
                    continue
                if self.synced:  # deltas: the last synced rows plus every replica's change since
                    base = self._part(self.synced[i], last, rows)
                    part.sub_(base)
                    dist.all_reduce(part, op=dist.ReduceOp.SUM)
                    part.add_(base)
                    base.copy_(part)
                else:
                    dist.all_reduce(part, op=dist.ReduceOp.SUM)
                    part.div_(self.ctx.world)
                sent += part.numel() * part.element_size()
        return sent
