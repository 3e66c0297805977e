"""SGNS model: word2vec's initialisation, the loss, and the hand-written SGD step against autograd."""

from __future__ import annotations

import math

import pytest
import torch

from w2v.model import SkipGramModel, sgns_loss, sgns_sgd_step


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_initialisation_is_word2vecs():
    dim = 50
    model = SkipGramModel(2000, dim, generator=torch.Generator().manual_seed(0))
    w = model.in_embed.weight.detach()
    assert w.abs().max() <= 0.5 / dim
    assert w.max() > 0.49 / dim and w.min() < -0.49 / dim  # uniform over the whole ±0.5/dim range
    assert abs(w.mean().item()) < 0.01 / dim
    assert torch.count_nonzero(model.out_embed.weight) == 0
    assert model.in_embed.sparse and model.out_embed.sparse


def test_initialisation_is_seeded():
    a = SkipGramModel(10, 4, generator=torch.Generator().manual_seed(3))
    b = SkipGramModel(10, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.in_embed.weight, b.in_embed.weight)


def tiny_model() -> SkipGramModel:
    model = SkipGramModel(4, 2)
    with torch.no_grad():
        model.in_embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5], [-1.0, 1.0]]))
        model.out_embed.weight.copy_(torch.tensor([[0.3, -0.2], [1.0, 1.0], [-0.5, 0.25], [2.0, 0.0]]))
    return model


def test_loss_equals_a_hand_computed_value():
    model = tiny_model()
    # center 1 (h = [0, 2]); context 2 (u = [-0.5, 0.25]: score 0.5); negatives 0 (score -0.4) and 3 (score 0).
    loss = model(torch.tensor([1]), torch.tensor([2]), torch.tensor([[0, 3]]))
    expected = -(log_sigmoid(0.5) + log_sigmoid(0.4) + log_sigmoid(-0.0))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_loss_is_summed_over_the_batch_and_skips_a_negative_equal_to_the_context():
    model = tiny_model()
    # Row 2: center 0 (h = [1, 0]), context 3 (score 2), negatives 3 (= context: skipped) and 1 (score 1).
    loss = model(torch.tensor([1, 0]), torch.tensor([2, 3]), torch.tensor([[0, 3], [3, 1]]))
    row1 = -(log_sigmoid(0.5) + log_sigmoid(0.4) + log_sigmoid(0.0))
    row2 = -(log_sigmoid(2.0) + log_sigmoid(-1.0))
    assert loss.item() == pytest.approx(row1 + row2, abs=1e-6)


def test_loss_uses_logsigmoid_so_extreme_scores_stay_finite():
    scores = torch.tensor([[-200.0, 200.0, -200.0]])  # terrible positive, terrible and perfect negative
    loss = sgns_loss(scores, torch.tensor([[True, True]]))
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(400.0, rel=1e-6)  # sigmoid().log() would give inf here


def test_logsigmoid_is_applied_per_score_not_to_the_sum_of_negatives():
    scores = torch.tensor([[0.0, 3.0, -3.0]])
    loss = sgns_loss(scores, torch.tensor([[True, True]]))
    expected = -(log_sigmoid(0.0) + log_sigmoid(-3.0) + log_sigmoid(3.0))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    summed_negatives = -(log_sigmoid(0.0) + log_sigmoid(-(3.0 + -3.0)))  # the bug seen in public repos
    assert loss.item() != pytest.approx(summed_negatives, abs=1e-3)


def random_tables(vocab: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(vocab, dim, generator=g) * 0.5, torch.randn(vocab, dim, generator=g) * 0.5


def autograd_sgd_step(in_w, out_w, centers, contexts, negatives, lr):
    """The reference: SkipGramModel.forward + torch.optim.SGD on sparse gradients."""
    model = SkipGramModel(*in_w.shape, sparse=True)
    with torch.no_grad():
        model.in_embed.weight.copy_(in_w)
        model.out_embed.weight.copy_(out_w)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss = model(centers, contexts, negatives)
    loss.backward()
    assert model.in_embed.weight.grad.is_sparse
    opt.step()
    return model.in_embed.weight.detach(), model.out_embed.weight.detach(), loss.detach()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hand_written_sgd_step_equals_autograd(seed):
    vocab, dim, lr = 9, 6, 0.1
    in_w, out_w = random_tables(vocab, dim, seed)
    # Duplicate centers, contexts and negatives; a center that is also a context; a negative equal
    # to its context (row 2) and repeated negatives in one row (row 4).
    centers = torch.tensor([0, 0, 3, 5, 3, 8, 0])
    contexts = torch.tensor([1, 1, 4, 0, 3, 7, 2])
    negatives = torch.tensor([[2, 5, 7], [2, 2, 6], [4, 1, 4], [0, 0, 0], [6, 6, 1], [7, 3, 3], [1, 2, 8]])
    want_in, want_out, want_loss = autograd_sgd_step(in_w, out_w, centers, contexts, negatives, lr)
    got_in, got_out = in_w.clone(), out_w.clone()
    got_loss = sgns_sgd_step(got_in, got_out, centers, contexts, negatives, lr)
    assert got_loss.item() == pytest.approx(want_loss.item(), abs=1e-6)
    torch.testing.assert_close(got_in, want_in, rtol=0, atol=1e-6)
    torch.testing.assert_close(got_out, want_out, rtol=0, atol=1e-6)
    assert not torch.equal(got_in, in_w) and not torch.equal(got_out, out_w)  # the step did something


def test_masked_negative_gets_no_update():
    in_w, out_w = random_tables(5, 4, 7)
    before = out_w.clone()
    # Context 2 also drawn as both negatives: only the positive update may touch row 2.
    sgns_sgd_step(in_w, out_w, torch.tensor([0]), torch.tensor([2]), torch.tensor([[2, 2]]), 0.5)
    only_positive_in, only_positive_out = random_tables(5, 4, 7)
    sgns_sgd_step(only_positive_in, only_positive_out, torch.tensor([0]), torch.tensor([2]), torch.tensor([[2]]), 0.5)
    torch.testing.assert_close(out_w, only_positive_out)
    torch.testing.assert_close(in_w, only_positive_in)
    assert torch.equal(out_w[[1, 3, 4]], before[[1, 3, 4]])


def test_repeated_steps_lower_the_loss_on_a_fixed_batch():
    in_w, out_w = random_tables(20, 8, 3)
    g = torch.Generator().manual_seed(0)
    centers, contexts = torch.randint(0, 20, (64,), generator=g), torch.randint(0, 20, (64,), generator=g)
    negatives = torch.randint(0, 20, (64, 5), generator=g)
    losses = [sgns_sgd_step(in_w, out_w, centers, contexts, negatives, 0.05).item() for _ in range(20)]
    assert losses[-1] < 0.8 * losses[0]


def test_export_vectors_in_or_in_plus_out():
    model = tiny_model()
    assert torch.equal(model.vectors("in"), model.in_embed.weight.detach())
    assert torch.equal(model.vectors("in+out"), model.in_embed.weight.detach() + model.out_embed.weight.detach())
