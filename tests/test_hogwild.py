"""engine=hogwild (w2v/engines/hogwild.py): span chunks, each compiled stage, and whole runs.

Stages: the stream's span chunks and per-block word counts; reading a sentence (mapping, min_count,
subsampling); the examples of a piece of centers (the same pairs and windows as the example stream);
the negatives' distribution. Runs: every model trains, one thread is deterministic, an interrupted
run resumes to the same bits, and the loss stays finite where the old float32 exp overflowed.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from helpers import make_synthetic_text, write_text_file

from w2v.data.batches import SpanChunk
from w2v.data.sampler import build_alias_table
from w2v.data.stream import StreamConfig, Word2VecStream, window_pairs
from w2v.engines import hogwild, numba_engine
from w2v.engines.torch_engine import sgd_step
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.train.checkpoint import load_checkpoint
from w2v.train.trainer import train

pytestmark = pytest.mark.skipif(not hogwild.HAVE_NUMBA, reason="numba is not installed")


def _stream(tmp_path, ids, remap, block_tokens=5, **kw):
    path = tmp_path / "corpus.ids"
    np.asarray(ids, dtype=np.int32).tofile(path)
    v = int(np.max(remap)) + 1
    cfg = StreamConfig(window=2, negatives=2, batch_size=8, block_tokens=block_tokens, token_chunks=2, spans=True, **kw)
    return Word2VecStream(path, np.asarray(remap), np.ones(v, np.float32), np.ones(v), cfg)


def test_span_chunks_are_views_of_the_blocks_and_count_their_words(tmp_path):
    # provisional ids 0..4; id 3 is below min_count (remap -1); -1 separates sentences
    ids = [0, 1, -1, 2, 3, 4, 0, -1, 1, 1, 3, 3, 2, -1, 0]
    stream = _stream(tmp_path, ids, [0, 1, 2, -1, 3])
    assert stream.n_blocks == 3
    assert stream.words_per_block().tolist() == [stream.block_words(b) for b in range(3)] == [3, 4, 2]
    span = stream.token_chunk([0, 2])  # not contiguous: a held-out block between is skipped
    assert isinstance(span, SpanChunk) and span.blocks.tolist() == [0, 2] and span.block_words.tolist() == [3, 2]
    assert span.words == 5 and (span.first_block, span.block) == (0, 2) and span.resume_at() == (3, 0)
    for i, block in enumerate(span.blocks):
        assert span.ids[span.lo[i] : span.hi[i]].tolist() == stream.raw_block(int(block)).tolist()
    assert not span.ids.flags.owndata, "a span is a view of the memory-mapped id file, not a copy"


def test_read_sentence_maps_drops_and_subsamples():
    ids = np.array([0, 1, 3, 2, -1, 4, 4], dtype=np.int32)
    remap = np.array([0, 1, 2, -1, 3], dtype=np.int32)
    sen = np.empty(7, dtype=np.int64)
    n, pos, _ = hogwild.read_sentence(ids, 0, 7, remap, np.ones(4, np.float32), np.uint64(1), sen)
    assert (n, pos) == (3, 5) and sen[:3].tolist() == [0, 1, 2]  # id 3 dropped, the separator consumed
    n, pos, _ = hogwild.read_sentence(ids, pos, 7, remap, np.ones(4, np.float32), np.uint64(1), sen)
    assert (n, pos) == (2, 7) and sen[:2].tolist() == [3, 3]
    # subsampling keeps a word with its keep probability
    many = np.zeros(20000, dtype=np.int32)
    keep = np.array([0.3], np.float32)
    n, _, _ = hogwild.read_sentence(many, 0, len(many), np.array([0], np.int32), keep, np.uint64(7), np.empty(20000, np.int64))
    assert abs(n / 20000 - 0.3) < 0.02


def _piece(sen, radius, cbow, share=0, negatives=2, window=3):
    n = len(sen)
    prob, alias = build_alias_table(np.ones(10))
    size = n * 2 * window
    out = (np.empty(size, np.int64), np.empty(size + 1, np.int64), np.empty(size, np.int64), np.empty((size, negatives), np.int64))
    e, _ = hogwild.piece_examples(
        np.asarray(sen, np.int64), n, 0, n, np.asarray(radius, np.int64), hogwild._EMPTY_I64, hogwild._EMPTY_I64,
        prob.numpy(), alias.numpy().astype(np.int64), negatives, cbow, share, np.uint64(3), *out,
    )  # fmt: skip
    inputs, offsets, targets, negs = out
    return e, inputs, offsets, targets, negs


def test_piece_examples_are_the_example_streams_pairs_in_center_order():
    sen, radius = [5, 1, 7, 2, 9, 4], [1, 3, 2, 1, 3, 2]
    e, inputs, _, targets, _ = _piece(sen, radius, cbow=False)
    centers, contexts, _ = window_pairs(torch.tensor(sen), torch.zeros(6, dtype=torch.long), torch.tensor(radius), 3, center_order=True)
    # word2vec.c's roles: the context word is the input, the center the target
    assert targets[:e].tolist() == centers.tolist() and inputs[:e].tolist() == contexts.tolist()


def test_piece_examples_make_one_cbow_window_per_center():
    sen, radius = [5, 1, 7, 2], [1, 2, 1, 3]
    e, inputs, offsets, targets, _ = _piece(sen, radius, cbow=True)
    assert e == 4 and targets[:4].tolist() == sen
    bags = [inputs[offsets[i] : offsets[i + 1]].tolist() for i in range(4)]
    assert bags == [[1], [5, 7, 2], [1, 2], [5, 1, 7]]


def test_shared_negatives_are_drawn_once_per_center():
    sen, radius = [5, 1, 7, 2, 9], [2, 2, 2, 2, 2]
    e, _, _, targets, negs = _piece(sen, radius, cbow=False, share=2, negatives=4)
    for center in set(targets[:e].tolist()):
        rows = negs[:e][targets[:e] == center]
        assert (rows == rows[0]).all()
    e, _, _, targets, negs = _piece(sen, radius, cbow=False, share=0, negatives=4)
    assert len({tuple(r) for r in negs[:e].tolist()}) > len(set(targets[:e].tolist()))


def test_window_runs_end_at_a_new_center_new_negatives_a_repeated_context_or_the_cap():
    targets = np.array([4, 4, 4, 4, 4, 7, 7, 7, 7], np.int64)
    inputs = np.array([1, 2, 3, 5, 6, 1, 2, 1, 3], np.int64)
    none = np.zeros((9, 0), np.int64)  # hierarchical softmax: no negatives
    assert hogwild._run_end(inputs, targets, none, 0, 9, 10) == 5  # center 4's five pairs
    assert hogwild._run_end(inputs, targets, none, 0, 9, 3) == 3  # at most `most` pairs
    assert hogwild._run_end(inputs, targets, none, 0, 4, 10) == 4  # the piece ends
    assert hogwild._run_end(inputs, targets, none, 5, 9, 10) == 7  # context 1 again: that pair starts the next run
    assert hogwild._run_end(inputs, targets, none, 7, 9, 10) == 9
    # The same word twice as consecutive centers: one target, but each center drew its own negatives.
    negs = np.array([[8, 9]] * 3 + [[4, 6]] * 6, np.int64)
    assert hogwild._run_end(inputs, targets, negs, 0, 9, 10) == 3


def test_window_run_rows_are_the_target_then_the_negatives_but_the_target():
    targets, rows = np.array([4, 4], np.int64), np.empty(4, np.int64)
    n = hogwild._run_rows(targets, np.array([[9, 4, 2], [9, 4, 2]], np.int64), 0, rows)
    assert n == 3 and rows[:n].tolist() == [4, 9, 2]


def _batched_step_reference(in_w, hs_w, contexts, nodes, codes, lr, skip_saturated):
    """batch_windows' step in float64 numpy: every score from the rows before the step, then every update."""
    h, u = in_w[contexts].astype(np.float64), hs_w[nodes].astype(np.float64)
    f = h @ u.T  # (contexts, nodes)
    label = 1.0 - codes.astype(np.float64)
    g = (label - 1.0 / (1.0 + np.exp(-f))) * lr
    if skip_saturated:
        g = np.where(np.abs(f) >= numba_engine.MAX_EXP, 0.0, g)
    loss = np.logaddexp(0.0, np.where(label == 0.0, f, -f)).sum()
    in_new, hs_new = in_w.astype(np.float64), hs_w.astype(np.float64)
    in_new[contexts] += g @ u
    hs_new[nodes] += g.T @ h
    return in_new, hs_new, loss


@pytest.mark.parametrize("pairs", [1, 3, 4, 7, 10])  # below, at and past the four-row blocks
@pytest.mark.parametrize("top", [0, 3])  # the tree's top rows in the thread's private copy, or shared
@pytest.mark.parametrize("hs", [True, False])  # a Huffman path (saturated nodes skipped), or a target and negatives
def test_batched_window_update_is_one_batched_step(pairs, top, hs):
    rng = np.random.default_rng(pairs)
    vocab, dim, depth = 30, 37, 9
    in_w = rng.normal(0, 0.3, (vocab, dim)).astype(np.float32)
    hs_w = rng.normal(0, 0.3, (vocab - 1, dim)).astype(np.float32)
    hs_w[5] *= 30  # one node past |u·h| >= 6 for some context: word2vec.c leaves it alone
    # A path: the root and its child (the private rows when top > 0), inner nodes, and node 5 last.
    nodes = np.concatenate([[vocab - 2, vocab - 3], rng.choice(np.arange(6, vocab - 3), depth - 3, replace=False), [5]]).astype(np.int64)
    codes = rng.integers(0, 2, depth).astype(np.float32)
    contexts = rng.choice(vocab, pairs, replace=False).astype(np.int64)
    want_in, want_hs, want_loss = _batched_step_reference(in_w, hs_w, contexts, nodes, codes, 0.2, hs)
    assert np.abs(want_hs - hs_w).max() > 0.01  # the step moves the rows
    top_w = hs_w[vocab - 1 - top :].copy()
    H, E = np.empty((10, dim), np.float32), np.empty((10, dim), np.float32)
    G = np.empty(2 * 10 * depth, np.float32)
    linear, logs = numba_engine.batched_window_update(
        in_w, hs_w, top_w, contexts, 0, pairs, nodes, codes, depth, np.float32(0.2), H, E, G, int(hs)
    )
    hs_w[vocab - 1 - top :] = top_w  # what merge_top_nodes hands back
    np.testing.assert_allclose(in_w, want_in, rtol=0, atol=2e-5)
    np.testing.assert_allclose(hs_w, want_hs, rtol=0, atol=2e-5)
    assert float(linear) + logs == pytest.approx(want_loss, rel=1e-5)


def test_cbow_shares_one_draw_per_group_of_windows():
    sen, radius = list(range(1, 9)), [2] * 8  # 8 windows, groups of 3: windows 0-2, 3-5, 6-7
    e, _, _, targets, negs = _piece(sen, radius, cbow=True, share=3, negatives=4)
    assert e == 8 and targets[:8].tolist() == sen
    groups = [negs[0:3], negs[3:6], negs[6:8]]
    for rows in groups:
        assert (rows == rows[0]).all()
    assert len({tuple(g[0]) for g in groups}) == 3  # each group drew its own
    e, _, _, _, negs = _piece(sen, radius, cbow=True, share=0, negatives=4)
    assert len({tuple(r) for r in negs[:8].tolist()}) > 3  # off: every window draws


def test_negatives_follow_the_noise_distribution():
    weights = np.array([8.0, 4.0, 2.0, 1.0, 1.0])
    prob, alias = build_alias_table(weights)
    prob, alias, state = prob.numpy(), alias.numpy().astype(np.int64), np.uint64(11)
    counts = np.zeros(5)
    for _ in range(40000):
        word, state = hogwild.draw_negative(np.uint64(state), prob, alias)  # boxed as a Python int: keep it unsigned
        counts[word] += 1
    np.testing.assert_allclose(counts / counts.sum(), weights / weights.sum(), atol=0.01)


# --------------------------------------------------------------- the loss stays finite for any score


@pytest.mark.parametrize("step", ["numba", "torch"])
@pytest.mark.parametrize("sg", [True, False])
def test_loss_is_finite_and_exact_for_scores_past_float32_exp_range(step, sg):
    """|u·h| around 100-300 (healthy rows of norm 20-40 reach it): the loss is the reference's, not inf.

    The numba kernel took exp(-f) of a float32 score, which overflows past 88.7, so runs with large
    but healthy rows stopped as 'diverged' (word2vec.c's text8 demo settings, in epoch 5).
    """
    spec = ModelSpec(sg=sg, negatives=3)
    model = Word2VecModel(spec, np.array([5, 4, 3, 2, 1]), 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.in_embed.weight.copy_(torch.full((5, 8), 4.0) * torch.tensor([1, -1, 1, -1, 1.0]).unsqueeze(1))
        model.out_embed.weight.copy_(torch.full((5, 8), 5.0))
    # One example, so the sequential kernel scores every row before it updates any.
    inputs, targets = (torch.tensor([1]), torch.tensor([0])) if sg else (torch.tensor([1, 3]), torch.tensor([0]))
    offsets = None if sg else torch.tensor([0, 2])
    negatives = torch.tensor([[2, 3, 4]])
    with torch.no_grad():
        want = model(inputs, offsets, targets, negatives).item()  # the autograd reference, logsigmoid per score
        scores = model.hidden(inputs, offsets) @ model.out_embed.weight.T
    assert scores.abs().max().item() > 100 and np.isfinite(want)
    fn = numba_engine.word2vec_step_cpu if step == "numba" else sgd_step
    got = fn(model.tables(), spec, inputs, offsets, targets, negatives, 0.01)
    got = float(got if not isinstance(got, tuple) else got[0])
    assert np.isfinite(got) and got == pytest.approx(want, rel=1e-4)


# --------------------------------------------------------------------------------------- whole runs

MODELS = {
    "sg-ns": ["model=sg"],  # auto: shared negatives in batched windows
    "sg-ns-per-pair": ["model=sg", "shared_negatives=false", "batch_windows=false"],  # word2vec.c's arithmetic
    "sg-hs": ["model=sg", "hs=true", "negatives=0"],
    "cbow-ns": ["model=cbow"],
    "cbow-hs": ["model=cbow", "hs=true", "negatives=0"],
    "sg-hs-shared-tree": ["model=sg", "hs=true", "negatives=0", "hs_private_nodes=0"],
    "cbow-hs-private-4": ["model=cbow", "hs=true", "hs_private_nodes=4"],
    "cbow-sum": ["model=cbow", "cbow_mean=false"],
    "sg-shared": ["model=sg", "shared_negatives=true", "batch_windows=false"],  # shared draws, pair by pair
    "sg-hs-batched": ["model=sg", "hs=true", "negatives=0", "batch_windows=true"],
    "sg-shared-batched": ["model=sg", "shared_negatives=true", "batch_windows=true"],
    "cbow-shared": ["model=cbow", "shared_negatives=true"],
    "fasttext": ["model=fasttext", "subwords.bucket=1000"],
    "sg-ns-private-8": ["model=sg", "private_rows=8"],  # the 8 most frequent words' rows private, the rest shared
    "cbow-ns-private-8": ["model=cbow", "private_rows=8"],
    "sg-hs-private-8": ["model=sg", "hs=true", "negatives=0", "private_rows=8"],  # input rows only: paths stay shared
    "cbow-ns-all-shared": ["model=cbow", "private_rows=0"],
}


def _overrides(corpus, tmp_path, *extra):
    return [
        "corpus=text", f"corpus.path={corpus}", "eval=none", "min_count=1", "dim=16", "epochs=3", "engine=hogwild",
        "checkpoint_every_minutes=0", "block_tokens=256", "chunk_tokens=1024", "heldout=0", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_text_file(tmp_path_factory.mktemp("hw") / "c.txt", make_synthetic_text(300, 60, 20))


# What each model trains with when the levers are left null (auto): w2v.engines.levers.window_levers' rule.
AUTO_LEVERS = {
    "sg-ns": (True, True), "sg-hs": (False, False), "cbow-ns": (False, False), "cbow-hs": (False, False), "fasttext": (False, False),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_trains_and_lowers_its_loss(name, corpus, tmp_path, compose_cfg):
    metrics = train(compose_cfg(_overrides(corpus, tmp_path, "threads=2", *MODELS[name])), tmp_path / "run")
    losses = metrics["epoch_loss"]
    assert metrics["engine"] == "hogwild" and all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert metrics["words_done"] == 3 * metrics["train_words"]
    if name in AUTO_LEVERS:  # metrics.json says what the run trained with
        assert (metrics["shared_negatives"], metrics["batch_windows"]) == AUTO_LEVERS[name]
    if name.endswith("per-pair"):
        assert (metrics["shared_negatives"], metrics["batch_windows"]) == (False, False)


def test_the_kernel_and_block_counts_are_ready_before_training(corpus, tmp_path, compose_cfg, monkeypatch):
    # The first chunk must not load the kernel (a new signature) nor count the id file's words: that is
    # setup, done in attach() before fit() starts the training clock.
    seen, counted = [], {}
    real_step, real_attach = hogwild.HogwildEngine.step, hogwild.HogwildEngine.attach

    def step(self, span, lr, lr_end):
        seen.append((len(hogwild._train_blocks.signatures), counted["stream"]._block_words is not None))
        return real_step(self, span, lr, lr_end)

    def attach(self, stream):
        real_attach(self, stream)
        counted["stream"] = stream
        counted["signatures"] = len(hogwild._train_blocks.signatures)

    monkeypatch.setattr(hogwild.HogwildEngine, "attach", attach)
    monkeypatch.setattr(hogwild.HogwildEngine, "step", step)
    train(compose_cfg(_overrides(corpus, tmp_path, "threads=1", "epochs=1")), tmp_path / "run")
    assert seen and all(n == counted["signatures"] and ready for n, ready in seen)


def test_two_threads_train_every_block_once_with_one_threads_examples(corpus, tmp_path, compose_cfg, monkeypatch):
    # The threads share a chunk's blocks out: every block must be trained, and by one thread only, so each block
    # makes the examples it makes on one thread (its seed is its own, whoever trains it).
    real = hogwild._train_blocks
    for threads in (1, 2):
        per_block = []

        def record(*args, per_block=per_block):
            real(*args)
            losses, examples = args[-2], args[-1]
            per_block.extend(zip(losses.tolist(), examples.tolist()))

        monkeypatch.setattr(hogwild, "_train_blocks", record)
        train(compose_cfg(_overrides(corpus, tmp_path, f"threads={threads}", "epochs=1", "block_tokens=64")), tmp_path / f"t{threads}")
        if threads == 1:
            one = per_block
    assert len(per_block) == len(one) > 32  # more blocks than one two-thread chunk holds
    assert [e for _, e in per_block] == [e for _, e in one] and all(e > 0 and loss > 0 for loss, e in per_block)


@pytest.mark.parametrize("model", ["sg", "cbow"])
def test_private_top_nodes_train_what_shared_ones_do(model, corpus, tmp_path, compose_cfg):
    # With the whole corpus in one block, one of the two threads trains it all: the private copy of the tree's
    # top rows, merged every 4 walks per row and at the block's end, then gives the shared rows' result up to
    # float32 rounding (shared + (mine - last) with shared == last).
    vectors = {}
    for top in (0, 3, 1000):  # none, the top 3 rows, every row (more than the tree has)
        run = tmp_path / f"top{top}"
        cfg = _overrides(corpus, tmp_path, "threads=2", f"model={model}", "hs=true", "negatives=0", f"hs_private_nodes={top}",
                         "block_tokens=65536", "chunk_tokens=65536", "epochs=1")  # fmt: skip
        train(compose_cfg(cfg), run)
        state = load_checkpoint(run)["model"]
        vectors[top] = [state[k].numpy() for k in ("in_embed.weight", "hs_embed.weight")]
    for top in (3, 1000):
        for got, want in zip(vectors[top], vectors[0]):
            assert np.abs(want).max() > 0.01
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["sg-ns", "cbow-ns", "sg-hs", "cbow-ns-hs"])
def test_private_rows_train_what_shared_ones_do(name, corpus, tmp_path, compose_cfg):
    # With the whole corpus in one block, one of the two threads trains it all: its private copy of the most
    # frequent words' rows (remapped ids, merged every 16N examples and at the block's end) then gives what the
    # shared rows give, up to float32 rounding at the merges. The tables keep their shapes: the private rows are
    # spare rows after them, outside the tables.
    extra = {"sg-ns": ["model=sg"], "cbow-ns": ["model=cbow"], "sg-hs": ["model=sg", "hs=true", "negatives=0"],
             "cbow-ns-hs": ["model=cbow", "hs=true"]}[name]  # fmt: skip
    tables = {}
    for rows in (0, 3, 1000):  # none, the top 3 words, every word (more than the vocabulary holds)
        run = tmp_path / f"rows{rows}"
        cfg = _overrides(corpus, tmp_path, "threads=2", *extra, f"private_rows={rows}", "block_tokens=65536", "chunk_tokens=65536",
                         "epochs=2")  # fmt: skip
        metrics = train(compose_cfg(cfg), run)
        state = load_checkpoint(run)["model"]
        tables[rows] = {k: v.numpy() for k, v in state.items() if k.endswith(".weight")}
        assert len(tables[rows]["in_embed.weight"]) == metrics["vocab_size"]
    for rows in (3, 1000):
        for key, want in tables[0].items():
            if len(want):
                assert np.abs(want).max() > 0.01
                np.testing.assert_allclose(tables[rows][key], want, rtol=0, atol=1e-4, err_msg=f"private_rows={rows} {key}")


def test_private_rows_remap_and_merge():
    # Two threads' private copies of the top 2 rows live after the 4 shared rows (at 4 and 6). Each thread's ids
    # below 2 are moved to its copy (outputs only with negative sampling alone); a merge adds each thread's change
    # since its last merge to the shared rows, so both changes arrive, and the copy takes the sum back.
    inputs, targets = np.array([0, 3, 1, 2]), np.array([1, 2, 0, 3])
    negs = np.array([[0, 3], [1, 1], [2, 0], [3, 3]])
    hogwild.remap_hot(inputs, 3, targets, negs, 4, 2, 6, -1)  # the 4th input is past n_in; outputs stay shared
    assert inputs.tolist() == [6, 3, 7, 2] and targets.tolist() == [1, 2, 0, 3] and negs[0].tolist() == [0, 3]
    hogwild.remap_hot(inputs, 4, targets, negs, 4, 2, 6, 4)
    assert targets.tolist() == [5, 2, 4, 3] and negs.tolist() == [[4, 3], [5, 5], [2, 4], [3, 3]]

    w = np.zeros((8, 3), dtype=np.float32)
    w[:4] = np.arange(12, dtype=np.float32).reshape(4, 3)
    snaps = np.zeros((2, 2, 3), dtype=np.float32)
    for t in (0, 1):
        hogwild.sync_private_rows(w, 4 + 2 * t, 2, snaps[t])
    np.testing.assert_array_equal(w[4:6], w[:2])
    np.testing.assert_array_equal(w[6:8], w[:2])
    w[4, 0] += 1.0  # thread 0 trains word 0
    w[6, 0] += 10.0  # thread 1 trains word 0 too, and word 1
    w[7, 2] -= 2.0
    start = w[:2].copy()
    hogwild.merge_private_rows(w, 4, 2, snaps[0])
    assert w[0, 0] == start[0, 0] + 1.0 and w[4, 0] == w[0, 0]  # thread 0's change in; its copy up to date
    hogwild.merge_private_rows(w, 6, 2, snaps[1])
    assert w[0, 0] == start[0, 0] + 11.0 and w[1, 2] == start[1, 2] - 2.0
    np.testing.assert_array_equal(w[6:8], w[:2])
    np.testing.assert_array_equal(snaps[1], w[:2])
    hogwild.merge_private_rows(w, 4, 2, snaps[0])  # thread 0 takes thread 1's change and adds nothing twice
    np.testing.assert_array_equal(w[4:6], w[:2])
    assert w[0, 0] == start[0, 0] + 11.0
    np.testing.assert_array_equal(w[2:4], np.arange(6, 12, dtype=np.float32).reshape(2, 3))  # other rows untouched


@pytest.mark.parametrize("name", ["sg-ns", "sg-ns-per-pair", "cbow-ns"])
def test_ns_skip_saturated_reaches_every_negative_sampling_path(name, corpus, tmp_path, compose_cfg):
    """gensim's rule (no update from a row with |u·h| >= 6) in the batched windows, the three passes and CBOW's
    windows: at lr 0.5 some scores pass 6 within the run, so the rule changes the vectors (one thread: no races)."""
    vectors = {}
    for skip in ("true", "false"):
        run = tmp_path / skip
        train(compose_cfg(_overrides(corpus, tmp_path, "threads=1", "lr=0.5", f"ns_skip_saturated={skip}", *MODELS[name])), run)
        vectors[skip] = np.loadtxt(run / "vectors.txt", skiprows=1, usecols=range(1, 17))
        assert np.isfinite(vectors[skip]).all()
    assert not np.array_equal(vectors["true"], vectors["false"])


@pytest.mark.parametrize("name", ["sg-ns", "sg-ns-per-pair", "cbow-ns", "sg-hs-batched", "cbow-hs"])
def test_sigma_table_reaches_every_sigma_pass(name, corpus, tmp_path, compose_cfg):
    """word2vec.c's σ table in the batched windows (negative sampling and a Huffman path), the three passes, CBOW's
    windows and the path walk: it changes the vectors, and they stay finite (one thread: no races)."""
    vectors = {}
    for table in ("true", "false"):
        run = tmp_path / table
        train(compose_cfg(_overrides(corpus, tmp_path, "threads=1", f"sigma_table={table}", *MODELS[name])), run)
        vectors[table] = np.loadtxt(run / "vectors.txt", skiprows=1, usecols=range(1, 17))
        assert np.isfinite(vectors[table]).all()
    assert not np.array_equal(vectors["true"], vectors["false"])


@pytest.mark.parametrize("levers", [[], ["shared_negatives=false", "batch_windows=false"]], ids=["auto", "per-pair"])
def test_one_thread_is_deterministic_and_a_resume_is_bit_exact(levers, corpus, tmp_path, compose_cfg, monkeypatch):
    cfg = compose_cfg(_overrides(corpus, tmp_path, "threads=1", "seed=3", *levers))
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    a, b = (np.loadtxt(tmp_path / d / "vectors.txt", skiprows=1, usecols=range(1, 17)) for d in "ab")
    assert np.array_equal(a, b)

    # Interrupt after the 5th chunk (SIGINT, as Ctrl-C), then resume: the same bits as the whole run.
    steps = {"n": 0}
    real_step = hogwild.HogwildEngine.step

    def step_then_interrupt(self, span, lr, lr_end):
        steps["n"] += 1
        if steps["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, span, lr, lr_end)

    monkeypatch.setattr(hogwild.HogwildEngine, "step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "c")
    monkeypatch.setattr(hogwild.HogwildEngine, "step", real_step)
    assert not load_checkpoint(tmp_path / "c")["progress"]["done"]
    train(compose_cfg([f"resume={tmp_path / 'c'}"]), None, explicit=["resume"])
    c = np.loadtxt(tmp_path / "c" / "vectors.txt", skiprows=1, usecols=range(1, 17))
    assert np.array_equal(a, c)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["hogwild", "numba", "torch"])
def test_word2vec_c_demo_settings_train_with_finite_loss_and_bounded_rows(engine, tmp_path, compose_cfg):
    """word2vec.c's text8 demo (CBOW, dim 200, window 8, 25 negatives, sample 1e-4, lr 0.05) on a wiki8 prefix."""
    from helpers import requires_shared_data

    wiki8 = requires_shared_data("wiki8/wiki8.txt.gz")
    overrides = [
        "corpus=text8", f"corpus.path={wiki8}", "corpus.max_tokens=300000", "model=cbow", "dim=200", "window=8", "negatives=25",
        "sample=1e-4", "lr=0.05", "epochs=3", "eval=none", f"engine={engine}", "threads=2", "checkpoint_every_minutes=0",
    ]  # fmt: skip
    metrics = train(compose_cfg(overrides), tmp_path / "run")
    assert all(np.isfinite(metrics["epoch_loss"])) and metrics["epoch_loss"][-1] < metrics["epoch_loss"][0]
    vectors = np.loadtxt(tmp_path / "run" / "vectors.txt", skiprows=1, usecols=range(1, 201), comments=None)
    assert np.linalg.norm(vectors, axis=1).max() < 100  # gensim's rows reach norm 34 on all of wiki8 at 15 epochs
