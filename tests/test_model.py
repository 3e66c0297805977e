"""Models and engines: word2vec's initialisation, the loss, and every (model x engine) update checked
against autograd on the same loss, and the numba kernel against the torch engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.model import assert_torch_step_equals_autograd, clone_tables
from numba import njit

from w2v.engines import numba_engine
from w2v.engines.torch_engine import sgd_step
from w2v.models.word2vec import ModelSpec, Word2VecModel, sgns_loss

COUNTS = np.array([30, 20, 12, 9, 7, 5, 4, 3, 2])  # a 9-word vocabulary, sorted as the vocab is
HAVE_NUMBA = numba_engine.HAVE_NUMBA

# (name, spec): every gensim Word2Vec model, CBOW with mean and sum, NS, HS and both.
SPECS = {
    "sg-ns": ModelSpec(sg=True, hs=False, negatives=3),
    "sg-hs": ModelSpec(sg=True, hs=True, negatives=0),
    "sg-hs+ns": ModelSpec(sg=True, hs=True, negatives=3),
    "cbow-mean-ns": ModelSpec(sg=False, cbow_mean=True, hs=False, negatives=3),
    "cbow-sum-ns": ModelSpec(sg=False, cbow_mean=False, hs=False, negatives=3),
    "cbow-mean-hs": ModelSpec(sg=False, cbow_mean=True, hs=True, negatives=0),
    "cbow-sum-hs+ns": ModelSpec(sg=False, cbow_mean=False, hs=True, negatives=3),
}


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def make_model(spec: ModelSpec, dim: int = 6, seed: int = 0) -> Word2VecModel:
    """A model whose every table holds random values (output tables start at zero otherwise)."""
    model = Word2VecModel(spec, COUNTS, dim)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def make_batch(spec: ModelSpec, distinct_negatives: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """A batch with repeated rows: duplicated inputs within and across bags, a negative equal to its
    target, an input that is also a target, and (unless ``distinct_negatives``) a negative drawn
    twice for one example."""
    targets = torch.tensor([1, 1, 4, 0, 3, 7, 2])
    if distinct_negatives:
        negatives = torch.tensor([[2, 5, 7], [2, 3, 6], [4, 1, 5], [0, 1, 2], [6, 5, 1], [7, 3, 0], [1, 2, 8]])
    else:
        negatives = torch.tensor([[2, 5, 7], [2, 2, 6], [4, 1, 4], [0, 0, 0], [6, 6, 1], [7, 3, 3], [1, 2, 8]])
    negatives = negatives[:, : spec.negatives]
    if spec.sg:
        return torch.tensor([0, 0, 3, 5, 3, 8, 0]), None, targets, negatives
    inputs = torch.tensor([0, 2, 0, 3, 5, 5, 1, 8, 3, 6, 6, 6, 4, 0, 2, 1])
    offsets = torch.tensor([0, 2, 3, 6, 8, 11, 13, 16])  # bags of 2, 1, 3, 2, 3, 2, 3 inputs
    return inputs, offsets, targets, negatives


# ---------------------------------------------------------------- initialisation and loss


def test_initialisation_is_gensims():
    dim = 50
    counts = np.arange(2000, 0, -1)
    model = Word2VecModel(ModelSpec(hs=True), counts, dim, generator=torch.Generator().manual_seed(0))
    w = model.in_embed.weight.detach()
    assert w.abs().max() <= 1.0 / dim
    assert w.max() > 0.99 / dim and w.min() < -0.99 / dim  # uniform over gensim's whole ±1/dim range, not word2vec.c's ±0.5
    assert abs(w.mean().item()) < 0.01 / dim
    assert torch.count_nonzero(model.out_embed.weight) == 0 and torch.count_nonzero(model.hs_embed.weight) == 0
    assert model.out_embed.weight.shape == (2000, dim) and model.hs_embed.weight.shape == (1999, dim)
    assert model.in_embed.sparse and model.out_embed.sparse


def test_tables_follow_the_spec():
    pure_hs = Word2VecModel(ModelSpec(hs=True, negatives=0), COUNTS, 4)
    assert pure_hs.out_embed.weight.shape == (0, 4) and pure_hs.hs_embed.weight.shape == (8, 4)
    ns = Word2VecModel(ModelSpec(), COUNTS, 4)
    assert ns.hs_embed.weight.shape == (0, 4) and ns.points.numel() == 0
    assert "points" not in ns.state_dict()  # rebuilt from the counts, not stored


def test_initialisation_is_seeded():
    a = Word2VecModel(ModelSpec(), COUNTS, 4, generator=torch.Generator().manual_seed(3))
    b = Word2VecModel(ModelSpec(), COUNTS, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.in_embed.weight, b.in_embed.weight)


def tiny_model() -> Word2VecModel:
    model = Word2VecModel(ModelSpec(negatives=2), np.array([4, 3, 2, 1]), 2)
    with torch.no_grad():
        model.in_embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5], [-1.0, 1.0]]))
        model.out_embed.weight.copy_(torch.tensor([[0.3, -0.2], [1.0, 1.0], [-0.5, 0.25], [2.0, 0.0]]))
    return model


def test_loss_equals_a_hand_computed_value():
    model = tiny_model()
    # center 1 (h = [0, 2]); context 2 (u = [-0.5, 0.25]: score 0.5); negatives 0 (score -0.4) and 3 (score 0).
    loss = model(torch.tensor([1]), None, torch.tensor([2]), torch.tensor([[0, 3]]))
    expected = -(log_sigmoid(0.5) + log_sigmoid(0.4) + log_sigmoid(-0.0))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_loss_is_summed_over_the_batch_and_skips_a_negative_equal_to_the_context():
    model = tiny_model()
    # Row 2: center 0 (h = [1, 0]), context 3 (score 2), negatives 3 (= context: skipped) and 1 (score 1).
    loss = model(torch.tensor([1, 0]), None, torch.tensor([2, 3]), torch.tensor([[0, 3], [3, 1]]))
    row1 = -(log_sigmoid(0.5) + log_sigmoid(0.4) + log_sigmoid(0.0))
    row2 = -(log_sigmoid(2.0) + log_sigmoid(-1.0))
    assert loss.item() == pytest.approx(row1 + row2, abs=1e-6)


def test_hierarchical_softmax_loss_walks_the_huffman_path():
    model = make_model(SPECS["sg-hs"], dim=3)
    tables = model.tables()
    center, target = 4, 6
    h = tables.in_w[center]
    expected = 0.0
    for j in range(int(tables.lengths[target])):
        s = float(tables.hs_w[tables.points[target, j]] @ h)
        expected -= log_sigmoid(s if tables.codes[target, j] == 0 else -s)  # p(branch) = σ((1 - 2·code)·u·h)
    loss = model(torch.tensor([center]), None, torch.tensor([target]), torch.zeros(1, 0, dtype=torch.int64))
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_cbow_hidden_vector_is_the_mean_or_sum_of_the_bag():
    for mean in (True, False):
        model = make_model(ModelSpec(sg=False, cbow_mean=mean))
        h = model.hidden(torch.tensor([0, 2, 2, 5]), torch.tensor([0, 3, 4]))
        w = model.in_embed.weight.detach()
        first = w[[0, 2, 2]].sum(0) / (3 if mean else 1)
        torch.testing.assert_close(h[0].detach(), first)
        torch.testing.assert_close(h[1].detach(), w[5])


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


# ---------------------------------------------------------------- the update against autograd (tests/helpers/model.py)


def exact_gradient_step(model: Word2VecModel, batch, lr):
    """torch.optim.SGD on the model's loss: the exact gradient of every table."""
    opt = torch.optim.SGD([p for p in model.parameters() if p.shape[0]], lr=lr)
    loss = model(*batch)
    loss.backward()
    opt.step()
    return loss.item()


@pytest.mark.parametrize("name", list(SPECS))
def test_torch_update_equals_autograd(name):
    spec, lr = SPECS[name], 0.1
    model = make_model(spec, seed=1)
    batch = make_batch(spec)
    got = assert_torch_step_equals_autograd(model, spec, batch, lr)
    assert not torch.equal(got.in_w, model.tables().in_w)  # the step did something


@pytest.mark.parametrize("name", ["sg-ns", "sg-hs", "sg-hs+ns"])
def test_skipgram_update_is_the_exact_gradient(name):
    """For skip-gram word2vec's update is plain SGD on the loss: torch.optim.SGD agrees."""
    spec, lr = SPECS[name], 0.1
    model = make_model(spec, seed=2)
    batch = make_batch(spec)
    got = clone_tables(model)
    got_loss = sgd_step(got, spec, *batch, lr)
    want_loss = exact_gradient_step(model, batch, lr)
    assert got_loss.item() == pytest.approx(want_loss, abs=1e-5)
    for a, b in zip(got[:3], model.tables()[:3]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_cbow_mean_input_update_is_count_times_the_exact_gradient():
    """The documented deviation (gensim #1873, İrsoy et al. 2020): with cbow_mean, word2vec.c and
    gensim give every context row the whole error, `count` times the exact gradient of the mean."""
    spec, lr = ModelSpec(sg=False, cbow_mean=True, negatives=3), 0.1
    model = make_model(spec, seed=3)
    inputs, offsets, targets, negatives = torch.tensor([1, 4, 6]), torch.tensor([0, 3]), torch.tensor([2]), torch.tensor([[0, 5, 8]])
    w2v = clone_tables(model)
    sgd_step(w2v, spec, inputs, offsets, targets, negatives, lr)
    before = model.tables().in_w.clone()
    exact_gradient_step(model, (inputs, offsets, targets, negatives), lr)
    exact = model.tables().in_w
    torch.testing.assert_close(w2v.in_w[inputs] - before[inputs], 3 * (exact[inputs] - before[inputs]), rtol=0, atol=1e-6)
    torch.testing.assert_close(w2v.out_w, model.tables().out_w, rtol=0, atol=1e-6)  # the output side is exact


@pytest.mark.parametrize("engine", ["torch", "numba"])
def test_a_saturated_hierarchical_softmax_node_is_not_updated(engine):
    """word2vec.c and gensim skip a node whose |u·h| >= MAX_EXP (6); its loss still counts."""
    if engine == "numba" and not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    spec = ModelSpec(hs=True, negatives=0)
    tables = clone_tables(make_model(spec, dim=4, seed=0))
    root = len(COUNTS) - 2
    tables.in_w[0] = 1.0
    tables.hs_w[root] = 2.0  # score 8 at the root, on every path
    before = tables.hs_w.clone()
    batch = (torch.tensor([0]), None, torch.tensor([8]), torch.zeros(1, 0, dtype=torch.int64))
    step = sgd_step if engine == "torch" else numba_engine.word2vec_step_cpu
    loss = step(tables, spec, *batch, 0.1)
    path = tables.points[8, : tables.lengths[8]].tolist()
    assert torch.equal(tables.hs_w[root], before[root])
    assert all(not torch.equal(tables.hs_w[n], before[n]) for n in path if n != root)
    code = float(tables.codes[8, 0])
    assert loss.item() >= -math.log(1 / (1 + math.exp(-8.0 if code == 0 else 8.0)))  # the root's loss is counted


def test_cbow_mean_changes_the_update():
    inputs, offsets, targets, negatives = (
        torch.tensor([1, 4, 6, 0, 3]),
        torch.tensor([0, 3, 5]),
        torch.tensor([2, 7]),
        torch.tensor([[0, 5], [8, 8]]),
    )
    results = {}
    for mean in (True, False):
        spec = ModelSpec(sg=False, cbow_mean=mean, negatives=2)
        tables = clone_tables(make_model(spec, seed=4))
        sgd_step(tables, spec, inputs, offsets, targets, negatives, 0.1)
        results[mean] = tables
    assert not torch.allclose(results[True].in_w, results[False].in_w, atol=1e-4)
    assert not torch.allclose(results[True].out_w, results[False].out_w, atol=1e-4)
    # A bag of one: mean and sum are the same model.
    for mean in (True, False):
        spec = ModelSpec(sg=False, cbow_mean=mean, negatives=2)
        tables = clone_tables(make_model(spec, seed=4))
        sgd_step(tables, spec, torch.tensor([3]), torch.tensor([0, 1]), torch.tensor([2]), torch.tensor([[0, 5]]), 0.1)
        results[mean] = tables
    torch.testing.assert_close(results[True].in_w, results[False].in_w)


def test_masked_negative_gets_no_update():
    spec = ModelSpec(negatives=2)
    model = make_model(spec, seed=7)
    tables, before = clone_tables(model), model.tables().out_w.clone()
    # Context 2 also drawn as both negatives: only the positive update may touch row 2.
    sgd_step(tables, spec, torch.tensor([0]), None, torch.tensor([2]), torch.tensor([[2, 2]]), 0.5)
    only_positive = clone_tables(model)
    sgd_step(only_positive, ModelSpec(negatives=1), torch.tensor([0]), None, torch.tensor([2]), torch.tensor([[2]]), 0.5)
    torch.testing.assert_close(tables.out_w, only_positive.out_w)
    torch.testing.assert_close(tables.in_w, only_positive.in_w)
    assert torch.equal(tables.out_w[[1, 3, 4]], before[[1, 3, 4]])


@pytest.mark.parametrize("name", list(SPECS))
def test_repeated_steps_lower_the_loss_on_a_fixed_batch(name):
    spec = SPECS[name]
    tables = clone_tables(make_model(spec, seed=3))
    batch = make_batch(spec)
    losses = [sgd_step(tables, spec, *batch, 0.05).item() for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0]


def test_export_vectors_in_or_in_plus_out():
    model = tiny_model()
    assert torch.equal(model.vectors("in"), model.in_embed.weight.detach())
    assert torch.equal(model.vectors("in+out"), model.in_embed.weight.detach() + model.out_embed.weight.detach())
    w, c = model.in_embed.weight.detach().numpy(), model.out_embed.weight.detach().numpy()
    unit = w / np.linalg.norm(w, axis=1, keepdims=True) + c / np.linalg.norm(c, axis=1, keepdims=True)
    np.testing.assert_allclose(model.vectors("in+out_norm").numpy(), unit, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the numba kernel against the torch engine


def example(batch, e):
    """Batch with only example ``e``."""
    inputs, offsets, targets, negatives = batch
    if offsets is None:
        return inputs[e : e + 1], None, targets[e : e + 1], negatives[e : e + 1]
    a, b = int(offsets[e]), int(offsets[e + 1])
    return inputs[a:b], torch.tensor([0, b - a]), targets[e : e + 1], negatives[e : e + 1]


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("name", list(SPECS))
def test_numba_kernel_equals_the_torch_engine_applied_example_by_example(name):
    """One thread walks the batch in order, so it must equal the torch step on one example at a time.

    Within an example the kernel updates a row before it reads the next one, as word2vec.c does, so
    a negative drawn twice for one example sees its first update; the summed torch step cannot, and
    this batch draws no negative twice for one example (word2vec.c's own per-example behaviour).
    """
    spec = SPECS[name]
    model = make_model(spec, dim=20, seed=5)
    batch = make_batch(spec, distinct_negatives=True)
    want = clone_tables(model)
    want_loss = sum(sgd_step(want, spec, *example(batch, e), 0.05).item() for e in range(len(batch[2])))
    numba_engine.set_threads(1)
    got = clone_tables(model)
    got_loss = numba_engine.word2vec_step_cpu(got, spec, *batch, 0.05).item()
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    for a, b in zip(got[:3], want[:3]):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("name", [n for n, spec in SPECS.items() if spec.negatives > 0])
@pytest.mark.parametrize("distinct", [True, False])
def test_numba_kernel_skips_saturated_negative_sampling_rows_as_the_torch_engine(name, distinct):
    """ns_skip_saturated (gensim's rule): a negative-sampling row with |u·h| >= 6 gets no update, in the kernel's
    three passes (distinct rows) and in its row-by-row loop (a negative drawn twice) alike, example by example as
    the torch step does it; without the rule the same rows move."""
    spec = SPECS[name]
    model = make_model(spec, dim=20, seed=5)
    with torch.no_grad():  # scores of a few units: some rows past |u·h| = 6, most below
        for p in model.parameters():
            p.mul_(2.2 if spec.sg else 3.5)  # a CBOW window's mean is shorter than its rows
    batch = make_batch(spec, distinct_negatives=distinct)
    inputs, offsets, targets, negatives = batch
    in_w, out_w = model.tables().in_w.detach(), model.tables().out_w.detach()
    if offsets is None:
        h = in_w[inputs]
    else:
        bags = [in_w[inputs[a:b]] for a, b in zip(offsets[:-1], offsets[1:])]
        h = torch.stack([bag.mean(0) if spec.cbow_mean else bag.sum(0) for bag in bags])
    scores = (out_w[torch.cat([targets[:, None], negatives], 1)] * h.unsqueeze(1)).sum(-1)
    assert (scores.abs() >= 6).any() and (scores.abs() < 6).any()
    numba_engine.set_threads(1)
    moved = {}
    for skip in (True, False):
        want = clone_tables(model)
        for e in range(len(batch[2])):
            sgd_step(want, spec, *example(batch, e), 0.05, ns_skip_saturated=skip)
        got = clone_tables(model)
        numba_engine.word2vec_step_cpu(got, spec, *batch, 0.05, skip)
        if distinct:
            for a, b in zip(got[:3], want[:3]):
                torch.testing.assert_close(a, b, rtol=0, atol=5e-6)
        moved[skip] = got.out_w.clone()
    assert not torch.equal(moved[True], moved[False])  # the rule changed which rows moved


def test_table_scores_are_where_word2vec_c_and_gensim_read_their_sigma_table():
    from w2v.engines.torch_engine import table_scores

    # index int((f + 6) * 83): 1000 / 6 / 2 in C integer arithmetic; the entry is σ(-6 + 0.012 index)
    f = torch.tensor([0.0, 1.0, -2.5, 5.99, -5.99, 6.0, -7.0, 40.0])
    want = [-6 + 0.012 * math.floor((x + 6) * 83) if abs(x) < 6 else x for x in f.tolist()]
    torch.testing.assert_close(table_scores(f), torch.tensor(want), rtol=0, atol=1e-5)
    assert table_scores(torch.tensor([0.0])).item() == pytest.approx(-0.024, abs=1e-6)  # σ(0) reads 0.494, not 0.5

    @njit(error_model="numpy", fastmath=numba_engine._FASTMATH)
    def kernel_points(scores):  # pragma: no cover - compiled
        out = np.empty_like(scores)
        for j in range(scores.shape[0]):
            out[j] = numba_engine.sigma_arg(scores[j], True)
        return out

    scores = np.random.default_rng(0).uniform(-8, 8, 2000).astype(np.float32)
    np.testing.assert_allclose(kernel_points(scores), table_scores(torch.from_numpy(scores)).numpy(), rtol=0, atol=1e-5)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("name", list(SPECS))
def test_numba_kernel_takes_the_sigma_table_as_the_torch_engine(name):
    """sigma_table: σ and the loss at word2vec.c's table points, in the kernel's three passes, its SIMD σ pass for a
    Huffman path and its row-by-row loop alike, example by example as the torch step does it; the tables differ
    from the exact σ's."""
    spec = SPECS[name]
    model = make_model(spec, dim=20, seed=5)
    batch = make_batch(spec, distinct_negatives=True)
    numba_engine.set_threads(1)
    want = clone_tables(model)
    want_loss = sum(sgd_step(want, spec, *example(batch, e), 0.05, sigma_table=True).item() for e in range(len(batch[2])))
    got = clone_tables(model)
    got_loss = numba_engine.word2vec_step_cpu(got, spec, *batch, 0.05, False, True).item()
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    for a, b in zip(got[:3], want[:3]):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)
    exact = clone_tables(model)
    numba_engine.word2vec_step_cpu(exact, spec, *batch, 0.05)
    assert not torch.equal(exact.in_w, got.in_w)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("name", list(SPECS))
def test_numba_kernel_equals_the_torch_batch_update_when_no_row_repeats(name):
    """Without shared rows the order does not matter: summed (torch) = sequential (numba), on one batch."""
    spec = SPECS[name]
    counts = np.arange(400, 0, -1)
    model = Word2VecModel(spec, counts, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    # Disjoint rows everywhere: inputs 0..; targets and negatives from the back of the vocabulary.
    n = 6
    targets = torch.arange(399, 399 - n, -1)
    negatives = torch.arange(300, 300 - n * spec.negatives, -1).view(n, spec.negatives)
    if spec.sg:
        inputs, offsets = torch.arange(n), None
    else:
        inputs, offsets = torch.arange(3 * n), torch.arange(0, 3 * n + 1, 3)
    if spec.hs:  # inner nodes are shared by every path (the root): keep one example
        targets, negatives, n = targets[:1], negatives[:1], 1
        inputs, offsets = (inputs[:1], None) if spec.sg else (inputs[:3], offsets[:2])
    want = clone_tables(model)
    sgd_step(want, spec, inputs, offsets, targets, negatives, 0.1)
    numba_engine.set_threads(2)
    got = clone_tables(model)
    numba_engine.word2vec_step_cpu(got, spec, inputs, offsets, targets, negatives, 0.1)
    for a, b in zip(got[:3], want[:3]):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)


# ------------------------------------------------------------ the σ pass's exponential and its blocks


def test_exp_nonpositive_is_exp_to_float32_rounding():
    """The σ pass's branch-free exp: within 2.1e-7 of exp over the range a score reaches, exp(-87) below it, NaN kept."""

    @njit(error_model="numpy")
    def exps(x):  # pragma: no cover - compiled
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = numba_engine.exp_nonpositive(x[i])
        return out

    x = -np.linspace(0.0, 87.0, 200_001).astype(np.float32)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(exps(x) - want) / want) < 2.1e-7
    tail = exps(np.array([-87.0, -100.0, -np.inf], np.float32))
    assert np.all(tail == tail[0]) and tail[0] == pytest.approx(math.exp(-87.0), rel=1e-6)
    assert np.isnan(exps(np.array([np.nan], np.float32))[0])


@pytest.mark.parametrize("length", [1, 6, 17, 64, 65, 150])  # short paths, NS's six rows, and past one 64-node block
def test_gradients_pass_is_sigma_and_softplus_for_any_path_length(length):
    rng = np.random.default_rng(length)
    scores = rng.normal(0, 4, length).astype(np.float32)
    scores[0] = 7.5  # saturated: word2vec.c's hierarchical softmax leaves it alone
    codes = rng.integers(0, 2, length).astype(np.float32)

    @njit(error_model="numpy", fastmath=numba_engine._FASTMATH)
    def grads(g, codes, length, skip):  # pragma: no cover - compiled
        return numba_engine._gradients(g, codes, length, np.float32(0.1), skip)

    for skip in (True, False):
        g = scores.copy()
        linear, folded, product = grads(g, codes, length, int(skip))  # the kernels' rule: RULE_SKIP or none
        f, label = scores.astype(np.float64), 1.0 - codes
        sig = 1.0 / (1.0 + np.exp(-f))
        want = (label - sig) * 0.1
        if skip:
            want[np.abs(f) >= 6.0] = 0.0
        np.testing.assert_allclose(g, want, rtol=0, atol=1e-7)
        softplus = np.logaddexp(0.0, np.where(label == 0.0, f, -f))  # -log σ(±f)
        assert linear + folded + math.log(product) == pytest.approx(softplus.sum(), rel=1e-6)
