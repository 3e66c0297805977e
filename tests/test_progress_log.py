"""Progress without a terminal: ``train.py`` logs a progress line every ``progress_every`` seconds
when its output is a pipe, and keeps tqdm's bar (and no lines) on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading

import pytest
from helpers import TRAIN_PY, make_quick_overrides, make_synthetic_text, write_text_file

from w2v.train.progress_log import format_progress

LINE = re.compile(r"epoch (\d)/2: (\d+\.\d)% \(\S+/\S+ words\), \S+ words/s, loss \d+\.\d{4}, lr 0\.\d{6}, ETA \d+:\d\d:\d\d")


def test_format_progress():
    line = format_progress(2, 5, 12_345_678, 28_500_000, 812_345.0, 2.13456, 0.0142345)
    assert line == "epoch 2/5: 43.3% (12.3M/28.5M words), 812.3k words/s, loss 2.1346, lr 0.014235, ETA 0:00:20"
    assert format_progress(1, 1, 0, 10, 0.0, 1.0, 0.025).endswith("ETA ?")


def _args(tmp_path, progress_every: float) -> list[str]:
    corpus = write_text_file(tmp_path / "c.txt", make_synthetic_text(n_sentences=600, n_words=200, length=20, seed=2))
    # engine=numba: example batches, several log steps per epoch on this small corpus (hogwild logs once a chunk)
    overrides = make_quick_overrides(corpus, epochs=2, min_count=2, progress_every=progress_every, heldout=0, engine="numba")
    return [sys.executable, str(TRAIN_PY), *overrides, f"hydra.run.dir={tmp_path / 'run'}"]


def test_a_piped_run_logs_progress_lines(tmp_path):
    proc = subprocess.run(_args(tmp_path, 0.001), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [m for m in map(LINE.search, proc.stderr.splitlines()) if m]
    assert len(lines) >= 5, proc.stderr[-2000:]
    percents = [float(m.group(2)) for m in lines]
    assert percents == sorted(percents) and 0 < percents[0] and percents[-1] <= 100
    assert {m.group(1) for m in lines} == {"1", "2"}
    assert "w/s]" not in proc.stderr and "\r" not in proc.stderr  # no tqdm bar in a pipe
    assert (tmp_path / "run" / "train.log").read_text().count("words/s, loss") == len(lines)


@pytest.mark.slow  # 8 s: a third train.py run for the off switch
def test_progress_every_zero_logs_no_lines(tmp_path):
    proc = subprocess.run(_args(tmp_path, 0), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not any(map(LINE.search, proc.stderr.splitlines()))


@pytest.mark.slow  # default run time: the piped run above covers the lines; this checks the TTY keeps tqdm's bar
def test_a_terminal_keeps_the_bar_and_gets_no_lines(tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide: no room for a bar
    proc = subprocess.Popen(_args(tmp_path, 0.001), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:  # drain the terminal so the child never blocks on a full buffer
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the child has exited and closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert proc.wait(timeout=120) == 0
    reader.join(timeout=10)
    os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert "train:" in out and "w/s]" in out, out[-2000:]  # tqdm's bar
    assert not any(map(LINE.search, out.splitlines())), out[-2000:]
