"""The process a run lives in: its device, memory, signals, run directory and log file."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from w2v.errors import W2VError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise W2VError(f"device={name} but CUDA is not available here: use device=cpu or device=auto")
    return torch.device(name)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB (Linux /proc; peak from getrusage)."""
    import resource  # Unix only: imported where it is used

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        current = float("nan")
    return current, peak


class Interrupt:
    """Turns SIGINT/SIGTERM into a flag checked between batches, so a checkpoint can be written."""

    def __init__(self) -> None:
        self.hit, self.t_hit = False, 0.0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
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


def ignore_sigint(_: int) -> None:
    """DataLoader ``worker_init_fn``: workers leave Ctrl-C to the main process, which checkpoints and stops them in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_run_dir(run_dir: Path, rank: int | None = None) -> None:
    """Create ``run_dir`` and check that this process can write there (``rank``: a probe file per torchrun rank)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / (".w2v-write-test" + ("" if rank is None else str(rank)))
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise W2VError(f"cannot write to the run directory {run_dir}: {exc.strerror}; choose a writable hydra.run.dir") from None


@contextlib.contextmanager
def file_log(path: Path) -> Iterator[None]:
    """Copy the root logger's records (INFO and up) into ``path`` while the block runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
        logging.getLogger().setLevel(logging.INFO)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def disk_errors(run_dir: Path) -> Iterator[None]:
    """Turn a failed write (disk full, permissions, ...) into one line: atomic writes left every earlier file intact."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or run_dir
        raise W2VError(
            f"cannot write {where}: {exc.strerror or exc}; free disk space or choose another hydra.run.dir "
            f"(finished files and the last checkpoint in {run_dir} are intact)"
        ) from None
