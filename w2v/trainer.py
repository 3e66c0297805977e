"""Training: corpus -> vocab -> pair stream -> SGNS updates -> exported vectors and metrics.

``train(cfg, run_dir)`` is the whole recipe and returns the final metrics; ``train.py`` only wraps
it in ``@hydra.main``. Progress is in words (corpus tokens in the vocabulary, before subsampling),
like word2vec.c and gensim: the learning rate decays linearly with words processed over all epochs.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from w2v import cpu_kernel
from w2v.atomic import atomic_write_text
from w2v.checkpoint import load_checkpoint, save_checkpoint
from w2v.config import validate
from w2v.corpus import iter_sentences, undecodable_bytes
from w2v.errors import W2VError
from w2v.export import save_word2vec
from w2v.metrics import MetricLogger
from w2v.model import SkipGramModel, sgns_sgd_step
from w2v.pairs import PairConfig, SkipGramStream
from w2v.vocab import EncodedCorpus, Vocab, build_vocab, encode_corpus

log = logging.getLogger(__name__)

# Keys a resumed run may change; every other key comes from the checkpoint.
RESUME_MAY_CHANGE = (
    "resume",
    "device",
    "threads",
    "log_every",
    "eval",
    "checkpoint_every_minutes",
    "checkpoint_every_words",
    "keep_ids_cache",
)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise W2VError(f"device={name} but CUDA is not available here: use device=cpu or device=auto")
    return torch.device(name)


def choose_engine(cfg: Any, device: torch.device) -> str:
    """``numba`` (per-pair CPU kernel) or ``torch`` (batched tensor update, any device)."""
    if cfg.engine == "numba":
        if device.type != "cpu":
            raise W2VError(f"engine=numba runs on the CPU but device={device}: use engine=torch or device=cpu")
        if not cpu_kernel.available():
            raise W2VError("engine=numba needs numba: pip install numba, or use engine=torch")
        return "numba"
    if cfg.engine == "auto" and device.type == "cpu" and cfg.optim == "sgd" and cpu_kernel.available():
        return "numba"
    return "torch"


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
    epoch_pairs: int = 0
    epoch_losses: list[float] = field(default_factory=list)
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
        self.hit = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.hit:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _ignore_sigint(_: int) -> None:
    # Workers leave Ctrl-C to the main process, which checkpoints and stops them in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _setup_file_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
        logging.getLogger().setLevel(logging.INFO)
    return handler


def _prepare_data(cfg: Any, run_dir: Path) -> tuple[EncodedCorpus, Vocab]:
    ids_path = run_dir / "corpus.ids"
    before = undecodable_bytes()
    encoded = encode_corpus(iter_sentences(cfg.corpus), ids_path, cfg.corpus.max_tokens)
    bad = undecodable_bytes() - before
    if bad:
        log.warning("replaced %d undecodable bytes (invalid UTF-8) with U+FFFD", bad)
    try:
        vocab = build_vocab(encoded, cfg.min_count, cfg.max_vocab)
    except W2VError:
        ids_path.unlink(missing_ok=True)
        raise
    if len(vocab) < 2:
        ids_path.unlink(missing_ok=True)
        raise W2VError(f"the vocabulary has only {len(vocab)} word: skip-gram needs at least 2; lower min_count or raise max_vocab")
    vocab.save_tsv(run_dir / "vocab.tsv")
    return encoded, vocab


def _make_optimizer(cfg: Any, model: SkipGramModel) -> torch.optim.Optimizer | None:
    if cfg.optim == "sgd":
        return None  # the hand-written update needs no optimizer state
    if cfg.optim == "sparse_adam":
        return torch.optim.SparseAdam(list(model.parameters()), lr=cfg.lr)
    return torch.optim.Adagrad(list(model.parameters()), lr=cfg.lr)


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


def train(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train one model as configured, write everything into ``run_dir`` and return the metrics."""
    validate(cfg)
    resume_state = None
    if cfg.resume:
        resume_state = load_checkpoint(Path(cfg.resume))
        run_dir = Path(cfg.resume) if Path(cfg.resume).is_dir() else Path(cfg.resume).parent
        cfg = _resume_config(cfg, resume_state)
    run_dir = Path(run_dir or os.getcwd())
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".w2v-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise W2VError(f"cannot write to the run directory {run_dir}: {exc.strerror}; choose a writable hydra.run.dir") from None
    handler = _setup_file_log(run_dir)
    try:
        return _train(cfg, run_dir, resume_state)
    except OSError as exc:  # disk full, permissions, ...: atomic writes left every earlier file intact
        where = exc.filename or run_dir
        raise W2VError(
            f"cannot write {where}: {exc.strerror or exc}; free disk space or choose another hydra.run.dir "
            f"(finished files and the last checkpoint in {run_dir} are intact)"
        ) from None
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _resume_config(cfg: DictConfig, state: dict[str, Any]) -> DictConfig:
    saved = OmegaConf.create(state["config"])
    for key in RESUME_MAY_CHANGE:
        if key in cfg:
            OmegaConf.update(saved, key, cfg[key], merge=False)
    for key, value in _flat(cfg).items():
        old = OmegaConf.select(saved, key, default=None)
        if key.split(".")[0] not in RESUME_MAY_CHANGE and old != value:
            log.warning("resume: keeping the checkpoint's %s=%s (ignoring %s)", key, old, value)
    return saved


def _train(cfg: Any, run_dir: Path, resume_state: dict[str, Any] | None) -> dict[str, Any]:
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    engine = choose_engine(cfg, device)
    if engine == "numba":
        cpu_kernel.set_threads(threads)
    if engine == "numba":
        step_fn = cpu_kernel.sgns_sgd_step_cpu
    else:
        step_fn = functools.partial(sgns_sgd_step, max_row_updates=cfg.max_row_updates)
    shuffle = cfg.shuffle_pairs if cfg.shuffle_pairs is not None else engine == "torch"
    if resume_state is None:
        encoded, vocab = _prepare_data(cfg, run_dir)
        remap = vocab.remap
        progress = Progress()
        vocab_seconds = encoded.seconds
        n_tokens = encoded.n_tokens
    else:
        vs = resume_state["vocab"]
        vocab = Vocab(list(vs["words"]), vs["counts"].numpy())
        remap = resume_state["remap"].numpy()
        progress = Progress.from_state(resume_state["progress"])
        vocab_seconds = resume_state["metrics"].get("vocab_seconds", 0.0)
        n_tokens = resume_state["metrics"].get("corpus_tokens", 0)
        if not (run_dir / "corpus.ids").is_file():
            raise W2VError(f"{run_dir}/corpus.ids is missing, so the stream position cannot be restored; start a new run")
        log.info("resuming %s at epoch %d, %d words done", run_dir, progress.epoch + 1, progress.words_done)

    gen = torch.Generator().manual_seed(cfg.seed)
    model = SkipGramModel(len(vocab), cfg.dim, sparse=True, generator=gen).to(device)
    optimizer = _make_optimizer(cfg, model)
    if resume_state is not None:
        _restore_model(model, optimizer, resume_state, cfg)

    stream_device = device if cfg.workers == 0 else torch.device("cpu")
    stream = SkipGramStream(
        run_dir / "corpus.ids",
        remap,
        vocab.keep_probs(cfg.sample),
        vocab.noise_weights(cfg.ns_exponent),
        PairConfig(cfg.window, cfg.negatives, cfg.batch_size, cfg.block_tokens, cfg.shrink_windows, shuffle, cfg.seed),
        stream_device,
    )
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.workers,
        pin_memory=device.type == "cuda" and cfg.workers > 0,
        worker_init_fn=_ignore_sigint if cfg.workers else None,
        persistent_workers=False,
    )
    total_words = cfg.epochs * vocab.total
    tb = MetricLogger(run_dir / "tb")
    state = {
        "cfg": cfg,
        "model": model,
        "optimizer": optimizer,
        "vocab": vocab,
        "remap": remap,
        "progress": progress,
        "metrics": {"vocab_seconds": vocab_seconds, "corpus_tokens": n_tokens},
    }
    log.info(
        "training %d epochs on %s: %d words/epoch, vocab %d, dim %d, window %d, negatives %d, batch %d, optim %s, engine %s",
        cfg.epochs,
        device,
        vocab.total,
        len(vocab),
        cfg.dim,
        cfg.window,
        cfg.negatives,
        cfg.batch_size,
        cfg.optim,
        engine,
    )

    words_this_run, t_train = 0, time.perf_counter()
    last_ckpt_time, last_ckpt_words = time.monotonic(), progress.words_done
    bar = tqdm(total=total_words, initial=progress.words_done, unit="w", unit_scale=True, dynamic_ncols=True, disable=None, desc="train")
    in_w, out_w = model.in_embed.weight.data, model.out_embed.weight.data
    with _Interrupt() as interrupt:
        while progress.epoch < cfg.epochs:
            stream.set_epoch(progress.epoch, progress.start)
            loss_acc = torch.zeros((), dtype=torch.float64, device=device)
            step = 0
            for batch in loader:
                centers = batch["centers"].to(device, non_blocking=True)
                n = centers.shape[0]
                lr = lr_at(cfg, progress.words_done, total_words)
                if n:
                    contexts = batch["contexts"].to(device, non_blocking=True)
                    negatives = batch["negatives"].to(device, non_blocking=True)
                    if optimizer is None:
                        loss = step_fn(in_w, out_w, centers, contexts, negatives, lr)
                    else:
                        for group in optimizer.param_groups:
                            group["lr"] = lr
                        optimizer.zero_grad(set_to_none=True)
                        loss = model(centers, contexts, negatives)
                        loss.backward()
                        optimizer.step()
                        loss = loss.detach()
                    loss_acc += loss
                progress.epoch_pairs += n
                progress.pairs_total += n
                progress.words_done += batch["words"]
                words_this_run += batch["words"]
                # The next batch of this worker is where a resume would start.
                nxt = (batch["block"] + 1, 0) if batch["last"] else (batch["block"], batch["batch"] + 1)
                progress.start[batch.get("worker", 0)] = nxt
                bar.update(batch["words"])
                step += 1
                if step % cfg.log_every == 0:
                    _log_step(cfg, tb, bar, progress, loss_acc, lr, words_this_run, t_train, state, run_dir)
                if interrupt.hit:
                    break
                if _checkpoint_due(cfg, last_ckpt_time, last_ckpt_words, progress.words_done):
                    _fold_loss(progress, loss_acc)
                    _save(run_dir, state, progress, t_train, words_this_run)
                    last_ckpt_time, last_ckpt_words = time.monotonic(), progress.words_done
            _fold_loss(progress, loss_acc)
            if interrupt.hit:
                _save(run_dir, state, progress, t_train, words_this_run)
                bar.close()
                log.warning(
                    "interrupted: checkpoint saved at epoch %d, %d words done; resume with: python train.py resume=%s",
                    progress.epoch + 1,
                    progress.words_done,
                    run_dir,
                )
                tb.close()
                raise KeyboardInterrupt
            _check_finite(progress.epoch_loss, run_dir)
            avg = progress.epoch_loss / max(1, progress.epoch_pairs)
            progress.epoch_losses.append(avg)
            log.info(
                "epoch %d/%d: average loss %.6f over %d pairs, lr %.6f",
                progress.epoch + 1,
                cfg.epochs,
                avg,
                progress.epoch_pairs,
                lr_at(cfg, progress.words_done, total_words),
            )
            tb.scalar("train/epoch_loss", avg, progress.epoch + 1)
            log.info("memory after epoch %d: rss %.0f MB, peak %.0f MB", progress.epoch + 1, *rss_mb())
            if cfg.eval.every_epoch and progress.epoch + 1 < cfg.epochs:
                _evaluate(cfg, run_dir, vocab, model.vectors(cfg.export).float().cpu().numpy(), tb, progress.epoch + 1, final=False)
            progress.epoch += 1
            progress.start, progress.epoch_loss, progress.epoch_pairs = {}, 0.0, 0
            if progress.epoch < cfg.epochs:
                _save(run_dir, state, progress, t_train, words_this_run)
    bar.close()
    progress.done = True
    train_seconds = progress.train_seconds + time.perf_counter() - t_train
    words_per_sec = words_this_run / max(1e-9, time.perf_counter() - t_train)
    vectors = model.vectors(cfg.export).float().cpu().numpy()
    save_word2vec(run_dir / "vectors.txt", vocab.words, vectors, binary=False)
    save_word2vec(run_dir / "vectors.bin", vocab.words, vectors, binary=True)
    metrics = {
        "epoch_loss": progress.epoch_losses,
        "final_loss": progress.epoch_losses[-1] if progress.epoch_losses else None,
        "words_per_sec": words_per_sec,
        "pairs_per_sec": progress.pairs_total / max(1e-9, train_seconds),
        "vocab_size": len(vocab),
        "corpus_tokens": n_tokens,
        "train_words": vocab.total,
        "words_done": progress.words_done,
        "peak_rss_mb": rss_mb()[1],
        "epochs": cfg.epochs,
        "vocab_seconds": vocab_seconds,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - t_start,
        "device": str(device),
    }
    state["metrics"] = metrics
    progress.train_seconds = train_seconds
    _save(run_dir, state, progress, t_train, 0, keep_time=True)
    metrics.update(_evaluate(cfg, run_dir, vocab, vectors, tb, cfg.epochs))
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    tb.hparams(_flat(cfg), {f"hparam/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
    tb.close()
    if not cfg.keep_ids_cache:
        (run_dir / "corpus.ids").unlink(missing_ok=True)
    log.info("done in %.1fs: %.0f words/s; vectors in %s", metrics["total_seconds"], words_per_sec, run_dir)
    return metrics


def _evaluate(
    cfg: Any, run_dir: Path, vocab: Vocab, vectors: np.ndarray, tb: MetricLogger, step: int, final: bool = True
) -> dict[str, Any]:
    """Evaluation hook: song next-track metrics for playlists, word benchmarks otherwise.

    ``final`` is False for the per-epoch evaluations (``eval.every_epoch=true``), which only log.
    """
    if not cfg.eval.enabled:
        return {}
    if cfg.corpus.kind == "playlists":
        from w2v.songs import evaluate_songs

        return evaluate_songs(run_dir, vocab.words, vectors, cfg, tb, step, final=final)
    from w2v.evaluation.run import evaluate_run

    return evaluate_run(run_dir, vocab.words, vectors, cfg.eval, tb, step, final=final)


def _fold_loss(progress: Progress, loss_acc: torch.Tensor) -> None:
    """Move the device-side loss sum into the progress record (one sync)."""
    progress.epoch_loss += float(loss_acc.item())
    loss_acc.zero_()


def _check_finite(loss_sum: float, run_dir: Path) -> None:
    if not math.isfinite(loss_sum):
        raise W2VError(f"the loss became {loss_sum} (training diverged): lower lr; the last good checkpoint in {run_dir} is kept")


def _checkpoint_due(cfg: Any, last_time: float, last_words: int, words_done: int) -> bool:
    if cfg.checkpoint_every_words and words_done - last_words >= cfg.checkpoint_every_words:
        return True
    return bool(cfg.checkpoint_every_minutes) and time.monotonic() - last_time >= 60 * cfg.checkpoint_every_minutes


def _log_step(
    cfg: Any,
    tb: MetricLogger,
    bar: tqdm,
    progress: Progress,
    loss_acc: torch.Tensor,
    lr: float,
    words_this_run: int,
    t_train: float,
    state: dict,
    run_dir: Path,
) -> None:
    loss = (progress.epoch_loss + float(loss_acc.item())) / max(1, progress.epoch_pairs)
    _check_finite(loss, run_dir)
    wps = words_this_run / max(1e-9, time.perf_counter() - t_train)
    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.5f}", wps=f"{wps / 1e3:.0f}k", refresh=False)
    tb.scalars({"train/loss": loss, "train/lr": lr, "train/words_per_sec": wps}, progress.words_done)


def _save(run_dir: Path, state: dict, progress: Progress, t_train: float, words_this_run: int, keep_time: bool = False) -> None:
    cfg, model, optimizer, vocab = state["cfg"], state["model"], state["optimizer"], state["vocab"]
    if not math.isfinite(progress.epoch_loss):
        _check_finite(progress.epoch_loss, run_dir)  # never overwrite a good checkpoint with a diverged one
    prog = Progress(**{**progress.__dict__})
    if not keep_time:
        prog.train_seconds = progress.train_seconds + time.perf_counter() - t_train
    save_checkpoint(
        run_dir / "checkpoint.pt",
        {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict() if optimizer is not None else {},
            "vocab": {"words": vocab.words, "counts": torch.from_numpy(vocab.counts)},
            "remap": torch.from_numpy(np.asarray(state["remap"], dtype=np.int32)),
            "config": OmegaConf.to_container(cfg, resolve=True),
            "progress": prog.state(),
            "metrics": state["metrics"],
        },
    )


def _restore_model(model: SkipGramModel, optimizer: torch.optim.Optimizer | None, state: dict[str, Any], cfg: Any) -> None:
    weights = state["model"]
    want = model.in_embed.weight.shape
    got = tuple(weights["in_embed.weight"].shape)
    if got != tuple(want):
        raise W2VError(
            f"checkpoint tables are {got[0]}x{got[1]} but the run needs {want[0]}x{want[1]}: it belongs to a different vocabulary or dim"
        )
    model.load_state_dict(weights)
    if optimizer is not None and state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
