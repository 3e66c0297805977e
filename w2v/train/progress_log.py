"""Progress for runs nobody watches: a log line every ``progress_every`` seconds when there is no bar.

tqdm draws its bar only on a terminal. Under nohup, CI, SLURM or ``> log`` it is off, and a long
epoch would otherwise log nothing until it ends. The trainer offers a line at each log step (where
the loss is already synchronised), so this adds no work per batch.
"""

from __future__ import annotations

import datetime
import logging
import time

log = logging.getLogger(__name__)


def _human(n: float) -> str:
    """12345678 -> '12.3M' (words are counted in the millions or billions)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def format_progress(epoch: int, epochs: int, words_done: int, total_words: int, wps: float, loss: float, lr: float) -> str:
    """One progress line: epoch, percent of all words, words/s, loss, learning rate and ETA."""
    left = max(0, total_words - words_done)
    eta = str(datetime.timedelta(seconds=round(left / wps))) if wps > 0 else "?"
    return (
        f"epoch {epoch}/{epochs}: {100 * words_done / max(1, total_words):.1f}% ({_human(words_done)}/{_human(total_words)} words), "
        f"{_human(wps)} words/s, loss {loss:.4f}, lr {lr:.6f}, ETA {eta}"
    )


class ProgressLog:
    """Logs :func:`format_progress` lines at most every ``every`` seconds, only when ``enabled``."""

    def __init__(self, every: float, enabled: bool):
        self.every, self.enabled = every, enabled and every > 0
        self.last = time.monotonic()

    def offer(self, epoch: int, epochs: int, words_done: int, total_words: int, wps: float, loss: float, lr: float) -> None:
        """Log a line (see :func:`format_progress`) if ``every`` seconds have passed since the last."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            log.info("%s", format_progress(epoch, epochs, words_done, total_words, wps, loss, lr))
