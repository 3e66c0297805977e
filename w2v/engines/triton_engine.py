"""GPU engine: the fused Triton word2vec kernel (skip-gram or CBOW, negative sampling), fed whole chunks of the corpus.

Unlike the example engines, this one takes *token chunks* from the stream (``consumes_tokens``):
vocabulary ids of ``chunk_tokens`` corpus words with sentence separators. On the device, torch
subsamples them and draws the windows (:mod:`w2v.engines.chunks`); one kernel launch then trains
the whole chunk with ``grid`` programs walking it in word2vec.c's order
(:mod:`w2v.engines.triton_kernels`). The host only launches: the next chunk is copied from pinned
memory on a side stream while the current one trains, and the loss and pair count stay on the device
until the trainer logs.

Randomness is keyed by ``(seed, epoch, first block of the chunk)``, so a resumed run draws the same
subsampling, windows and negatives. On a GPU the programs race on shared rows (Hogwild), so two runs
are not bit-equal; under ``TRITON_INTERPRET=1`` the programs run one after another and they are.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from typing import Any

import torch

from w2v.data.batches import TokenChunk
from w2v.data.stream import Word2VecStream, block_seed
from w2v.engines.base import Engine, register
from w2v.engines.chunks import prepare_chunk
from w2v.models.word2vec import Word2VecModel

log = logging.getLogger(__name__)

# Programs per SM when ``grid`` is null. The quality-vs-concurrency curve in the README (bench/
# concurrency.py) holds up to 4,096 updates in flight and diverges at 16,384; the default stays a
# quarter of the last safe value on an H200 (132 SMs) and never passes it. bench/gpu.py's G sweep times it.
PROGRAMS_PER_SM = 8
SAFE_GRID = 4096
CPU_GRID = 4  # under the interpreter: enough programs to exercise the span split


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


class TritonEngine(Engine):
    """Hogwild negative sampling (skip-gram or CBOW) in one Triton kernel launch per chunk (CUDA)."""

    name = "triton"
    default_batch = 0  # unused: the engine takes token chunks of `chunk_tokens` words, not example batches
    shuffle = False
    overlaps_stream = True  # launches are asynchronous: the host prepares the next chunk meanwhile
    consumes_tokens = True

    @classmethod
    def unavailable(cls, cfg: Any, device: torch.device) -> str | None:
        if cfg.hs or cfg.negatives < 1:
            return "engine=triton trains negative sampling only (hs=false negatives>=1): use engine=torch for hierarchical softmax"
        if cfg.get("subwords") is not None and cfg.subwords.enabled:
            return "engine=triton does not train character n-grams: use engine=torch (or engine=numba on CPU) with subwords.enabled=true"
        if cfg.optim != "sgd":
            return "engine=triton implements optim=sgd only: use engine=torch for other optimizers"
        if cfg.get("sigma_table"):
            return "engine=triton takes the exact σ: sigma_table=true runs on engine=hogwild, numba or torch"
        if importlib.util.find_spec("triton") is None:
            return "engine=triton needs the triton package: pip install triton (CUDA builds of torch ship it), or use engine=torch"
        # On CPU only when asked for by name under the interpreter (tests): never picked by engine=auto.
        if device.type != "cuda" and not (interpreting() and cfg.engine == "triton"):
            return f"engine=triton runs on CUDA but device={device}: use device=cuda, or engine=numba on CPU"
        return None

    def __init__(self, model: Word2VecModel, cfg: Any, device: torch.device, threads: int):
        super().__init__(model, cfg, device, threads)
        # Imported here, not at module level: triton.jit reads TRITON_INTERPRET when the kernels are defined.
        from w2v.engines import triton_kernels

        self.kernels = triton_kernels
        self.tables = model.tables()
        if device.type == "cuda":
            self.grid = cfg.grid or min(SAFE_GRID, PROGRAMS_PER_SM * torch.cuda.get_device_properties(device).multi_processor_count)
            self.copy_stream = torch.cuda.Stream(device)
        else:
            self.grid = cfg.grid or CPU_GRID
            torch.set_num_threads(max(1, threads))
        if self.grid > SAFE_GRID:
            log.warning("grid=%d: more updates in flight than the %d measured safe (README: concurrency)", self.grid, SAFE_GRID)
        self.generator = torch.Generator(device=device)

    def attach(self, stream: Word2VecStream) -> None:
        self.keep_prob = stream.keep_prob.to(self.device, torch.float32)
        self.prob = stream.sampler.prob.to(self.device, torch.float32).contiguous()
        self.alias = stream.sampler.alias.to(self.device, torch.int32).contiguous()

    def to_device(self, chunk: TokenChunk) -> TokenChunk:
        """Copy the chunk on a side stream, so the copy overlaps the kernel still running on the main one."""
        if self.device.type != "cuda":
            return chunk
        tokens = chunk.tokens if chunk.tokens.is_pinned() else chunk.tokens.pin_memory()
        main = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self.copy_stream):
            on_device = tokens.to(self.device, non_blocking=True)
        main.wait_stream(self.copy_stream)
        on_device.record_stream(main)  # the allocator must not reuse it before the kernel has read it
        return dataclasses.replace(chunk, tokens=on_device)

    def step(self, chunk: TokenChunk, lr: float, lr_end: float) -> torch.Tensor:
        """Train one chunk, the rate decaying from ``lr`` to ``lr_end``: (summed loss, pairs), a float64 (2,) tensor on the device."""
        cfg, tokens = self.cfg, chunk.tokens
        if not len(tokens):
            return torch.zeros(2, dtype=torch.float64, device=self.device)
        seed = block_seed(cfg.seed, chunk.epoch, chunk.first_block)
        self.generator.manual_seed(seed)
        prepared = prepare_chunk(tokens, self.keep_prob, cfg.window, cfg.shrink_windows, self.generator)
        return self.kernels.word2vec_chunk(
            prepared.tokens, prepared.starts, prepared.ends, prepared.radius, prepared.n, self.tables.in_w, self.tables.out_w,
            self.prob, self.alias, seed % (2**31), lr, lr_end, cfg.window, cfg.negatives, self.grid, cbow=not cfg.sg,
            cbow_mean=cfg.cbow_mean, ns_skip_saturated=bool(cfg.ns_skip_saturated),
        )  # fmt: skip


register(TritonEngine, auto_rank=1)
