"""The batched torch engine (CPU or CUDA): one tensor update per batch.

:func:`sgd_step` is word2vec's SGD written out by hand for a whole batch: it touches only the rows
in the batch and needs neither autograd nor sparse-gradient coalescing. Rows repeated in a batch
get the sum of their updates, so large batches of frequent words overshoot (see the README's
large-batch findings). Other optimizers (``optim=sparse_adam|adagrad``) take the autograd path
through the model's loss.
"""

from __future__ import annotations

from typing import Any

import torch

from w2v.data.batches import ExampleBatch
from w2v.engines.base import Engine, register, step_result
from w2v.models.word2vec import (
    MAX_EXP,
    SIGMA_TABLE_SCALE,
    SIGMA_TABLE_STEP,
    ModelSpec,
    Tables,
    Word2VecModel,
    logistic_loss,
    output_rows,
)


def table_scores(scores: torch.Tensor) -> torch.Tensor:
    """The points at which word2vec.c's and gensim's σ table is read: for |f| < 6, -6 + 0.012·int((f + 6)·83), the
    factor 1000 / 6 / 2 taken in C integer arithmetic as both do (the numba kernels' ``sigma_arg``); f elsewhere."""
    looked_up = -MAX_EXP + SIGMA_TABLE_STEP * torch.floor((scores + MAX_EXP) * SIGMA_TABLE_SCALE)
    return torch.where(scores.abs() < MAX_EXP, looked_up, scores)


@torch.no_grad()
def sgd_step(
    tables: Tables,
    spec: ModelSpec,
    inputs: torch.Tensor,
    offsets: torch.Tensor | None,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    lr: float | torch.Tensor,
    max_row_updates: int = 0,
    ns_skip_saturated: bool = False,
    sigma_table: bool = False,
) -> torch.Tensor:
    """One SGD step of word2vec on a batch, in place; returns the summed loss before the step.

    With ``h`` the example's hidden vector (its input row, or the mean/sum of its bag), for every
    output row ``u`` it scores with label ``y`` (see :func:`output_rows`), as word2vec.c does:

        g = (y - σ(u·h))·lr;   u += g·h;   neu1e += g·u (old u);   then each input row += neu1e

    CBOW follows word2vec.c and gensim, not the exact gradient: with ``cbow_mean`` every context row
    gets the whole ``neu1e`` (the exact gradient of the mean would be ``neu1e / count``); with a sum,
    gensim divides ``neu1e`` by the count. Negative sampling and hierarchical softmax, when both
    are on, add their ``neu1e``. With character n-grams a skip-gram bag is a word and its n-gram
    rows: ``h`` is their mean and every row gets the whole ``neu1e``, as in fastText and gensim. A
    hierarchical-softmax node with ``|u·h| >= MAX_EXP`` (6) gets no update, as in word2vec.c and
    gensim (its loss still counts); with ``ns_skip_saturated`` a negative-sampling row with ``|u·h| >= 6``
    gets none either, as in gensim. With ``sigma_table`` σ and the loss are taken where word2vec.c's and gensim's
    table lookup reads them (:func:`table_scores`). ``max_row_updates`` > 0 caps the summed updates a row takes in
    one batch: they are scaled by ``max_row_updates / count`` (for GPU-sized batches).
    """
    in_w, dim = tables.in_w, tables.in_w.shape[1]
    if offsets is None:
        h = in_w.index_select(0, inputs)  # (B, D)
    else:
        sizes = offsets[1:] - offsets[:-1]  # (B,)
        example = torch.repeat_interleave(torch.arange(len(sizes), device=inputs.device), sizes, output_size=len(inputs))
        h = torch.zeros(len(sizes), dim, dtype=in_w.dtype, device=in_w.device).index_add_(0, example, in_w.index_select(0, inputs))
        if spec.bag_mean:
            h /= sizes.clamp(min=1).unsqueeze(1).to(h.dtype)
    neu1e = torch.zeros_like(h)
    loss = h.new_zeros((), dtype=torch.float64)
    for table, rows, labels, valid in output_rows(tables, spec, targets, negatives):
        weight = getattr(tables, table)
        u = weight.index_select(0, rows.reshape(-1)).view(*rows.shape, dim)  # (B, T, D)
        scores = (u * h.unsqueeze(1)).sum(-1)  # (B, T)
        at = table_scores(scores) if sigma_table else scores  # where σ is taken
        loss += logistic_loss(at, labels, valid).double()
        if table == "hs_w" or ns_skip_saturated:  # a saturated row (|u·h| >= MAX_EXP) is not updated
            valid = valid * (scores.abs() < MAX_EXP)
        g = (labels - torch.sigmoid(at)) * valid * lr  # (B, T), already scaled by the step size
        neu1e += torch.bmm(g.unsqueeze(1), u).squeeze(1)
        if max_row_updates > 0:
            g = g * _row_scale(rows, weight.shape[0], max_row_updates)
        weight.index_add_(0, rows.reshape(-1), (g.unsqueeze(2) * h.unsqueeze(1)).view(-1, dim))
    if offsets is not None:
        if not spec.bag_mean:
            neu1e /= sizes.clamp(min=1).unsqueeze(1).to(neu1e.dtype)  # gensim: the error spread over the summed rows
        neu1e = neu1e.index_select(0, example)  # (N_in, D): every context row gets its example's error
    if max_row_updates > 0:
        neu1e = neu1e * _row_scale(inputs, in_w.shape[0], max_row_updates).unsqueeze(1)
    in_w.index_add_(0, inputs, neu1e)
    return loss


def _row_scale(rows: torch.Tensor, n_rows: int, cap: int) -> torch.Tensor:
    """Per-entry factor ``min(1, cap / count(row))`` with counts taken over this batch; rows' shape."""
    counts = torch.bincount(rows.reshape(-1), minlength=n_rows).to(torch.float32)
    return (cap / counts.clamp(min=cap))[rows]


class TorchEngine(Engine):
    """Batched tensor updates on any device; hand-written SGD, or autograd with a sparse optimizer."""

    name = "torch"
    # Summed updates diverge at lr 0.025 from about 16k pairs per batch (bench/batch_quality.py).
    default_batch = 4096
    shuffle = True  # a batch should mix many centers, not one center's consecutive pairs

    @classmethod
    def batch_size(cls, spec: ModelSpec) -> int:
        # Every hierarchical-softmax example updates the root and the top inner nodes, so their summed
        # updates overshoot sooner: 4,096 diverges on wiki8, 1,024 trains (README, large batches).
        if spec.hs:
            return 1024
        # A batch's summed updates grow with the output rows each example scores: the default holds the
        # 24k rows of 4,096 examples at 5 negatives. word2vec.c's demo (CBOW, 25 negatives, lr 0.05)
        # diverged at 4,096 examples and trains at 1,024 (tests/test_hogwild.py, slow).
        return max(256, cls.default_batch * 6 // (spec.negatives + 1))

    def __init__(self, model: Word2VecModel, cfg: Any, device: torch.device, threads: int):
        super().__init__(model, cfg, device, threads)
        torch.set_num_threads(threads)
        self.spec, self.tables = model.spec, model.tables()
        params = [p for p in model.parameters() if p.shape[0] > 0]
        self.optimizer: torch.optim.Optimizer | None = None
        if cfg.optim == "sparse_adam":
            self.optimizer = torch.optim.SparseAdam(params, lr=cfg.lr)
        elif cfg.optim == "adagrad":
            self.optimizer = torch.optim.Adagrad(params, lr=cfg.lr)

    def step(self, batch: ExampleBatch, lr: float, lr_end: float) -> torch.Tensor:
        """One batch at ``lr`` (``lr_end`` is for chunk engines); (summed loss, examples) as in :meth:`Engine.step`."""
        args = (batch.inputs, batch.offsets, batch.targets, batch.negatives)
        if self.optimizer is None:
            loss = sgd_step(
                self.tables, self.spec, *args, lr, max_row_updates=self.cfg.max_row_updates,
                ns_skip_saturated=bool(self.cfg.ns_skip_saturated), sigma_table=bool(self.cfg.sigma_table),
            )  # fmt: skip
            return step_result(loss, len(batch))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model(*args)  # the exact gradient of the model's loss, CBOW included
        loss.backward()
        self.optimizer.step()
        return step_result(loss.detach().double(), len(batch))

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict() if self.optimizer is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.optimizer is not None and state:
            self.optimizer.load_state_dict(state)


register(TorchEngine, auto_rank=99)
