"""Negative sampler: the alias table is exact and draws follow count ** ns_exponent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2v.data.sampler import AliasSampler, build_alias_table

N_DRAWS = 2_000_000
TV_TOLERANCE = 0.01  # sampling noise alone is ~0.002 for these vocabularies at 2M draws


def zipf_counts(n: int = 500) -> np.ndarray:
    return np.maximum(1, (100_000 / np.arange(1, n + 1)).astype(np.int64))


def table_distribution(prob: torch.Tensor, alias: torch.Tensor) -> np.ndarray:
    """The exact distribution an alias table samples: slot k keeps k w.p. prob[k], else gives alias[k]."""
    p, a = prob.double().numpy(), alias.numpy()
    n = len(p)
    return (p + np.bincount(a, weights=1.0 - p, minlength=n)) / n


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p / p.sum() - q / q.sum()).sum())


@pytest.mark.parametrize(
    "weights",
    [
        zipf_counts() ** 0.75,
        zipf_counts() ** -0.5,
        np.ones(7),
        np.array([1.0]),
        np.array([1e-6, 1.0, 3.0]),
        np.random.default_rng(0).gamma(0.3, size=10_000),
    ],
    ids=["zipf^0.75", "zipf^-0.5", "uniform", "single", "tiny-weight", "random-10k"],
)
def test_alias_table_reconstructs_the_target_exactly(weights):
    prob, alias = build_alias_table(weights)
    assert prob.shape == alias.shape == (len(weights),)
    assert ((prob >= 0) & (prob <= 1)).all() and ((alias >= 0) & (alias < len(weights))).all()
    np.testing.assert_allclose(table_distribution(prob, alias), weights / weights.sum(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [None, 99], ids=["torch-draw", "compiled-draw"])
@pytest.mark.parametrize("exponent", [0.75, -0.5])
def test_draws_follow_count_to_the_exponent(exponent, seed):
    """Both draw paths: torch ops with a Generator, and the compiled CPU draw used in training."""
    counts = zipf_counts()
    target = counts.astype(np.float64) ** exponent
    sampler = AliasSampler(target)
    gen = torch.Generator().manual_seed(123)
    draws = sampler.sample((N_DRAWS // 4, 4), gen, seed=seed)
    assert draws.dtype == torch.int64 and draws.shape == (N_DRAWS // 4, 4)
    empirical = np.bincount(draws.flatten().numpy(), minlength=len(counts)).astype(np.float64)
    assert total_variation(empirical, target) < TV_TOLERANCE
    # The test has power: the unsmoothed unigram distribution is far outside the tolerance.
    assert total_variation(empirical, counts.astype(np.float64)) > 5 * TV_TOLERANCE


def test_same_generator_seed_gives_same_draws():
    sampler = AliasSampler(zipf_counts(50) ** 0.75)
    a = sampler.sample((1000,), torch.Generator().manual_seed(7))
    b = sampler.sample((1000,), torch.Generator().manual_seed(7))
    c = sampler.sample((1000,), torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_compiled_draw_is_reproducible_from_its_seed():
    sampler = AliasSampler(zipf_counts(50) ** 0.75)
    gen = torch.Generator()
    a, b, c = (sampler.sample((1000,), gen, seed=s) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
