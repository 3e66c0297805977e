"""gensim's four Word2Vec models in one module: skip-gram or CBOW, negative sampling and/or
hierarchical softmax.

Every model is an *input bag* per example and a logistic loss over output rows (fastText's shape):

- the hidden vector ``h`` is the input row of the context word, predicting the center (skip-gram,
  word2vec.c's roles), or the mean (``cbow_mean=True``) or sum of the context rows (CBOW);
- negative sampling scores the target's output row (label 1) and ``K`` noise rows (label 0) in
  ``out_embed`` (word2vec.c's ``syn1neg``);
- hierarchical softmax scores the inner nodes on the target's Huffman path in ``hs_embed``
  (``syn1``), with label ``1 - code``;
- the loss is ``-Σ log σ(±u·h)`` over those rows, with ``logsigmoid`` applied per score.

Input vectors start uniform in ±1/dim, as gensim 4 draws them (word2vec.c: ±0.5/dim), and both output
tables at zero. This
module holds the model and its reference loss (autograd checks the engines against it); the
update math lives in :mod:`w2v.engines`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from w2v.models.huffman import build_huffman
from w2v.models.subwords import WordBags

# word2vec.c's MAX_EXP: a hierarchical-softmax node with |u·h| >= MAX_EXP gets no update (word2vec.c
# and gensim skip it). Nodes near the root are shared by every word, so once they are confident this
# both saves work and keeps a few wrong-but-confident examples from dragging the whole tree.
MAX_EXP = 6.0
# sigma_table: word2vec.c and gensim look σ up in EXP_TABLE_SIZE values σ(-MAX_EXP + SIGMA_TABLE_STEP i), at the index
# int((f + MAX_EXP) * SIGMA_TABLE_SCALE). Both compile EXP_TABLE_SIZE / MAX_EXP / 2 in C integer arithmetic, 83 rather
# than 83.3, so the entry read is σ at 0.996 f - 0.024, rounded down to the table's step.
EXP_TABLE_SIZE = 1000
SIGMA_TABLE_SCALE = float(EXP_TABLE_SIZE // int(MAX_EXP) // 2)
SIGMA_TABLE_STEP = 2.0 * MAX_EXP / EXP_TABLE_SIZE


@dataclass(frozen=True)
class ModelSpec:
    """Which word2vec model, in gensim's terms; stored in checkpoints to rebuild the model."""

    sg: bool = True
    cbow_mean: bool = True
    hs: bool = False
    negatives: int = 5

    @property
    def bag_mean(self) -> bool:
        """Whether a bag of input rows is averaged: CBOW with ``cbow_mean``, and always for skip-gram,
        whose only bags are a word and its character n-grams (fastText averages them)."""
        return self.cbow_mean or self.sg

    @property
    def name(self) -> str:
        """``sg-ns``, ``cbow-hs``, ``sg-hs+ns``, ...: what metrics.json and logs call the model."""
        losses = "+".join(x for x, on in (("hs", self.hs), ("ns", self.negatives > 0)) if on)
        return f"{'sg' if self.sg else 'cbow'}-{losses}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, cfg: Any) -> ModelSpec:
        return cls(bool(cfg.sg), bool(cfg.cbow_mean), bool(cfg.hs), int(cfg.negatives))


class Tables(NamedTuple):
    """What an engine updates and reads: the weight tensors and the Huffman paths.

    in_w: (V, D) input vectors. out_w: (V, D) negative-sampling output vectors, (0, D) without
    negative sampling. hs_w: (V-1, D) inner-node vectors, (0, D) without hierarchical softmax.
    points, codes: (V, L) each word's path and branch bits; lengths: (V,) (all empty without hs).
    """

    in_w: torch.Tensor
    out_w: torch.Tensor
    hs_w: torch.Tensor
    points: torch.Tensor
    codes: torch.Tensor
    lengths: torch.Tensor


class Word2VecModel(nn.Module):
    """The tables of one word2vec model over a vocabulary whose counts are ``counts`` (descending)."""

    def __init__(
        self,
        spec: ModelSpec,
        counts: np.ndarray,
        dim: int,
        sparse: bool = True,
        generator: torch.Generator | None = None,
        bags: WordBags | None = None,
    ):
        super().__init__()
        self.spec = spec
        vocab_size = len(counts)
        # With character n-grams (``bags``) the input table holds the V word rows, then the bucket rows.
        self.bags = bags
        self.in_embed = nn.Embedding(bags.rows if bags is not None else vocab_size, dim, sparse=sparse)
        # gensim 4's ±1/dim (keyedvectors.prep_vectors), for word rows as for fastText's n-gram rows; word2vec.c
        # draws ±0.5/dim. The wider start scored 0.4-0.5 analogy point higher after one epoch of wiki8, level
        # with gensim (docs/benchmarks.md, "Initial vectors").
        bound = 1.0 / dim
        with torch.no_grad():
            self.in_embed.weight.uniform_(-bound, bound, generator=generator)
        self.out_embed = _zero_embedding(vocab_size if spec.negatives > 0 else 0, dim, sparse)
        if spec.hs:
            tree = build_huffman(counts)
            self.hs_embed = _zero_embedding(tree.n_inner, dim, sparse)
            paths = (torch.from_numpy(tree.points), torch.from_numpy(tree.codes), torch.from_numpy(tree.lengths))
        else:
            self.hs_embed = _zero_embedding(0, dim, sparse)
            paths = (torch.zeros(0, 0, dtype=torch.int64), torch.zeros(0, 0), torch.zeros(0, dtype=torch.int64))
        # Rebuilt from the counts on load, so they stay out of the checkpoint.
        for name, value in zip(("points", "codes", "lengths"), paths):
            self.register_buffer(name, value, persistent=False)

    def tables(self) -> Tables:
        """The raw tensors an engine updates in place (no autograd)."""
        return Tables(
            self.in_embed.weight.data, self.out_embed.weight.data, self.hs_embed.weight.data, self.points, self.codes, self.lengths
        )

    def hidden(self, inputs: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
        """The hidden vector of each example (B, D): its input row, or the mean/sum of its bag."""
        if offsets is None:
            return self.in_embed(inputs)
        mode = "mean" if self.spec.bag_mean else "sum"
        return F.embedding_bag(inputs, self.in_embed.weight, offsets, mode=mode, sparse=self.in_embed.sparse, include_last_offset=True)

    def forward(self, inputs: torch.Tensor, offsets: torch.Tensor | None, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Summed loss of the batch (autograd path): the reference every engine is checked against."""
        h = self.hidden(inputs, offsets)  # (B, D)
        loss = h.new_zeros(())
        weights = {"out_w": self.out_embed.weight, "hs_w": self.hs_embed.weight}
        for table, rows, labels, valid in output_rows(self.tables(), self.spec, targets, negatives):
            u = F.embedding(rows, weights[table], sparse=self.in_embed.sparse)  # (B, T, D)
            scores = (u * h.unsqueeze(1)).sum(-1)  # (B, T)
            loss = loss + logistic_loss(scores, labels, valid)
        return loss

    def vectors(self, export: str = "in") -> torch.Tensor:
        """Vectors to export: input vectors, input + output (``in+out``: W + C, negative sampling only), or
        the two with each row scaled to unit length first (``in+out_norm``: Levy, Goldberg and Dagan 2015's
        w + c, which keeps a frequent word's long output row from outweighing its input row).

        With character n-grams a word's input vector is the mean of its own row and its n-gram rows
        (gensim's ``FastTextKeyedVectors.adjust_vectors``), one row per vocabulary word.
        """
        w = self.in_embed.weight.detach()
        if self.bags is not None:
            bags = self.bags.to(w.device)
            w = F.embedding_bag(bags.inputs, w, bags.offsets, mode="mean", include_last_offset=True)  # (V, D)
        if export == "in+out_norm":
            return F.normalize(w, dim=1) + F.normalize(self.out_embed.weight.detach(), dim=1)
        return w + self.out_embed.weight.detach() if export == "in+out" else w


def _zero_embedding(rows: int, dim: int, sparse: bool) -> nn.Embedding:
    emb = nn.Embedding(max(rows, 0), dim, sparse=sparse)
    with torch.no_grad():
        emb.weight.zero_()
    return emb


def output_rows(
    tables: Tables, spec: ModelSpec, targets: torch.Tensor, negatives: torch.Tensor
) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The output rows each example scores, per output table: ``(table name, rows, labels, valid)``.

    rows, labels, valid: (B, T). Negative sampling: the target (label 1) then its K negatives
    (label 0), a negative equal to the target skipped as in word2vec.c. Hierarchical softmax: the
    target's path (label 1 - code), valid up to its code length.
    """
    groups = []
    if spec.negatives > 0:
        rows = torch.cat([targets.unsqueeze(1), negatives], 1)  # (B, K+1)
        labels = torch.zeros(rows.shape, dtype=tables.in_w.dtype, device=rows.device)
        labels[:, 0] = 1.0
        valid = torch.ones_like(labels)
        valid[:, 1:] = (negatives != targets.unsqueeze(1)).to(labels.dtype)
        groups.append(("out_w", rows, labels, valid))
    if spec.hs:
        rows = tables.points[targets]  # (B, L)
        labels = 1.0 - tables.codes[targets].to(tables.in_w.dtype)
        valid = (torch.arange(rows.shape[1], device=rows.device) < tables.lengths[targets].unsqueeze(1)).to(labels.dtype)
        groups.append(("hs_w", rows, labels, valid))
    return groups


def logistic_loss(scores: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Summed ``-log σ(s)`` for label 1 and ``-log σ(-s)`` for label 0 over the valid entries.

    logsigmoid is applied per score, never to a sum of scores, and stays finite for any score.
    """
    return -(F.logsigmoid(torch.where(labels > 0, scores, -scores)) * valid).sum()


def sgns_loss(scores: torch.Tensor, valid_negatives: torch.Tensor) -> torch.Tensor:
    """Summed SGNS loss ``-log σ(s_pos) - Σ_k log σ(-s_neg_k)``; scores (B, K+1), column 0 the context."""
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    valid = torch.cat([torch.ones_like(scores[:, :1]), valid_negatives.to(scores.dtype)], 1)
    return logistic_loss(scores, labels, valid)
