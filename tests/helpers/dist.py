"""Ranks spawned on localhost for the torchrun tests (tests/test_dist*.py), each job with a deadline.

Each rank runs in a process started with ``torch.multiprocessing`` (spawn) in the environment torchrun
gives it (RANK, WORLD_SIZE, MASTER_ADDR, a free MASTER_PORT), so a test calls w2v's own setup on CPU
with gloo. A job that does not finish within its deadline fails the test as hung instead of blocking CI.
"""

from __future__ import annotations

import os
import queue
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from omegaconf import OmegaConf

from helpers import free_port
from w2v.train import dist as wdist

DEADLINE = 60  # seconds a spawned job may take before the test fails as hung


def _plain(obj: Any) -> Any:
    """Tensors as numpy arrays: torch's queue would share tensors through the exiting child's file descriptors."""
    if isinstance(obj, torch.Tensor):
        return obj.numpy().copy()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def _entry(fn: Callable[..., Any], rank: int, world: int, port: int, results: Any, args: tuple) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    try:
        results.put((rank, True, _plain(fn(rank, world, *args))))
    except BaseException as exc:  # reported to the test with the rank's traceback
        results.put((rank, False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def spawn(fn: Callable[..., Any], world: int, *args: Any, deadline: float = DEADLINE) -> dict[int, tuple[bool, object]]:
    """Run ``fn(rank, world, *args)`` in ``world`` spawned processes; {rank: (ok, result or error)}.

    ``fn`` must be a module-level function of a test module (the spawned process imports it by name).
    """
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_entry, args=(fn, r, world, port, results, args)) for r in range(world)]
    for p in procs:
        p.start()
    out: dict[int, tuple[bool, object]] = {}
    end = time.monotonic() + deadline
    try:
        while len(out) < world:
            try:
                rank, ok, value = results.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() >= end or not any(p.is_alive() for p in procs):
                    break
                continue
            out[rank] = (ok, value)
        for p in procs:
            p.join(timeout=max(0.1, end - time.monotonic()))
    finally:
        hung = [i for i, p in enumerate(procs) if p.is_alive()]
        for p in procs:
            if p.is_alive():
                p.kill()
    if hung and len(out) < world:
        pytest.fail(f"ranks {hung} did not finish within {deadline}s (hang); results so far: {out}")
    return out


def all_ok(out: dict[int, tuple[bool, object]], world: int) -> list:
    """The results of ranks 0..world-1 of a :func:`spawn`, once every rank reported success."""
    for rank in range(world):
        assert rank in out, f"rank {rank} reported nothing: {out}"
        assert out[rank][0], f"rank {rank} failed: {out[rank][1]}"
    return [out[r][1] for r in range(world)]


def setup_gloo(timeout_s: float = 20) -> wdist.DistContext:
    """Inside a spawned rank: join the process group on CPU (gloo) as the trainer does."""
    return wdist.setup(OmegaConf.create({"dist": {"timeout_s": timeout_s}}), torch.device("cpu"))
