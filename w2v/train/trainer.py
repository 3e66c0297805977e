"""Training: corpus -> vocab -> example stream -> engine updates -> exported vectors and metrics.

``train(cfg, run_dir)`` is the whole recipe and returns the final metrics; ``train.py`` only wraps
it in ``@hydra.main``. :class:`Trainer` is one run: one epoch loop for a single process and for
torchrun alike, which differ only in the :mod:`~w2v.train.strategy` it calls at round ends.
Progress is in words (:mod:`w2v.train.progress`); resuming is :mod:`w2v.train.resume` and
:mod:`w2v.train.restore`; the process's device, signals and log file are :mod:`w2v.train.runtime`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from w2v.atomic import atomic_write_text
from w2v.config import EvalConfig, validate
from w2v.data.batches import StreamItem
from w2v.data.prepare import prepare_corpus
from w2v.data.stream import StreamConfig, Word2VecStream
from w2v.data.tokenizers import describe as describe_tokenizer
from w2v.engines import Engine, select_engine
from w2v.evaluation.run import check_eval_config
from w2v.exports import write_exports
from w2v.metrics import MetricLogger, NullMetricLogger, flat_config
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.projector import write_projector
from w2v.train import dist
from w2v.train.callbacks import Callback
from w2v.train.checkpoint import save_checkpoint
from w2v.train.collectives import collectives_for
from w2v.train.eval_hook import evaluate_vectors
from w2v.train.heldout import HeldOutLoss
from w2v.train.progress import CheckpointClock, Progress, Tally, check_finite, lr_at
from w2v.train.progress_log import ProgressLog
from w2v.train.restore import restore_data, restore_model, restore_optimizer
from w2v.train.resume import explicit_keys, load_resume, remove_id_files
from w2v.train.rounds import RoundEnd
from w2v.train.runtime import Interrupt, disk_errors, file_log, ignore_sigint, make_run_dir, resolve_device, rss_mb
from w2v.train.strategy import Strategy, make_strategy
from w2v.train.subwords import composer, make_bags, save_full_model
from w2v.train.warm_start import InitRun, init_config, init_model, load_init_run

log = logging.getLogger(__name__)


def train(
    cfg: DictConfig, run_dir: str | os.PathLike | None = None, explicit: Iterable[str] | None = None, callbacks: Iterable[Callback] = ()
) -> dict[str, Any]:
    """Train one model as configured, write everything into ``run_dir`` and return the metrics.

    ``explicit`` names the config keys the user gave (dotted, ``threads`` or ``eval.every_epoch``):
    on ``resume=`` those among :data:`~w2v.train.resume.RESUME_MAY_CHANGE` replace the checkpoint's
    values. None = the command line's overrides when Hydra runs, else none (programmatic callers say
    which). ``callbacks`` are called at the run's hooks (:class:`~w2v.train.callbacks.Callback`).
    """
    validate(cfg)
    explicit = list(explicit_keys() if explicit is None else explicit)
    init, resume_state = None, None
    if cfg.init:  # a new run from a finished one: its model keys, vocabulary and vectors
        init = load_init_run(cfg.init)
        cfg = init_config(cfg, init, set(explicit))
    if cfg.resume:  # the checkpoint's config, with the keys a resume may change taken from this one
        cfg, resume_state, run_dir = load_resume(cfg, explicit)
    # The device, the engine and the eval settings the run trains with, checked before the run directory exists.
    device = resolve_device(cfg.device)
    engine_cls = select_engine(cfg, device)
    if cfg.eval.enabled and not cfg.corpus.evaluator:
        check_eval_config(cfg.eval)  # a bad eval.* value fails now, not after hours of training
    ctx = dist.setup(cfg, device)  # torchrun: join the process group; else one process
    try:
        if resume_state is not None:
            dist.check_resumable(resume_state, Path(run_dir), ctx)
        dist.check_supported(cfg, ctx)
        run_dir = dist.shared_run_dir(ctx, Path(run_dir or os.getcwd()))
        make_run_dir(run_dir, ctx.rank if ctx.enabled else None)
        with file_log(run_dir / ("train.log" if ctx.is_main else f"train.rank{ctx.rank}.log")), disk_errors(run_dir):
            dist.quiet_console(ctx)
            trainer = Trainer(cfg, run_dir, device, engine_cls, ctx, resume_state, init, callbacks)
            trainer.fit()
            return trainer.finish()
    finally:
        dist.shutdown(ctx)


class Trainer:
    """One training run: the model, its engine, the example stream, the schedule, logging and checkpoints.

    :func:`train` makes one (``device`` and ``engine_cls`` resolved from ``cfg``), calls :meth:`fit`, then :meth:`finish`.
    """

    def __init__(
        self,
        cfg: Any,
        run_dir: Path,
        device: torch.device,
        engine_cls: type[Engine],
        ctx: dist.DistContext = dist.SINGLE,
        resume_state: dict[str, Any] | None = None,
        init: InitRun | None = None,
        callbacks: Iterable[Callback] = (),
    ):
        self.t_start = time.perf_counter()
        self.cfg, self.run_dir, self.dist, self.device = cfg, run_dir, ctx, device
        self.callbacks = list(callbacks)
        self.spec = ModelSpec.from_config(cfg)
        self.batch_size = cfg.batch_size or engine_cls.batch_size(self.spec)
        self._load_data(resume_state, init)
        self.bags = make_bags(cfg, self.vocab.words)  # character n-grams (subwords.enabled), else None
        self.model = Word2VecModel(
            self.spec, self.vocab.counts, cfg.dim, sparse=True, generator=torch.Generator().manual_seed(cfg.seed), bags=self.bags
        )
        if resume_state is not None:
            restore_model(self.model, self.spec, resume_state)
        elif init is not None:
            init_model(self.model, self.vocab, init)
        self.model.to(device)
        self.engine = engine_cls(self.model, cfg, device, cfg.threads or dist.default_threads(ctx))
        if resume_state is not None:
            restore_optimizer(self.engine, resume_state, cfg.optim, run_dir)
        self.loader, self.stream = self._make_loader()
        self.engine.attach(self.stream)
        self.heldout = HeldOutLoss(self.stream, self.model, device)
        # Held-out blocks are never trained on, so the schedule and progress count the others only.
        self.train_words = self.vocab.total - self.heldout.words
        self.total_words = cfg.epochs * self.train_words
        self.strategy: Strategy = make_strategy(ctx, cfg, self.engine, self.stream)  # torchrun: may all-reduce the tables once
        self.rounds_per_log = self.strategy.rounds_per_log(cfg, self.engine)
        self.tb = MetricLogger(run_dir / "tb") if ctx.is_main else NullMetricLogger()
        self.tally = Tally(device)
        self.lr = cfg.lr  # the rate of the last step, for the log
        # A chunk engine's step is a chunk of whole blocks (at least 16 a thread for hogwild), not chunk_tokens.
        step_size = self.stream.cfg.token_chunks * cfg.block_tokens if self.stream.cfg.token_chunks else self.batch_size
        log.info(
            "training %s for %d epochs on %s: %d words/epoch, vocab %d, dim %d, window %d, negatives %d, batch %d, optim %s, engine %s",
            self.spec.name, cfg.epochs, self.device, self.train_words, len(self.vocab), cfg.dim, cfg.window, cfg.negatives,
            step_size, cfg.optim, self.engine.name,
        )  # fmt: skip
        chosen = self.engine.resolved()
        if chosen:
            log.info("engine %s trains with %s", self.engine.name, ", ".join(f"{k}={str(v).lower()}" for k, v in chosen.items()))
        self.strategy.log_start()
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
        restored = restore_data(resume_state, self.run_dir)
        self.vocab, self.remap, self.progress = restored.vocab, restored.remap, restored.progress
        self.data_metrics, self.id_files = restored.data_metrics, restored.id_files

    def _make_loader(self) -> tuple[DataLoader, Word2VecStream]:
        cfg = self.cfg
        # An engine that makes its own examples takes chunks of whole blocks, read on the CPU.
        token_chunks = self.engine.chunk_blocks()
        # The stream makes examples where they are used: on the GPU itself unless workers are asked for.
        stream_device = self.device if cfg.workers == 0 and not token_chunks else torch.device("cpu")
        shuffle = cfg.shuffle_pairs if cfg.shuffle_pairs is not None else self.engine.shuffle
        stream_cfg = StreamConfig(
            cfg.window, cfg.negatives, self.batch_size, cfg.block_tokens, cfg.shrink_windows, shuffle,
            cfg.seed, cbow=not self.spec.sg, token_chunks=token_chunks, heldout=cfg.heldout, spans=self.engine.reads_spans,
        )  # fmt: skip
        stream = Word2VecStream(
            self.id_files, self.remap, self.vocab.keep_probs(cfg.sample), self.vocab.noise_weights(cfg.ns_exponent),
            stream_cfg, stream_device, bags=self.bags,
        )  # fmt: skip
        loader = DataLoader(
            stream, batch_size=None, num_workers=cfg.workers, pin_memory=self.device.type == "cuda" and cfg.workers > 0,
            worker_init_fn=ignore_sigint if cfg.workers else None,
        )  # fmt: skip
        return loader, stream

    def fit(self) -> None:
        """Train the remaining epochs; on Ctrl-C/SIGTERM save a checkpoint and raise KeyboardInterrupt."""
        cfg, progress = self.cfg, self.progress
        self.words_at_start, self.t_train = progress.words_done, time.perf_counter()
        self.clock = CheckpointClock(cfg, progress.words_done)
        self.bar = tqdm(total=self.total_words, initial=progress.words_done, unit="w", unit_scale=True, dynamic_ncols=True,
                        disable=None if self.strategy.is_main else True, desc="train")  # fmt: skip
        self.progress_log = ProgressLog(cfg.progress_every, enabled=bool(self.bar.disable))  # no bar: log lines instead
        self._call("on_fit_start")
        with Interrupt() as interrupt:
            while progress.epoch < cfg.epochs:
                self._run_epoch(interrupt)
                if interrupt.hit:
                    self._save()
                    self.bar.close()
                    self.tb.close()
                    log.warning("%s", self.strategy.interrupted(progress, self.run_dir))
                    raise KeyboardInterrupt
                self._end_epoch()
        self.bar.close()

    def _run_epoch(self, interrupt: Interrupt) -> None:
        """Train the epoch's items; at each round's end count the round, then log, checkpoint or stop as due."""
        overlap = self.engine.overlaps_stream and self.cfg.workers == 0  # with workers the items are made elsewhere already
        self.lr, rounds = self.strategy.lr_scale * self.cfg.lr, 0
        with self.strategy.epoch(self.stream, self.loader, self.progress, overlap) as items:
            for item in items:
                if not isinstance(item, RoundEnd):
                    self._train(item)
                elif self._end_round(item, rounds := rounds + 1, interrupt):
                    break
        self.strategy.end_epoch(self.progress.epoch)
        self._fold_loss()

    def _train(self, item: StreamItem) -> None:
        """One engine update, at the schedule's rate from the item's first word to its last."""
        # Every replica trains its round at once: the words of earlier rounds are exact, this round's estimated.
        done, world, scale = self.progress.words_done + self.strategy.world * self.tally.words, self.strategy.world, self.strategy.lr_scale
        self.lr = scale * lr_at(self.cfg, done, self.total_words)
        lr_end = scale * lr_at(self.cfg, done + world * item.words, self.total_words)  # a chunk's rate decays inside it
        self.tally.add(item.words, self.engine.step(self.engine.to_device(item), self.lr, lr_end) if len(item) else None)

    def _end_round(self, end: RoundEnd, rounds: int, interrupt: Interrupt) -> bool:
        """Count a finished round into the progress (all processes' counts); True when the epoch stops here."""
        progress, strategy = self.progress, self.strategy
        # Rank 0's checkpoint clock, asked with the words a strategy knows before it reduces (one process: this round's).
        totals = strategy.reduce(self.tally, interrupt.hit, lambda words: strategy.is_main and self.clock.due(progress.words_done + words))
        scalars = strategy.end_round(totals)  # torchrun: merge the tables
        progress.add(totals.words, totals.loss, totals.examples)
        progress.advance(end.start)  # the items before it are trained: where a resume starts
        if strategy.is_main:
            self.bar.update(totals.words)
            self.tb.scalars(scalars, progress.words_done)
            if rounds % self.rounds_per_log == 0:
                self._log_step()
        if totals.stop:
            interrupt.hit = True
            return True
        if totals.save:
            self._save()
            self.clock.reset(progress.words_done)
        return False

    def _end_epoch(self) -> None:
        cfg, progress = self.cfg, self.progress
        check_finite(progress.epoch_loss, self.run_dir)
        avg = progress.close_epoch()
        log.info("epoch %d/%d: average loss %.6f over %d examples, lr %.6f", progress.epoch + 1, cfg.epochs, avg, progress.epoch_pairs,
                 self.strategy.lr_scale * lr_at(cfg, progress.words_done, self.total_words))  # fmt: skip
        self.tb.scalar("train/epoch_loss", avg, progress.epoch + 1)
        if self.heldout and self.strategy.is_main:
            val = self.heldout.loss()
            progress.val_losses.append(val)
            log.info("epoch %d/%d: held-out loss %.6f over %d examples", progress.epoch + 1, cfg.epochs, val, self.heldout.examples)
            self.tb.scalar("val/loss", val, progress.words_done)
            self.tb.scalar("val/epoch_loss", val, progress.epoch + 1)
        log.info("memory after epoch %d: rss %.0f MB, peak %.0f MB", progress.epoch + 1, *rss_mb())
        if cfg.eval.every_epoch and progress.epoch + 1 < cfg.epochs and self.strategy.is_main:
            evaluate_vectors(cfg, self.run_dir, self.vocab, self.vectors(), self.tb, progress.epoch + 1, final=False,
                             out_vectors=self.out_vectors(), oov=composer(self.model))  # fmt: skip
        progress.next_epoch()
        if progress.epoch < cfg.epochs:
            self._save()
        self._call("on_epoch_end")

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
        if not self.strategy.is_main:  # rank 0 writes the run directory
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
            "words_per_sec": (progress.words_done - self.words_at_start) / max(1e-9, elapsed),  # this run only: not inflated by a resume
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
            **self.engine.resolved(),  # what it chose for settings left null (hogwild: the window levers)
            "grid": self.engine.grid,  # the Triton engine's programs in flight
            "model": self.spec.name,
            **{k: getattr(self.spec, k) for k in ("sg", "cbow_mean", "hs")},
            **self.strategy.metrics(),
        }
        self._save(metrics, elapsed_counted=True)
        oov = composer(self.model)
        metrics.update(evaluate_vectors(cfg, run_dir, self.vocab, vectors, self.tb, cfg.epochs, out_vectors=self.out_vectors(), oov=oov))
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        self.tb.hparams(flat_config(cfg), {f"hparam/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        self.tb.close()
        if not cfg.keep_ids_cache:  # every rank's shard under torchrun: rank 0 finishes after the last collective
            remove_id_files(run_dir, self.id_files)  # only the id files a run writes, in its own directory
        log.info("done in %.1fs: %.0f words/s; vectors in %s", metrics["total_seconds"], metrics["words_per_sec"], run_dir)
        return metrics

    def _finish_other_rank(self, elapsed: float) -> dict[str, Any]:
        """A rank other than 0 writes nothing into the run directory but its log (rank 0 removes the shards)."""
        wps = (self.progress.words_done - self.words_at_start) / max(1e-9, elapsed)
        log.info("rank %d done: %.0f global words/s", self.strategy.rank, wps)
        return {"words_done": self.progress.words_done, "words_per_sec": wps, **self.strategy.metrics()}

    def _fold_loss(self) -> None:
        """Move the device-side loss sum and example count into the progress record (one sync)."""
        loss, examples = self.tally.take_sums()
        self.progress.add(loss=loss, examples=examples)

    def _log_step(self) -> None:
        progress, lr = self.progress, self.lr
        self._fold_loss()
        loss = progress.mean_loss()
        check_finite(loss, self.run_dir)
        wps = (progress.words_done - self.words_at_start) / max(1e-9, time.perf_counter() - self.t_train)
        self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.5f}", wps=f"{wps / 1e3:.0f}k", refresh=False)
        scalars = {"train/loss": loss, "train/lr": lr, "train/words_per_sec": wps}
        self.tb.scalars(scalars, progress.words_done)
        self._call("on_log", scalars)
        if self.heldout and self.heldout.due(time.perf_counter() - self.t_train):
            self.tb.scalar("val/loss", self.heldout.loss(), progress.words_done)
        self.progress_log.offer(progress.epoch + 1, self.cfg.epochs, progress.words_done, self.total_words, wps, loss, lr)

    def _save(self, metrics: dict[str, Any] | None = None, elapsed_counted: bool = False) -> None:
        """Write checkpoint.pt: tables, optimizer, vocab, id mapping, config, position, metrics (rank 0 only)."""
        if not self.strategy.is_main:
            return
        self._fold_loss()
        progress = self.progress
        check_finite(progress.epoch_loss, self.run_dir)  # never overwrite a good checkpoint with a diverged one
        snapshot = progress.snapshot(0.0 if elapsed_counted else time.perf_counter() - self.t_train)
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
            **self.strategy.checkpoint_state(),
        })  # fmt: skip

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)
