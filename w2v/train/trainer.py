"""Training: corpus -> vocab -> example stream -> engine updates -> exported vectors and metrics.

``train(cfg, run_dir)`` is the whole recipe and returns the final metrics; ``train.py`` only wraps
it in ``@hydra.main``. Progress is in words (corpus tokens in the vocabulary, before subsampling),
like word2vec.c and gensim: the learning rate decays linearly with words processed over all epochs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from w2v.atomic import atomic_write_text
from w2v.config import EvalConfig, train_schema, validate
from w2v.data.prepare import prepare_corpus
from w2v.data.stream import StreamConfig, Word2VecStream
from w2v.data.tokenizers import describe as describe_tokenizer
from w2v.data.vocab import Vocab
from w2v.engines import select_engine
from w2v.errors import W2VError
from w2v.exports import write_exports
from w2v.metrics import MetricLogger, NullMetricLogger
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.projector import write_projector
from w2v.train import dist
from w2v.train.checkpoint import load_checkpoint, save_checkpoint
from w2v.train.collectives import collectives_for
from w2v.train.dist_chunks import blocks_per_round
from w2v.train.heldout import HeldOutLoss
from w2v.train.init import InitRun, init_config, init_model, load_init_run
from w2v.train.prefetch import Prefetcher
from w2v.train.progress_log import ProgressLog
from w2v.train.resume import explicit_keys, finished_run_message, remove_id_files, resume_id_files
from w2v.train.subwords import composer, make_bags, save_full_model
from w2v.train.sync_schedule import lr_factor, merge_for

log = logging.getLogger(__name__)
_ABSENT = object()

# Keys a resumed run may change when the command line gives them; every other key, and these when
# not given, keep the checkpoint's values.
RESUME_MAY_CHANGE = (
    "resume",
    "device",
    "threads",
    "grid",
    "log_every",
    "progress_every",
    "eval",
    "checkpoint_every_minutes",
    "checkpoint_every_words",
    "keep_ids_cache",
    "dist",
    "export_formats",
)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise W2VError(f"device={name} but CUDA is not available here: use device=cpu or device=auto")
    return torch.device(name)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB (Linux /proc; peak from getrusage)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        current = float("nan")
    return current, peak


def lr_at(cfg: Any, words_done: int, total_words: int) -> float:
    """word2vec's schedule: linear from ``lr`` to ``min_lr`` over all words of all epochs."""
    progress = min(1.0, words_done / max(1, total_words))
    return cfg.lr - (cfg.lr - cfg.min_lr) * progress


@dataclass
class Progress:
    """Where training stands: enough to resume exactly."""

    epoch: int = 0
    start: dict[int, tuple[int, int]] = field(default_factory=dict)  # worker -> next (block, batch)
    words_done: int = 0
    epoch_loss: float = 0.0  # summed loss of this epoch so far
    epoch_pairs: int = 0  # examples: skip-gram pairs or CBOW windows (name kept for older checkpoints)
    epoch_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)  # held-out loss at the end of each epoch
    pairs_total: int = 0
    train_seconds: float = 0.0
    done: bool = False

    def state(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["start"] = {str(k): list(v) for k, v in self.start.items()}
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Progress:
        d = dict(d)
        d["start"] = {int(k): (int(v[0]), int(v[1])) for k, v in d["start"].items()}
        return cls(**d)


class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag checked between batches, so a checkpoint can be written."""

    def __init__(self) -> None:
        self.hit, self.t_hit = False, 0.0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        # A second Ctrl-C means "now". Not one within a second of the first: under torchrun a Ctrl-C
        # reaches each rank twice, from the terminal and relayed by torchrun, and both mean "stop cleanly".
        if self.hit and time.monotonic() - self.t_hit > 1.0:
            raise KeyboardInterrupt
        if not self.hit:
            self.hit, self.t_hit = True, time.monotonic()

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _ignore_sigint(_: int) -> None:
    # Workers leave Ctrl-C to the main process, which checkpoints and stops them in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _setup_file_log(run_dir: Path, name: str = "train.log") -> logging.Handler:
    handler = logging.FileHandler(run_dir / name, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
        logging.getLogger().setLevel(logging.INFO)
    return handler


def _flat(cfg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}{k}.", v)
        else:
            out[prefix[:-1]] = node

    walk("", OmegaConf.to_container(cfg, resolve=True))
    return out


def train(cfg: DictConfig, run_dir: str | os.PathLike | None = None, explicit: Iterable[str] | None = None) -> dict[str, Any]:
    """Train one model as configured, write everything into ``run_dir`` and return the metrics.

    ``explicit`` names the config keys the user gave (dotted, ``threads`` or ``eval.every_epoch``):
    on ``resume=`` those among :data:`RESUME_MAY_CHANGE` replace the checkpoint's values. None =
    the command line's overrides when Hydra runs, else none (programmatic callers say which).
    """
    validate(cfg)
    explicit = list(explicit_keys() if explicit is None else explicit)
    init = None
    if cfg.init:  # a new run from a finished one: its model keys, vocabulary and vectors
        init = load_init_run(cfg.init)
        cfg = init_config(cfg, init, set(explicit))
    select_engine(cfg, resolve_device(cfg.device))  # an engine that cannot run this job fails before the run directory exists
    if cfg.eval.enabled and not cfg.corpus.evaluator:
        from w2v.evaluation.run import check_eval_config

        check_eval_config(cfg.eval)  # a bad eval.* value fails now, not after hours of training
    ctx = dist.setup(cfg, resolve_device(cfg.device))  # torchrun: join the process group; else one process
    try:
        dist.check_supported(cfg, ctx)
        return _train_in(cfg, run_dir, explicit, init, ctx)
    finally:
        dist.shutdown(ctx)


def _train_in(
    cfg: Any, run_dir: str | os.PathLike | None, explicit: list[str], init: InitRun | None, ctx: dist.DistContext
) -> dict[str, Any]:
    resume_state = None
    if cfg.resume:
        resume_state = load_checkpoint(Path(cfg.resume))
        run_dir = Path(cfg.resume) if Path(cfg.resume).is_dir() else Path(cfg.resume).parent
        if resume_state["progress"].get("done"):
            raise W2VError(finished_run_message(run_dir, resume_state))
        dist.check_resumable(resume_state, run_dir, ctx)
        cfg = _resume_config(cfg, resume_state, explicit)
        _check_resumed_config(cfg, run_dir)
        dist.check_supported(cfg, ctx)  # the checkpoint's settings
    run_dir = dist.shared_run_dir(ctx, Path(run_dir or os.getcwd()))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / (".w2v-write-test" + (str(ctx.rank) if ctx.enabled else ""))
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise W2VError(f"cannot write to the run directory {run_dir}: {exc.strerror}; choose a writable hydra.run.dir") from None
    handler = _setup_file_log(run_dir, "train.log" if ctx.is_main else f"train.rank{ctx.rank}.log")
    dist.quiet_console(ctx)
    try:
        return _train(cfg, run_dir, resume_state, init, ctx)
    except OSError as exc:  # disk full, permissions, ...: atomic writes left every earlier file intact
        where = exc.filename or run_dir
        raise W2VError(
            f"cannot write {where}: {exc.strerror or exc}; free disk space or choose another hydra.run.dir "
            f"(finished files and the last checkpoint in {run_dir} are intact)"
        ) from None
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _resume_config(cfg: DictConfig, state: dict[str, Any], explicit: Iterable[str] = ()) -> DictConfig:
    """The checkpoint's config, with the RESUME_MAY_CHANGE keys of ``explicit`` taken from ``cfg``."""
    saved = OmegaConf.create(state["config"])
    for key in ("sg", "cbow_mean", "hs"):  # checkpoints from before the model keys trained skip-gram with NS
        if key not in saved:
            OmegaConf.update(saved, key, key != "hs", merge=False)
    if "heldout" not in saved:  # checkpoints from before held-out blocks trained on every block
        OmegaConf.update(saved, "heldout", 0.0, merge=False)
    if "dist" in saved and "merge" not in saved.dist:  # checkpoints from before dist.merge averaged (at their lr_scale)
        OmegaConf.update(saved, "dist.merge", "average", merge=False)
    explicit = {"resume", *explicit}
    for key in RESUME_MAY_CHANGE:
        if key in cfg and key not in saved:  # a key newer than the checkpoint: this version's value
            OmegaConf.update(saved, key, cfg[key], merge=False)
    # Typed like a command line's config (load_checkpoint checked that it fits); other keys newer than the
    # checkpoint take this version's defaults.
    saved = OmegaConf.merge(train_schema(saved), saved)  # corpus typed by its kind's own schema (playlists)
    for key in sorted(explicit):  # a group (eval=none) replaces its subtree, eval.x=... one value
        new = OmegaConf.select(cfg, key, default=_ABSENT)
        if new is _ABSENT:  # hydra.* and other keys outside the run config
            continue
        if key.split(".")[0] in RESUME_MAY_CHANGE:
            OmegaConf.update(saved, key, new, merge=False)
        elif OmegaConf.select(saved, key, default=None) != new:
            log.warning("resume: keeping the checkpoint's %s=%s (ignoring %s)", key, OmegaConf.select(saved, key, default=None), new)
    return saved


def _check_resumed_config(cfg: DictConfig, run_dir: Path) -> None:
    """The checkpoint's config through the value checks a command line's goes through, so a damaged one
    (``window: 0``, an unregistered ``corpus.evaluator``) stops now, not hours later. The files it names
    are not read: a resume reads no corpus and no tokenizer."""
    checked = copy.deepcopy(cfg)
    checked.init, checked.init_lr = None, None  # a run started with init= is resumed with resume=, which excludes it
    try:
        validate(checked, files=False)
    except W2VError as exc:
        raise W2VError(
            f"the checkpoint in {run_dir} holds a config no run can use ({exc}); it is damaged or was not written by this w2v: "
            "start a new run"
        ) from None


def _train(
    cfg: Any, run_dir: Path, resume_state: dict[str, Any] | None, init: InitRun | None = None, ctx: dist.DistContext = dist.SINGLE
) -> dict[str, Any]:
    trainer = Trainer(cfg, run_dir, resume_state, init, ctx)
    trainer.fit()
    return trainer.finish()


class Trainer:
    """One training run: the model, its engine, the example stream, the schedule, logging and checkpoints."""

    def __init__(
        self, cfg: Any, run_dir: Path, resume_state: dict[str, Any] | None, init: InitRun | None = None, ctx: dist.DistContext = dist.SINGLE
    ):
        self.t_start = time.perf_counter()
        self.cfg, self.run_dir, self.dist = cfg, run_dir, ctx
        self.device = resolve_device(cfg.device)
        self.spec = ModelSpec.from_config(cfg)
        engine_cls = select_engine(cfg, self.device)
        self.batch_size = cfg.batch_size or engine_cls.batch_size(self.spec)
        self._load_data(resume_state, init)
        self.bags = make_bags(cfg, self.vocab.words)  # character n-grams (subwords.enabled), else None
        self.model = Word2VecModel(
            self.spec, self.vocab.counts, cfg.dim, sparse=True, generator=torch.Generator().manual_seed(cfg.seed), bags=self.bags
        )
        if resume_state is not None:
            _restore_model(self.model, self.spec, resume_state)
        elif init is not None:
            init_model(self.model, self.vocab, init)
        self.model.to(self.device)
        self.engine = engine_cls(self.model, cfg, self.device, cfg.threads or dist.default_threads(ctx))
        if resume_state is not None:
            _restore_optimizer(self.engine, resume_state, cfg.optim, run_dir)
        self.loader, self.stream = self._make_loader(engine_cls.shuffle)
        self.engine.attach(self.stream)
        self.heldout = HeldOutLoss(self.stream, self.model, self.device)
        # Held-out blocks are never trained on, so the schedule and progress count the others only.
        self.train_words = self.vocab.total - self.heldout.words
        self.total_words = cfg.epochs * self.train_words
        tables = self.model.tables()
        # dist.merge=auto: deltas for 2 ranks and 1-block rounds, else average (sync_schedule.merge_for).
        self.blocks_per_round = blocks_per_round(cfg.dist.sync_blocks, self.stream.cfg.token_chunks)
        self.merge = merge_for(cfg.dist.merge, ctx.world, self.blocks_per_round)
        self.averager = dist.TableAverager(ctx, tables[:2], hot_last=tables[2:3], merge=self.merge)  # hs inner nodes: the root is last
        self.sync_bytes = self.sync_rounds = 0
        self.tb = MetricLogger(run_dir / "tb") if ctx.is_main else NullMetricLogger()
        # The epoch's loss (and, for token-chunk engines, its example count) is summed on the device
        # (no sync per step) and folded into progress at logging, checkpoint and epoch boundaries.
        self.loss_acc = torch.zeros(2, dtype=torch.float64, device=self.device)
        # A CPU span chunk is seconds of training: log each one (log_every counts example batches).
        self.log_every = 1 if engine_cls.reads_spans else cfg.log_every
        # A chunk engine's step is a chunk of whole blocks (at least 16 a thread for hogwild), not chunk_tokens.
        step_size = self.stream.cfg.token_chunks * cfg.block_tokens if self.engine.consumes_tokens else self.batch_size
        log.info(
            "training %s for %d epochs on %s: %d words/epoch, vocab %d, dim %d, window %d, negatives %d, batch %d, optim %s, engine %s",
            self.spec.name, cfg.epochs, self.device, self.train_words, len(self.vocab), cfg.dim, cfg.window, cfg.negatives,
            step_size, cfg.optim, self.engine.name,
        )  # fmt: skip
        if ctx.enabled:
            log.info("rank %d of %d (local rank %d of %d), backend %s, %d threads: merging (%s) every %d block(s) per rank%s",
                     ctx.rank, ctx.world, ctx.local_rank, ctx.local_world, torch.distributed.get_backend(),
                     cfg.threads or dist.default_threads(ctx), self.merge, self.blocks_per_round,
                     f", the {cfg.dist.hot_rows} hottest rows x the ruler sequence (all rows at epoch ends"
                     + (f" and every {cfg.dist.full_every} rounds)" if cfg.dist.full_every else ")")
                     if cfg.dist.hot_rows else "")  # fmt: skip
        if cfg.heldout:
            log.info(
                "held out %d of %d blocks (%d words, heldout=%g): val/loss scores %d examples without updates",
                len(self.stream.heldout_blocks), self.stream.n_blocks, self.heldout.words, cfg.heldout, self.heldout.examples,
            )  # fmt: skip

    def _load_data(self, resume_state: dict[str, Any] | None, init: InitRun | None = None) -> None:
        """Count and encode the corpus, or take vocab, id mapping and position from a checkpoint."""
        if resume_state is None:  # under torchrun each rank encodes its shard; the corpus is all shards
            data = prepare_corpus(self.cfg, self.run_dir, init.vocab if init else None, collectives_for(self.dist))
            self.id_files, self.vocab = data.id_files, data.vocab
            self.remap, self.progress = self.vocab.remap, Progress()
            self.data_metrics = {"vocab_seconds": data.seconds, "corpus_tokens": data.n_tokens}
            return
        vs = resume_state["vocab"]
        corpus_counts = vs["corpus_counts"].numpy() if "corpus_counts" in vs else None  # runs started with init=
        self.vocab = Vocab(list(vs["words"]), vs["counts"].numpy(), corpus_counts=corpus_counts)
        self.remap = resume_state["remap"].numpy()
        self.progress = Progress.from_state(resume_state["progress"])
        saved = resume_state["metrics"]
        self.data_metrics = {"vocab_seconds": saved.get("vocab_seconds", 0.0), "corpus_tokens": saved.get("corpus_tokens", 0)}
        self.id_files = resume_id_files(resume_state, self.run_dir, n_remap=len(self.remap))
        log.info("resuming %s at epoch %d, %d words done, from %s", self.run_dir, self.progress.epoch + 1, self.progress.words_done,
                 _position(self.progress.start))  # fmt: skip

    def _make_loader(self, engine_shuffles: bool) -> tuple[DataLoader, Word2VecStream]:
        cfg = self.cfg
        # The stream makes examples where they are used: on the GPU itself unless workers are asked for.
        stream_device = self.device if cfg.workers == 0 else torch.device("cpu")
        shuffle = cfg.shuffle_pairs if cfg.shuffle_pairs is not None else engine_shuffles
        # An engine that makes its own examples on the GPU takes chunks of vocabulary ids, read on the CPU.
        token_chunks = max(1, cfg.chunk_tokens // cfg.block_tokens) if self.engine.consumes_tokens else 0
        if self.engine.reads_spans:  # at least 16 blocks a thread, so the threads finish a chunk close together
            token_chunks = max(token_chunks, 16 * self.engine.threads)
        if token_chunks:
            stream_device = torch.device("cpu")
        pair_cfg = StreamConfig(
            cfg.window, cfg.negatives, self.batch_size, cfg.block_tokens, cfg.shrink_windows, shuffle,
            cfg.seed, cbow=not self.spec.sg,
            token_chunks=token_chunks,
            heldout=cfg.heldout,
            spans=self.engine.reads_spans,
        )  # fmt: skip
        stream = Word2VecStream(
            self.id_files, self.remap, self.vocab.keep_probs(cfg.sample), self.vocab.noise_weights(cfg.ns_exponent),
            pair_cfg, stream_device, bags=self.bags,
        )  # fmt: skip
        loader = DataLoader(
            stream, batch_size=None, num_workers=cfg.workers, pin_memory=self.device.type == "cuda" and cfg.workers > 0,
            worker_init_fn=_ignore_sigint if cfg.workers else None,
        )  # fmt: skip
        return loader, stream

    def fit(self) -> None:
        """Train the remaining epochs; on Ctrl-C/SIGTERM save a checkpoint and raise KeyboardInterrupt."""
        cfg, progress = self.cfg, self.progress
        self.words_this_run, self.t_train = 0, time.perf_counter()
        self.last_ckpt = (time.monotonic(), progress.words_done)
        self.bar = tqdm(total=self.total_words, initial=progress.words_done, unit="w", unit_scale=True, dynamic_ncols=True,
                        disable=None if self.dist.is_main else True, desc="train")  # fmt: skip
        self.progress_log = ProgressLog(cfg.progress_every, enabled=bool(self.bar.disable))  # no bar: log lines instead
        with _Interrupt() as interrupt:
            while progress.epoch < cfg.epochs:
                if self.dist.enabled:
                    dist.run_epoch(self, interrupt)
                else:
                    self._run_epoch(interrupt)
                if interrupt.hit:
                    self._save()
                    self.bar.close()
                    self.tb.close()
                    if self.dist.enabled:  # any world size resumes it, or one process (dist.round_blocks)
                        log.warning("interrupted: all ranks stopped after the same round; rank 0 saved the averaged tables at epoch %d, "
                                    "%d words done; resume with: torchrun --nproc_per_node=N train.py resume=%s (any N), "
                                    "or python train.py resume=%s", progress.epoch + 1, progress.words_done,
                                    self.run_dir, self.run_dir)  # fmt: skip
                    else:
                        log.warning("interrupted: checkpoint saved at epoch %d, %d words done; resume with: python train.py resume=%s",
                                    progress.epoch + 1, progress.words_done, self.run_dir)  # fmt: skip
                    raise KeyboardInterrupt
                self._end_epoch()
        self.bar.close()

    def _run_epoch(self, interrupt: _Interrupt) -> None:
        progress = self.progress
        self.stream.set_epoch(progress.epoch, progress.start)
        # An engine that releases the GIL while it updates trains one batch while a thread builds the
        # next; with DataLoader workers the batches are already made in other processes.
        overlap = self.engine.overlaps_stream and self.cfg.workers == 0
        with Prefetcher(self.loader) if overlap else contextlib.nullcontext(self.loader) as batches:
            for step, batch in enumerate(batches, 1):
                lr = lr_at(self.cfg, progress.words_done, self.total_words)
                self._apply(batch, lr)
                if step % self.log_every == 0:
                    self._log_step(lr)
                if interrupt.hit:
                    break
                if _checkpoint_due(self.cfg, *self.last_ckpt, progress.words_done):
                    self._save()
                    self.last_ckpt = (time.monotonic(), progress.words_done)
        self._fold_loss()

    def _step(self, batch: dict, lr: float, lr_end: float) -> int:
        """One engine update on a batch of examples or a token chunk (whose rate decays to ``lr_end`` inside it).

        Returns the examples counted on the host: a chunk's are counted on the device, into ``loss_acc[1]``.
        """
        if self.engine.consumes_tokens:
            batch["lr_end"] = lr_end
            self.loss_acc += self.engine.step(self.engine.to_device(batch), lr)
            return 0
        n = len(batch["targets"])
        if n:
            self.loss_acc[0] += self.engine.step(self.engine.to_device(batch), lr)
        return n

    def _apply(self, batch: dict, lr: float) -> None:
        """One update on one batch, then advance the stream position and the word count."""
        progress = self.progress
        n = self._step(batch, lr, lr_at(self.cfg, progress.words_done + batch["words"], self.total_words))
        progress.epoch_pairs += n
        progress.pairs_total += n
        progress.words_done += batch["words"]
        self.words_this_run += batch["words"]
        # The next batch of this worker is where a resume would start.
        progress.start[batch.get("worker", 0)] = (batch["block"] + 1, 0) if batch["last"] else (batch["block"], batch["batch"] + 1)
        self.bar.update(batch["words"])

    def _end_epoch(self) -> None:
        cfg, progress = self.cfg, self.progress
        _check_finite(progress.epoch_loss, self.run_dir)
        avg = progress.epoch_loss / max(1, progress.epoch_pairs)
        progress.epoch_losses.append(avg)
        # Under torchrun the replicas train at the schedule times dist.lr_scale's factor (1 for one process).
        scale = lr_factor(cfg.dist.lr_scale, self.dist.world, self.merge) if self.dist.enabled else 1.0
        log.info("epoch %d/%d: average loss %.6f over %d examples, lr %.6f", progress.epoch + 1, cfg.epochs, avg, progress.epoch_pairs,
                 scale * lr_at(cfg, progress.words_done, self.total_words))  # fmt: skip
        self.tb.scalar("train/epoch_loss", avg, progress.epoch + 1)
        if self.heldout and self.dist.is_main:
            val = self.heldout.loss()
            progress.val_losses.append(val)
            log.info("epoch %d/%d: held-out loss %.6f over %d examples", progress.epoch + 1, cfg.epochs, val, self.heldout.examples)
            self.tb.scalar("val/loss", val, progress.words_done)
            self.tb.scalar("val/epoch_loss", val, progress.epoch + 1)
        log.info("memory after epoch %d: rss %.0f MB, peak %.0f MB", progress.epoch + 1, *rss_mb())
        if cfg.eval.every_epoch and progress.epoch + 1 < cfg.epochs and self.dist.is_main:
            _evaluate(
                cfg,
                self.run_dir,
                self.vocab,
                self.vectors(),
                self.tb,
                progress.epoch + 1,
                final=False,
                out_vectors=self.out_vectors(),
                oov=composer(self.model),
            )
        progress.epoch += 1
        progress.start, progress.epoch_loss, progress.epoch_pairs = {}, 0.0, 0
        if progress.epoch < cfg.epochs:
            self._save()

    def vectors(self) -> np.ndarray:
        """The vectors to export, as a float32 CPU array."""
        return self.model.vectors(self.cfg.export).float().cpu().numpy()

    def out_vectors(self) -> np.ndarray | None:
        """Negative sampling's output vectors (float32 CPU), or None when the model has none."""
        out = self.model.out_embed.weight.detach()
        return out.float().cpu().numpy() if len(out) else None

    def finish(self) -> dict[str, Any]:
        """Export vectors, write the final checkpoint, evaluate, and write metrics.json last."""
        cfg, progress, run_dir = self.cfg, self.progress, self.run_dir
        progress.done = True
        elapsed = time.perf_counter() - self.t_train
        progress.train_seconds += elapsed
        if not self.dist.is_main:  # rank 0 writes the run directory
            return self._finish_other_rank(elapsed)
        vectors = self.vectors()
        write_exports(run_dir, cfg, self.vocab, vectors, self.model)  # export_formats: word2vec files and the others
        if self.bags is not None:
            log.info("full fastText model (gensim's load_facebook_model) in %s", save_full_model(run_dir, cfg, self.vocab, self.model))
        n_projector = cfg.eval.get("projector_words", EvalConfig.projector_words)  # configs saved before the key lack it
        write_projector(run_dir / "tb", self.vocab.words, self.vocab.counts, vectors, n_projector, cfg.epochs)
        metrics = {
            "epoch_loss": progress.epoch_losses,
            "final_loss": progress.epoch_losses[-1] if progress.epoch_losses else None,
            "words_per_sec": self.words_this_run / max(1e-9, elapsed),  # this process only: not inflated by a resume
            "pairs_per_sec": progress.pairs_total / max(1e-9, progress.train_seconds),
            "vocab_size": len(self.vocab),
            **describe_tokenizer(cfg.corpus, run_dir),  # what made the words
            **self.data_metrics,
            "train_words": self.train_words,
            "val_loss": progress.val_losses,  # held-out loss after each epoch (heldout=0: empty)
            "final_val_loss": progress.val_losses[-1] if progress.val_losses else None,
            "heldout_words": self.heldout.words,
            "heldout_seconds": self.heldout.seconds,  # this process's time scoring held-out blocks (within train_seconds)
            "words_done": progress.words_done,
            "peak_rss_mb": rss_mb()[1],
            "epochs": cfg.epochs,
            "train_seconds": progress.train_seconds,
            "total_seconds": time.perf_counter() - self.t_start,
            "device": str(self.device),
            "engine": self.engine.name,
            "grid": getattr(self.engine, "grid", None),  # the Triton engine's programs in flight
            "model": self.spec.name,
            **{k: getattr(self.spec, k) for k in ("sg", "cbow_mean", "hs")},
            **self._dist_metrics(),
        }
        self._save(metrics, elapsed_counted=True)
        metrics.update(
            _evaluate(cfg, run_dir, self.vocab, vectors, self.tb, cfg.epochs, out_vectors=self.out_vectors(), oov=composer(self.model))
        )
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        self.tb.hparams(_flat(cfg), {f"hparam/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        self.tb.close()
        if not cfg.keep_ids_cache:  # every rank's shard under torchrun: rank 0 finishes after the last collective
            remove_id_files(run_dir, self.id_files)  # only the id files a run writes, in its own directory
        log.info("done in %.1fs: %.0f words/s; vectors in %s", metrics["total_seconds"], metrics["words_per_sec"], run_dir)
        return metrics

    def _dist_metrics(self) -> dict[str, Any]:
        """torchrun runs: world size and what the averaging sent (absent for a single process)."""
        if not self.dist.enabled:
            return {}
        return {"world_size": self.dist.world, "sync_merge": self.merge, "sync_rounds": self.sync_rounds, "sync_bytes": self.sync_bytes}

    def _finish_other_rank(self, elapsed: float) -> dict[str, Any]:
        """A rank other than 0 writes nothing into the run directory but its log (rank 0 removes the shards)."""
        log.info("rank %d done: %.0f global words/s", self.dist.rank, self.words_this_run / max(1e-9, elapsed))
        return {"words_done": self.progress.words_done, "words_per_sec": self.words_this_run / max(1e-9, elapsed), **self._dist_metrics()}

    def _fold_loss(self) -> None:
        """Move the device-side loss sum (and example count) into the progress record (one sync)."""
        loss, examples = self.loss_acc.tolist()
        self.progress.epoch_loss += loss
        self.progress.epoch_pairs += int(examples)
        self.progress.pairs_total += int(examples)
        self.loss_acc.zero_()

    def _log_step(self, lr: float) -> None:
        progress = self.progress
        self._fold_loss()
        loss = progress.epoch_loss / max(1, progress.epoch_pairs)
        _check_finite(loss, self.run_dir)
        wps = self.words_this_run / max(1e-9, time.perf_counter() - self.t_train)
        self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.5f}", wps=f"{wps / 1e3:.0f}k", refresh=False)
        self.tb.scalars({"train/loss": loss, "train/lr": lr, "train/words_per_sec": wps}, progress.words_done)
        if self.heldout and self.heldout.due(time.perf_counter() - self.t_train):
            self.tb.scalar("val/loss", self.heldout.loss(), progress.words_done)
        self.progress_log.offer(progress.epoch + 1, self.cfg.epochs, progress.words_done, self.total_words, wps, loss, lr)

    def _save(self, metrics: dict[str, Any] | None = None, elapsed_counted: bool = False) -> None:
        """Write checkpoint.pt: tables, optimizer, vocab, id mapping, config, position, metrics (rank 0 only)."""
        if not self.dist.is_main:
            return
        self._fold_loss()
        progress = self.progress
        _check_finite(progress.epoch_loss, self.run_dir)  # never overwrite a good checkpoint with a diverged one
        snapshot = Progress(**progress.__dict__)
        if not elapsed_counted:
            snapshot.train_seconds += time.perf_counter() - self.t_train
        save_checkpoint(self.run_dir / "checkpoint.pt", {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "model_spec": self.spec.to_dict(),
            "optimizer": self.engine.state_dict(),
            "vocab": {"words": self.vocab.words, "counts": torch.from_numpy(self.vocab.counts),
                      **({} if self.vocab.corpus_counts is None else {"corpus_counts": torch.from_numpy(self.vocab.corpus_counts)})},
            "remap": torch.from_numpy(np.asarray(self.remap, dtype=np.int32)),
            # The corpus the position refers to: these files' concatenation (one file, or torchrun's shards).
            "id_files": [p.name for p in self.id_files], "id_sizes": list(self.stream.ids.sizes),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "progress": snapshot.state(),
            "metrics": metrics or self.data_metrics,
            **({"dist_world_size": self.dist.world} if self.dist.enabled else {}),
        })  # fmt: skip


def _evaluate(
    cfg: Any,
    run_dir: Path,
    vocab: Vocab,
    vectors: np.ndarray,
    tb: MetricLogger,
    step: int,
    final: bool = True,
    out_vectors: np.ndarray | None = None,
    oov: Any = None,
) -> dict[str, Any]:
    """Evaluation hook: the corpus kind's own evaluator when it names one (songs: next-song metrics,
    which also use the output vectors), word benchmarks otherwise.

    ``final`` is False for the per-epoch evaluations (``eval.every_epoch=true``), which only log.
    ``oov`` composes vectors for unseen words (character n-grams), scored beside the OOV-skipped numbers.
    """
    if not cfg.eval.enabled:
        return {}
    if cfg.corpus.evaluator:  # a corpus kind that brings its own evaluation (songs: next-song hit rate)
        from w2v.plugins import evaluator  # a registered name, never a dotted path to import

        return evaluator(cfg.corpus.evaluator)(run_dir, vocab.words, vectors, cfg, tb, step, final=final, out_vectors=out_vectors)
    from w2v.evaluation.run import evaluate_run

    return evaluate_run(run_dir, vocab.words, vectors, cfg.eval, tb, step, final=final, oov=oov)


def _check_finite(loss_sum: float, run_dir: Path) -> None:
    if not math.isfinite(loss_sum):
        raise W2VError(f"the loss became {loss_sum} (training diverged): lower lr; the last good checkpoint in {run_dir} is kept")


def _checkpoint_due(cfg: Any, last_time: float, last_words: int, words_done: int) -> bool:
    if cfg.checkpoint_every_words and words_done - last_words >= cfg.checkpoint_every_words:
        return True
    return bool(cfg.checkpoint_every_minutes) and time.monotonic() - last_time >= 60 * cfg.checkpoint_every_minutes


def _position(start: dict[int, tuple[int, int]]) -> str:
    """A stream position for the log: ``block 12, batch 3`` (one worker or torchrun) or per worker."""
    if not start:
        return "the epoch's start"
    return ", ".join(f"{'' if len(start) == 1 else f'worker {w}: '}block {b}, batch {k}" for w, (b, k) in sorted(start.items()))


def _restore_model(model: Word2VecModel, spec: ModelSpec, state: dict[str, Any]) -> None:
    saved_spec = ModelSpec(**state.get("model_spec", ModelSpec(negatives=spec.negatives).to_dict()))
    if saved_spec != spec:
        raise W2VError(f"the checkpoint holds a {saved_spec.name} model but the run asks for {spec.name}: resume with its own settings")
    weights = state["model"]
    for key, table in model.state_dict().items():  # the input table first: its message names the usual cause
        if key not in weights:
            raise W2VError(f"the checkpoint has no model.{key}, which a {spec.name} model needs: it is damaged; start a new run")
        want, got = tuple(table.shape), tuple(weights[key].shape)
        if got != want:
            raise W2VError(
                f"checkpoint tables are {got[0]}x{got[1]} but the run needs {want[0]}x{want[1]} (model.{key}): "
                "it belongs to a different vocabulary or dim"
            )
    model.load_state_dict(weights)


def _restore_optimizer(engine: Any, state: dict[str, Any], optim: str, run_dir: Path) -> None:
    """The engine's optimizer state from the checkpoint, or one line when it does not fit this optimizer."""
    try:
        engine.load_state_dict(state.get("optimizer") or {})
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise W2VError(
            f"the checkpoint in {run_dir} holds optimizer state that does not fit optim={optim} ({first}): it is damaged; start a new run"
        ) from None
