"""bench/distributed.py: the scaling model's arithmetic, its loud failures, and (slow) one tiny run of every configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_script, make_synthetic_text

BENCH = Path(__file__).resolve().parents[1] / "bench" / "distributed.py"


def _bench():
    return load_script(BENCH, "bench_distributed")


def test_a_ring_all_reduce_of_both_tables_sends_2_n_minus_1_over_n_of_them_per_rank():
    bench = _bench()
    sent, seconds = bench.round_cost(64, 2_000_000, 300, gbps=12.5, latency=0.0)
    assert sent == pytest.approx(2 * 63 / 64 * 2_000_000 * 300 * 4 * 2)  # 9.45 GB: the README's 64-node full average
    assert seconds == pytest.approx(sent / 12.5e9)
    _, with_latency = bench.round_cost(2, 0, 100, gbps=1.0, latency=1e-3)
    assert with_latency == pytest.approx(2 * 1e-3)  # no bytes: 2(N-1) latency steps only


def test_project_prints_full_and_banded_rows_without_training():
    out = subprocess.run([sys.executable, str(BENCH), "--project", "--nodes", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 8 and sum("| full |" in r for r in rows) == 4


@pytest.mark.parametrize(
    ("args", "message"), [(["--only", "single,bogus"], "unknown configuration"), (["--corpus", "/nonexistent.txt"], "not found")]
)
def test_bad_arguments_exit_non_zero_with_one_line(args, message):
    out = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and message in out.stderr


@pytest.mark.slow
def test_every_configuration_trains_and_lands_in_one_table(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_synthetic_text(n_sentences=400, n_words=60, length=25, seed=3))
    cmd = [sys.executable, str(BENCH), "--corpus", str(corpus), "--max-tokens", "8000", "--dim", "8", "--timeout", "150",
           "--", "min_count=1", "block_tokens=1024"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.count("$ ") == 6  # the probe, single, torchrun, one command per simulated node, and average
    rows = {line.split("|")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("| ") and " x " in line}
    assert set(rows) == {"1 process x 2 threads", "torchrun 2 x 1 thread", "2 simulated nodes x 1 thread",
                         "torchrun 2 x 1 thread, dist.merge=average"}  # fmt: skip
    assert "| deltas |" in rows["torchrun 2 x 1 thread"] and "| average |" in rows["torchrun 2 x 1 thread, dist.merge=average"]
    assert "| 1.00x |" in rows["1 process x 2 threads"]
    cells = {name: [c.strip() for c in line.split("|")[1:-1]] for name, line in rows.items()}
    rounds = [int(cells[name][5]) for name in ("torchrun 2 x 1 thread", "2 simulated nodes x 1 thread")]
    assert rounds[0] == rounds[1] >= 4  # about 8 blocks shared by 2 ranks, a round per block, in both layouts
    assert all(float(cells[name][2].replace(",", "")) > 0 for name in cells)  # words/s
