"""Scaling models on paper: what a round of table averaging costs across nodes, and what core
contention leaves of more threads. Pure arithmetic, no training.

Two models, both documented with their measured inputs in docs/distributed.md and docs/benchmarks.md:

- **Across nodes** (``bench/distributed.py --project``): per round each rank trains ``round_words``
  words, then all ranks average R rows of both V x d float32 tables with a ring all-reduce, and training
  pauses while they do (no overlap). :func:`round_cost` is one round's communication,
  :func:`project_nodes` the table of global words/s against nodes, links and averaging schedule.
- **Across cores** (``bench/scaling.py``): the hogwild engine's speed-up at n threads from the 1- and
  2-thread rates and the serial host time between two kernel calls (:func:`project_cores`).
"""

from __future__ import annotations

from collections.abc import Iterable

from w2v.train.sync_schedule import mean_rows_per_round

# Typical per-direction bandwidth of one link, GB/s (nominal line rate / 8), and a per-message latency, s.
LINKS: dict[str, tuple[float, float]] = {
    "10 GbE": (1.25, 50e-6),
    "25 GbE": (3.125, 30e-6),
    "100 GbE": (12.5, 10e-6),
    "IB HDR 200 Gb/s": (25.0, 2e-6),
}


def round_cost(nodes: int, rows: float, dim: int, gbps: float, latency: float) -> tuple[float, float]:
    """(bytes each rank sends, seconds) of one ring all-reduce of ``rows`` rows of both tables (float32).

    A ring all-reduce of B bytes over N ranks sends 2(N-1)/N x B per rank in 2(N-1) steps, each paying
    the link's latency once.
    """
    sent = 2 * (nodes - 1) / nodes * rows * dim * 4 * 2
    return sent, sent / (gbps * 1e9) + 2 * (nodes - 1) * latency


def project_nodes(
    nodes: Iterable[int],
    vocab: int,
    dim: int,
    node_wps: float,
    round_words: int,
    epoch_words: int,
    hot_rows: int,
    links: dict[str, tuple[float, float]] = LINKS,
) -> list[dict]:
    """One row per (nodes, link, schedule): rows averaged per round, GB sent, seconds, efficiency, global words/s.

    ``full`` averages all ``vocab`` rows every round; ``banded`` is ``dist.hot_rows``' schedule, whose mean
    rows per round depend on the rounds in an epoch (``epoch_words / (nodes x round_words)``). Efficiency is
    compute / (compute + communication), since the ranks stop training while a round averages.
    """
    t_compute = round_words / node_wps
    out = []
    for n in nodes:
        rounds = max(1, epoch_words // (n * round_words))
        schedules = {"full": float(vocab), f"banded hot_rows={hot_rows}": mean_rows_per_round(hot_rows, 0, vocab, rounds)}
        for link, (gbps, latency) in links.items():
            for name, rows in schedules.items():
                sent, t_comm = round_cost(n, rows, dim, gbps, latency)
                eff = t_compute / (t_compute + t_comm)
                out.append({"nodes": n, "link": link, "schedule": name, "rows_per_round": rows, "gb_sent_per_rank": sent / 1e9,
                            "comm_s": t_comm, "compute_s": t_compute, "efficiency": eff, "words_per_sec": n * node_wps * eff})  # fmt: skip
    return out


def project_cores(r1: float, r2: float, serial: dict, cores: Iterable[int] = (8, 16, 64)) -> dict:
    """Projected words/s and speed-up over one core at ``cores`` threads of the hogwild engine.

    Inputs measured on two cores: ``r1`` and ``r2``, words/s at 1 and 2 threads; ``serial`` holds
    ``serial_s_per_chunk`` (host time between two kernel calls), ``blocks_per_chunk`` and
    ``kernel_s_per_block_1t`` (bench/scaling.py measures them). The two-core efficiency ``e = r2 / (2 r1)``
    is held at every core count: an assumption about a bigger machine's memory system. At n threads a
    chunk holds 16 n blocks (the engine's rule), so it takes ``16 n s + 16 c / e`` against ``16 n (s + c)``
    on one core, with ``s`` the serial and ``c`` the kernel seconds per block. The serial gap is counted
    as if all of it grew with the blocks of a chunk (a seed per block does, the logging does not): the
    pessimistic reading.
    """
    eff = min(1.0, r2 / (2 * r1))
    s_block = serial["serial_s_per_chunk"] / serial["blocks_per_chunk"]
    block = serial["kernel_s_per_block_1t"]
    out: dict = {"efficiency_2": eff, "serial_s_per_block": s_block}
    for n in cores:
        one_core = 16 * n * (s_block + block)  # the same blocks on one thread
        per_chunk = 16 * n * s_block + 16 * block / eff  # serial, then 16 blocks a thread at the two-core efficiency
        out[str(n)] = {"speedup_vs_1": one_core / per_chunk, "words_per_sec": r1 * one_core / per_chunk}
    return out
