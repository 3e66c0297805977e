"""Data-parallel training under ``torchrun``: one process per rank, periodic model averaging.

The recipe is pWord2Vec's (Ji et al. 2016): every rank trains its own shard with local Hogwild
updates, and at deterministic round boundaries all ranks all-reduce (SUM, then divide) the rows of
both tables in place. Everything every rank must agree on is decided from counts all ranks know
(blocks per rank, words per round), never from a wall clock, so every rank issues the same
collectives in the same order, even when the shards are uneven.

- **Vocabulary.** Sentence ``i`` of the corpus goes to rank ``i mod W``. Each rank counts and
  encodes its share into ``corpus.rank<r>.ids``; the counts are merged *by word* with
  ``all_gather_object`` and the vocabulary is built from the merged counts the same way on every
  rank (first-occurrence order over rank 0's words, then rank 1's new words, ...), so the words and
  their ids are identical everywhere. (Every rank still reads and tokenises the whole text and keeps
  its share: the tokenising itself is not sharded yet.)
- **Stream.** Each rank streams the blocks of its own ids file, seeded with a per-rank seed
  (the run's seed itself when W = 1, so one rank is bit for bit the plain run).
- **Rounds.** A round is ``dist.sync_blocks`` blocks per rank; the number of rounds of an epoch is
  the largest over ranks (one ``MAX`` all-reduce), and a rank out of data still joins each round.
  A round ends with one small all-reduce of (words, loss, examples, interrupt, checkpoint due) and
  the average of the tables: all rows, or with ``dist.hot_rows`` the most frequent rows only, and
  all rows every ``dist.full_every`` rounds, at the end of an epoch and before a checkpoint.
- **Schedule.** The learning rate decays with the global words: the words of all earlier rounds
  (exact, from the all-reduce) plus ``W`` times this rank's words in the current round.
- **Output.** Rank 0 alone writes vocab.tsv, vectors, metrics, TensorBoard, checkpoints and the
  evaluation; rank ``r > 0`` logs to ``train.rank<r>.log``.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from w2v.data.vocab import EncodedCorpus, Vocab, build_vocab, encode_corpus, take_tokens
from w2v.errors import W2VError

if TYPE_CHECKING:
    from w2v.train.trainer import Trainer, _Interrupt

log = logging.getLogger(__name__)

# Keys torchrun sets in every rank's environment.
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


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


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) set the rendezvous environment of this process."""
    return all(k in os.environ for k in _ENV)


def setup(cfg: Any, device: torch.device) -> DistContext:
    """Initialise torch.distributed when launched by torchrun (gloo on CPU, nccl on CUDA), else SINGLE.

    The process group gets an explicit timeout (``dist.timeout_s``): a collective that waits longer,
    because a rank died or hangs, fails with an error instead of blocking forever.
    """
    if not launched_by_torchrun():
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
    with collective(ctx, "joining the process group"):
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    ctx.owns_group = True
    return ctx


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


def check_supported(cfg: Any, ctx: DistContext, consumes_tokens: bool) -> None:
    """What this version does not run under torchrun yet, as one-line errors, before any work."""
    if not ctx.enabled:
        return
    unsupported = {
        "resume=": bool(cfg.resume),
        "init=": bool(cfg.init),
        "phrases.enabled=true": bool(cfg.phrases.enabled),
        "workers>0": cfg.workers > 0,
        "an engine that consumes token chunks (triton)": consumes_tokens,
    }
    for what, bad in unsupported.items():
        if bad:
            raise W2VError(f"{what} is not supported under torchrun yet: run it in a single process (python train.py ...)")


def check_resumable(state: dict[str, Any], run_dir: Path) -> None:
    """A checkpoint written under torchrun cannot be resumed yet (its ids files are per rank): say so."""
    world = state.get("dist_world_size")
    if world is not None:
        raise W2VError(
            f"{run_dir} was trained by torchrun with {world} rank(s): resuming such a run is not supported yet; "
            f"its checkpoint holds the averaged tables, and its vectors are written at the end of a finished run"
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


def shard_sentences(sentences: Iterable[list[str]], ctx: DistContext, max_tokens: int | None) -> Iterable[list[str]]:
    """This rank's sentences: ``i mod W == rank`` of the (``max_tokens``-cut) corpus."""
    return itertools.islice(take_tokens(sentences, max_tokens), ctx.rank, None, ctx.world)


def merge_vocab_counts(ctx: DistContext, encoded: EncodedCorpus, min_count: int, max_vocab: int | None) -> Vocab:
    """The vocabulary of all ranks' counts, identical on every rank; ``remap`` maps this rank's ids.

    Counts are merged by word (provisional ids are local to a rank). The merged provisional order is
    rank 0's words in first-occurrence order, then each next rank's new words, so with W = 1 the
    vocabulary is exactly :func:`build_vocab`'s.
    """
    shares: list[Any] = [None] * ctx.world
    with collective(ctx, "merging the vocabulary counts"):
        dist.all_gather_object(shares, (encoded.words, encoded.counts, encoded.n_tokens, encoded.n_sentences))
    index: dict[str, int] = {}
    for words, _, _, _ in shares:
        for w in words:
            index.setdefault(w, len(index))
    counts = np.zeros(len(index), dtype=np.int64)
    for words, share_counts, _, _ in shares:
        np.add.at(counts, np.fromiter((index[w] for w in words), dtype=np.int64, count=len(words)), share_counts)
    merged = EncodedCorpus(
        encoded.path, list(index), counts, sum(s[2] for s in shares), sum(s[3] for s in shares), encoded.seconds
    )  # fmt: skip
    vocab = build_vocab(merged, min_count, max_vocab)
    assert vocab.remap is not None
    mine = np.fromiter((index[w] for w in encoded.words), dtype=np.int64, count=len(encoded.words))
    vocab.remap = vocab.remap[mine] if len(mine) else np.zeros(0, dtype=np.int32)
    return vocab


def prepare_data(cfg: Any, run_dir: Path, ids_path: Path, ctx: DistContext) -> tuple[EncodedCorpus, Vocab]:
    """Count and encode this rank's sentences into ``ids_path``; the vocabulary of all ranks' counts.

    Rank 0 writes ``vocab.tsv``. Errors (an empty corpus, no word above min_count) are raised on
    every rank alike, since every rank sees the same merged counts.
    """
    from w2v.data.corpus import iter_sentences, undecodable_bytes
    from w2v.data.tokenizers import prepare_tokenizer

    # A trained tokenizer (corpus.tokenizer=bpe...) is trained once, by rank 0; the other ranks load its file.
    tokenize = prepare_tokenizer(cfg.corpus, run_dir, cfg.init) if ctx.is_main else None
    with collective(ctx, "waiting for rank 0's tokenizer"):
        dist.barrier()
    if tokenize is None:
        tokenize = prepare_tokenizer(cfg.corpus, run_dir, train=False)
    before = undecodable_bytes()
    encoded = encode_corpus(shard_sentences(iter_sentences(cfg.corpus, tokenize), ctx, cfg.corpus.max_tokens), ids_path)
    bad = undecodable_bytes() - before
    if bad and ctx.is_main:
        log.warning("replaced %d undecodable bytes (invalid UTF-8) with U+FFFD", bad)
    try:
        vocab = merge_vocab_counts(ctx, encoded, cfg.min_count, cfg.max_vocab)
        if len(vocab) < 2:
            raise W2VError(f"the vocabulary has only {len(vocab)} word: word2vec needs at least 2; lower min_count or raise max_vocab")
    except W2VError:
        ids_path.unlink(missing_ok=True)
        raise
    if ctx.is_main:
        vocab.save_tsv(run_dir / "vocab.tsv")
    return encoded, vocab


def quiet_console(ctx: DistContext) -> None:
    """Ranks other than 0 show only warnings on the terminal (their full log is train.rank<r>.log)."""
    if ctx.is_main:
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def local_words(vocab: Vocab, encoded: EncodedCorpus) -> int:
    """This rank's corpus tokens that are in the (merged) vocabulary."""
    assert vocab.remap is not None
    return int(encoded.counts[vocab.remap >= 0].sum()) if len(encoded.counts) else 0


def stream_seed(seed: int, ctx: DistContext) -> int:
    """The seed of this rank's block stream: ``seed`` itself for one rank, a distinct one per rank otherwise."""
    if ctx.world == 1:
        return seed
    return int(np.random.SeedSequence([seed, ctx.rank, 0x72616E6B]).generate_state(1, dtype=np.uint32)[0])  # "rank"


def all_reduce_sum(ctx: DistContext, values: list[float], what: str = "the round's counts") -> list[float]:
    """Sum of ``values`` over ranks (float64: word counts stay exact below 2**53)."""
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    with collective(ctx, f"summing {what}"):
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_reduce_max(ctx: DistContext, value: int, what: str) -> int:
    """Largest ``value`` over ranks."""
    t = torch.tensor([value], dtype=torch.int64, device=ctx.device)
    with collective(ctx, f"agreeing on {what}"):
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


class TableAverager:
    """Averages the model's tables in place over ranks: all-reduce SUM, then divide by W.

    In place on the model's own storage, which the numba kernel's views point to (no new tensors, so
    no ``PeriodicModelAverager``, which also skips parameters without ``.grad``), and without
    ``ReduceOp.AVG``, which gloo does not have. With ``hot_rows`` > 0 a partial average takes rows
    ``[0, hot_rows)`` only: the vocabulary is sorted by count, so those are the most updated rows.
    """

    def __init__(self, ctx: DistContext, tables: Iterable[torch.Tensor], hot_rows: int = 0):
        self.ctx = ctx
        self.tables = [t for t in tables if t.numel()]
        self.hot_rows = hot_rows
        for t in self.tables:
            if not t.is_contiguous():
                raise ValueError("TableAverager needs contiguous tables (row prefixes are then contiguous views)")

    def bytes(self, full: bool) -> int:
        """Bytes of table data one average all-reduces (a ring all-reduce sends about 2(W-1)/W of it per rank)."""
        return sum(self._part(t, full).numel() * t.element_size() for t in self.tables)

    def _part(self, t: torch.Tensor, full: bool) -> torch.Tensor:
        return t if full or not self.hot_rows or self.hot_rows >= len(t) else t[: self.hot_rows]

    def average(self, full: bool = True) -> int:
        """Average every table (``full``) or its hot prefix over all ranks; return the bytes reduced."""
        if self.ctx.world == 1:
            return 0
        sent = 0
        with collective(self.ctx, "averaging the tables"):
            for t in self.tables:
                part = self._part(t, full)
                dist.all_reduce(part, op=dist.ReduceOp.SUM)
                part.div_(self.ctx.world)
                sent += part.numel() * part.element_size()
        return sent


_ROUND_END = {"round_end": True}


def _round_items(stream: Any, rounds: list[list[int]]) -> Iterator[dict]:
    """The batches of each round's blocks, then a round-end marker (also for a rank with no blocks left)."""
    for blocks in rounds:
        for block in blocks:
            yield from stream.iter_block(block)
        yield _ROUND_END


def run_epoch(tr: Trainer, interrupt: _Interrupt) -> None:
    """One epoch of data-parallel training: rounds of local updates, each closed by an average.

    Sets ``interrupt.hit`` on every rank when any rank was interrupted (the trainer then checkpoints
    once, on rank 0, and stops).
    """
    from w2v.train.prefetch import Prefetcher
    from w2v.train.trainer import _checkpoint_due, lr_at

    ctx, cfg, progress, stream = tr.dist, tr.cfg, tr.progress, tr.stream
    stream.set_epoch(progress.epoch, {})
    blocks = list(stream.my_blocks())
    per_round = cfg.dist.sync_blocks
    n_rounds = all_reduce_max(ctx, math.ceil(len(blocks) / per_round), "the number of rounds")
    rounds = [blocks[j * per_round : (j + 1) * per_round] for j in range(n_rounds)]
    overlap = tr.engine.overlaps_stream
    round_words = round_pairs = 0
    synced_bytes, t_sync = 0, 0.0
    done_rounds, lr = 0, cfg.lr
    with Prefetcher(_round_items(stream, rounds)) if overlap else contextlib.nullcontext(_round_items(stream, rounds)) as items:
        for item in items:
            if "round_end" not in item:
                lr = lr_at(cfg, progress.words_done + ctx.world * round_words, tr.total_words)
                n = len(item["targets"])
                if n:
                    tr.loss_acc[0] += tr.engine.step(tr.engine.to_device(item), lr)
                round_words += item["words"]
                round_pairs += n
                continue
            done_rounds += 1
            loss = float(tr.loss_acc[0])
            tr.loss_acc.zero_()
            due = ctx.is_main and _checkpoint_due(cfg, *tr.last_ckpt, progress.words_done)
            words, loss, pairs, stop, save = all_reduce_sum(ctx, [round_words, loss, round_pairs, float(interrupt.hit), float(due)])
            full = not cfg.dist.hot_rows or done_rounds % cfg.dist.full_every == 0 or done_rounds == n_rounds or bool(stop or save)
            t0 = time.perf_counter()
            sent = tr.averager.average(full)
            t_sync += time.perf_counter() - t0
            synced_bytes += sent
            if done_rounds == 1 or log.isEnabledFor(logging.DEBUG):
                log.log(logging.INFO if done_rounds == 1 else logging.DEBUG, "round %d/%d: averaged %s tables, %.1f MB",
                        done_rounds, n_rounds, "full" if full else f"hot ({cfg.dist.hot_rows} rows)", sent / 2**20)  # fmt: skip
            progress.words_done += int(words)
            progress.epoch_loss += loss
            progress.epoch_pairs += int(pairs)
            progress.pairs_total += int(pairs)
            tr.words_this_run += int(words)
            round_words = round_pairs = 0
            if ctx.is_main:
                tr.bar.update(int(words))
                tr.tb.scalar("dist/bytes_per_round", sent, progress.words_done)
                if done_rounds % max(1, cfg.log_every // 8) == 0:  # a round is many batches
                    tr._log_step(lr)
            if stop:
                interrupt.hit = True
                break
            if save:
                tr._save()
                tr.last_ckpt = (time.monotonic(), progress.words_done)
    log.info(
        "epoch %d: %d rounds of %d block(s) per rank over %d ranks, %.1f MB averaged per rank (%.1f MB per round), %.1fs in averaging",
        progress.epoch + 1, done_rounds, per_round, ctx.world, synced_bytes / 2**20, synced_bytes / 2**20 / max(1, done_rounds), t_sync,
    )  # fmt: skip
    tr.sync_bytes += synced_bytes
    tr.sync_rounds += done_rounds
