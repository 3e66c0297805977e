"""bench/gpu.py without a GPU: the script parses, and the torchrun row's checks (backend, losses, scores) fail when they should."""

from __future__ import annotations

import ast

from helpers import REPO_ROOT, load_bench

BENCH = REPO_ROOT / "bench" / "gpu.py"


def bench_gpu():
    """bench/gpu.py as a module (its main() needs CUDA; the helpers do not)."""
    return load_bench("gpu")


def test_the_script_parses():
    ast.parse(BENCH.read_text())


def test_the_torchrun_row_must_name_nccl_and_match_the_one_process_row():
    bench = bench_gpu()
    plain = {"epoch_loss": [2.0, 1.8, 1.7], "analogy": 0.20, "ws353": 0.50}
    good = {"epoch_loss": [2.01, 1.79, 1.7], "analogy": 0.205, "ws353": 0.49, "backend": "nccl", "world_size": 1}
    assert bench.torchrun_failures(plain, good, loss_tol=0.03) == []
    for change, fragment in [
        ({"backend": "gloo"}, "not nccl"),
        ({"backend": None}, "not nccl"),
        ({"world_size": 2}, "world_size 2"),
        ({"epoch_loss": [2.0, 1.8]}, "differ"),  # an epoch missing
        ({"epoch_loss": [2.0, 1.8, 1.9]}, "differ"),
        ({"analogy": 0.18}, "scores"),
        ({"ws353": 0.45}, "scores"),
    ]:
        failures = bench.torchrun_failures(plain, {**good, **change}, loss_tol=0.03)
        assert len(failures) == 1 and fragment in failures[0], (change, failures)


def test_the_backend_is_read_from_the_trainers_rank_line():
    bench = bench_gpu()
    line = "[2026-12-02 04:03:16,618][w2v.train.trainer][INFO] - rank 0 of 1 (local rank 0 of 1), backend nccl, 16 threads: averaging"
    assert bench.log_backend("first line\n" + line + "\n") == "nccl"
    assert bench.log_backend("no rank line") is None
