"""The update against autograd: what one word2vec step must do to each table, from autograd on the loss.

Shared by tests/test_model.py (every model and engine) and tests/test_subwords.py (fastText's n-gram
bags), so both hold the engines to the same reference.
"""

from __future__ import annotations

import pytest
import torch

from w2v.engines.torch_engine import sgd_step
from w2v.models.word2vec import MAX_EXP, ModelSpec, Tables, Word2VecModel, output_rows


def clone_tables(model: Word2VecModel) -> Tables:
    """A copy of ``model``'s tables an engine may update in place (the Huffman arrays are shared: never written)."""
    t = model.tables()
    return Tables(t.in_w.clone(), t.out_w.clone(), t.hs_w.clone(), t.points, t.codes, t.lengths)


def autograd_reference(model: Word2VecModel, inputs, offsets, targets, negatives, lr: float) -> tuple:
    """Expected tables after one word2vec step, from autograd on the model's own loss.

    Output tables: plain SGD on the loss. Input rows: word2vec.c / gensim apply -lr·∂L/∂h to every
    row of an example's bag (÷ count for a CBOW sum), where h is the hidden vector; for skip-gram
    (bags of one) that is exactly the gradient of the input row.
    """
    spec, tables = model.spec, model.tables()
    h = model.hidden(inputs, offsets).detach().requires_grad_(True)  # (B, D)
    out = {name: getattr(tables, name).clone().requires_grad_(True) for name in ("out_w", "hs_w")}
    loss = h.new_zeros(())
    for name, rows, labels, valid in output_rows(tables, spec, targets, negatives):
        scores = (out[name][rows] * h.unsqueeze(1)).sum(-1)
        if name == "hs_w":  # word2vec.c skips saturated nodes (none in these batches; see the test below)
            valid = valid * (scores.abs() < MAX_EXP).detach()
        loss = loss + -(torch.nn.functional.logsigmoid(torch.where(labels > 0, scores, -scores)) * valid).sum()
    loss.backward()
    in_w = tables.in_w.clone()
    sizes = torch.ones(len(targets), dtype=torch.int64) if offsets is None else offsets[1:] - offsets[:-1]
    starts = torch.arange(len(targets)) if offsets is None else offsets[:-1]
    for e in range(len(targets)):
        scale = 1.0 if spec.sg or spec.cbow_mean else 1.0 / float(sizes[e])
        for m in range(int(starts[e]), int(starts[e] + sizes[e])):
            in_w[inputs[m]] -= lr * scale * h.grad[e]
    stepped = [(w - lr * w.grad if w.grad is not None else w).detach() for w in (out["out_w"], out["hs_w"])]
    return in_w, *stepped, loss.item()


def assert_torch_step_equals_autograd(model: Word2VecModel, spec: ModelSpec, batch: tuple, lr: float) -> Tables:
    """One torch-engine SGD step on a copy of ``model``'s tables, checked against autograd's; the stepped copy."""
    want_in, want_out, want_hs, want_loss = autograd_reference(model, *batch, lr)
    got = clone_tables(model)
    got_loss = sgd_step(got, spec, *batch, lr)
    assert got_loss.item() == pytest.approx(want_loss, abs=1e-5)
    torch.testing.assert_close(got.in_w, want_in, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.out_w, want_out, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.hs_w, want_hs, rtol=0, atol=1e-5)
    return got
