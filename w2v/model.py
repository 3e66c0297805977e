"""The skip-gram negative-sampling (SGNS) model: two embedding tables and its loss.

Input vectors start uniform in ±0.5/dim and output vectors at zero, as in word2vec.c. The
reference update, :func:`sgns_sgd_step`, is word2vec's plain SGD written out by hand: it touches
only the rows in the batch and needs neither autograd nor sparse-gradient coalescing. The
autograd path (:meth:`SkipGramModel.forward`) serves the other optimizers and checks the hand
derivation in the tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SkipGramModel(nn.Module):
    """Input (``in_embed``) and output (``out_embed``) vectors for a vocabulary of ``vocab_size``."""

    def __init__(self, vocab_size: int, dim: int, sparse: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim, sparse=sparse)
        self.out_embed = nn.Embedding(vocab_size, dim, sparse=sparse)
        with torch.no_grad():
            self.in_embed.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
            self.out_embed.weight.zero_()

    def forward(self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Summed SGNS loss of the batch (autograd path)."""
        h = self.in_embed(centers)  # (B, D)
        targets = torch.cat([contexts.unsqueeze(1), negatives], 1)  # (B, K+1)
        scores = (self.out_embed(targets) * h.unsqueeze(1)).sum(-1)  # (B, K+1)
        return sgns_loss(scores, negatives != contexts.unsqueeze(1))

    def vectors(self, export: str = "in") -> torch.Tensor:
        """Vectors to export: input vectors, or input + output (W + C)."""
        w = self.in_embed.weight.detach()
        return w + self.out_embed.weight.detach() if export == "in+out" else w


def sgns_loss(scores: torch.Tensor, valid_negatives: torch.Tensor) -> torch.Tensor:
    """Summed ``-log σ(s_pos) - Σ_k log σ(-s_neg_k)`` over the batch.

    scores: (B, K+1), column 0 the true context. valid_negatives: (B, K) bool; a negative equal to
    the true context is skipped, as in word2vec.c. logsigmoid is applied per score, never to a sum.
    """
    pos = F.logsigmoid(scores[:, 0])
    neg = F.logsigmoid(-scores[:, 1:]) * valid_negatives
    return -(pos.sum() + neg.sum())


@torch.no_grad()
def sgns_sgd_step(
    in_w: torch.Tensor,
    out_w: torch.Tensor,
    centers: torch.Tensor,
    contexts: torch.Tensor,
    negatives: torch.Tensor,
    lr: float | torch.Tensor,
    max_row_updates: int = 0,
) -> torch.Tensor:
    """One SGD step of word2vec's SGNS on a batch, in place; returns the summed loss before the step.

    For a center c with input vector h and target t with output vector u and label y (1 for the
    context, 0 for a negative): g = y - σ(u·h); u += lr·g·h; h += lr·Σ_t g·u (word2vec.c's neu1e,
    computed from the old u). Rows repeated in the batch get the sum of their updates.

    ``max_row_updates`` > 0 caps that sum for rows used more often in the batch: their update is
    scaled by ``max_row_updates / count``. word2vec applies such updates one after another, each
    seeing the last; summed at once, the thousands of updates a frequent word gets in a large
    (GPU-sized) batch overshoot. 0 keeps the plain sum.
    """
    batch, dim = centers.shape[0], in_w.shape[1]
    targets = torch.cat([contexts.unsqueeze(1), negatives], 1)  # (B, K+1)
    h = in_w.index_select(0, centers)  # (B, D)
    u = out_w.index_select(0, targets.view(-1)).view(batch, -1, dim)  # (B, K+1, D)
    scores = (u * h.unsqueeze(1)).sum(-1)  # (B, K+1)
    valid = torch.ones_like(scores)
    valid[:, 1:] = (negatives != contexts.unsqueeze(1)).to(scores.dtype)
    label = torch.zeros_like(scores)
    label[:, 0] = 1.0
    loss = sgns_loss(scores, valid[:, 1:] > 0)
    g = (label - torch.sigmoid(scores)) * valid * lr  # (B, K+1), already scaled by the step size
    grad_h = torch.bmm(g.unsqueeze(1), u).squeeze(1)  # (B, D)
    g_out = g
    if max_row_updates > 0:
        g_out = g * _row_scale(targets, out_w.shape[0], max_row_updates)
        grad_h = grad_h * _row_scale(centers, in_w.shape[0], max_row_updates).unsqueeze(1)
    out_w.index_add_(0, targets.view(-1), (g_out.unsqueeze(2) * h.unsqueeze(1)).view(-1, dim))
    in_w.index_add_(0, centers, grad_h)
    return loss


def _row_scale(rows: torch.Tensor, n_rows: int, cap: int) -> torch.Tensor:
    """Per-entry factor ``min(1, cap / count(row))`` with counts taken over this batch; rows' shape."""
    counts = torch.bincount(rows.reshape(-1), minlength=n_rows).to(torch.float32)
    return (cap / counts.clamp(min=cap))[rows]
