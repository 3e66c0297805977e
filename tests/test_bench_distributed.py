"""bench/distributed.py: the scaling model's table and results file, its loud failures, and (slow) one tiny run
of every configuration. The model's arithmetic is tested in tests/test_scaling_model.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_synthetic_text

BENCH = Path(__file__).resolve().parents[1] / "bench" / "distributed.py"


def test_project_prints_full_and_banded_rows_without_training(tmp_path):
    results = tmp_path / "project.json"
    cmd = [sys.executable, str(BENCH), "--project", "--nodes", "2", "--json", str(results)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 8 and sum("| full |" in r for r in rows) == 4
    saved = json.loads(results.read_text())
    assert len(saved["rows"]) == 8 and saved["settings"]["nodes"] == [2]  # the printed table, machine-readable
    assert {r["schedule"] for r in saved["rows"]} == {"full", "banded hot_rows=4096"}


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
           "--json", str(tmp_path / "dist.json"), "--", "min_count=1", "block_tokens=1024"]  # fmt: skip
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
    saved = json.loads((tmp_path / "dist.json").read_text())
    assert set(saved["rows"]) == {"single", "torchrun", "2nodes", "average"} and saved["allreduce_s_by_bytes"]
