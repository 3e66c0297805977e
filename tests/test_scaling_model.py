"""w2v/scaling_model.py: the ring all-reduce's bytes and seconds, the node projection's rows, the core projection."""

from __future__ import annotations

import pytest

from w2v.scaling_model import LINKS, project_cores, project_nodes, round_cost


def test_a_ring_all_reduce_of_both_tables_sends_2_n_minus_1_over_n_of_them_per_rank():
    sent, seconds = round_cost(64, 2_000_000, 300, gbps=12.5, latency=0.0)
    assert sent == pytest.approx(2 * 63 / 64 * 2_000_000 * 300 * 4 * 2)  # 9.45 GB: docs/distributed.md's 64-node full average
    assert seconds == pytest.approx(sent / 12.5e9)
    _, with_latency = round_cost(2, 0, 100, gbps=1.0, latency=1e-3)
    assert with_latency == pytest.approx(2 * 1e-3)  # no bytes: 2(N-1) latency steps only


def test_the_64_node_projection_matches_the_documented_table():
    rows = project_nodes([64], 2_000_000, 300, 1_000_000, 8 * 65536, 10_000_000_000, 4096)
    assert len(rows) == 2 * len(LINKS)
    by_key = {(r["link"], r["schedule"]): r for r in rows}
    full = by_key[("10 GbE", "full")]
    assert full["gb_sent_per_rank"] == pytest.approx(9.450, abs=5e-4)
    assert full["efficiency"] == pytest.approx(0.06, abs=0.005)
    banded = by_key[("IB HDR 200 Gb/s", "banded hot_rows=4096")]
    assert round(banded["rows_per_round"]) == 26_133  # docs/distributed.md: about 26,000 rows per round on average
    assert banded["efficiency"] == pytest.approx(0.99, abs=0.005)
    assert all(r["words_per_sec"] == pytest.approx(64 * 1_000_000 * r["efficiency"]) for r in rows)


def test_one_more_node_never_raises_the_efficiency():
    rows = project_nodes([2, 8, 64], 100_000, 100, 500_000, 65536, 1_000_000_000, 0)
    for link in LINKS:
        effs = [r["efficiency"] for r in rows if r["link"] == link and r["schedule"] == "full"]
        assert effs == sorted(effs, reverse=True)


def test_the_core_projection_is_linear_without_contention_or_serial_time():
    serial = {"serial_s_per_chunk": 0.0, "blocks_per_chunk": 16, "kernel_s_per_block_1t": 0.1}
    out = project_cores(100.0, 200.0, serial)  # two threads at twice one thread's rate: e = 1
    assert out["efficiency_2"] == 1.0
    for n in (8, 16, 64):
        assert out[str(n)]["speedup_vs_1"] == pytest.approx(n)
        assert out[str(n)]["words_per_sec"] == pytest.approx(100.0 * n)


def test_the_core_projection_holds_the_two_core_efficiency_and_pays_the_serial_part():
    # The documented skip-gram NS inputs: e = 0.89, 1.5 ms per 16-block chunk against 141 ms of kernel per block.
    serial = {"serial_s_per_chunk": 0.0015, "blocks_per_chunk": 16, "kernel_s_per_block_1t": 0.141}
    out = project_cores(100.0, 178.0, serial)
    assert out["efficiency_2"] == pytest.approx(0.89)
    assert out["64"]["speedup_vs_1"] == pytest.approx(54.9, abs=0.3)  # docs/benchmarks.md's 64-core column
    assert out["8"]["speedup_vs_1"] < 8 * 0.89
