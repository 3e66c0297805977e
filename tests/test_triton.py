"""The Triton GPU engine, checked on CPU tensors in Triton's interpreter (``TRITON_INTERPRET=1``).

The interpreter runs the grid's programs one after another, so the fused kernel must equal a
sequential reference that walks the same spans in program order. It is slow (tens of pairs per
second per program step), so these chunks hold a few hundred pairs.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, run_train_py, write_text_file

# Triton decides at definition time whether a jit function is interpreted, its own library
# (tl.randint4x...) included, so the variable must be set before triton is first imported.
if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("triton was imported before TRITON_INTERPRET=1 could be set; run this file alone", allow_module_level=True)
os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton", reason="triton is not installed (pip install triton)")
from w2v.data.sampler import build_alias_table  # noqa: E402
from w2v.data.stream import StreamConfig, Word2VecStream, window_pairs  # noqa: E402
from w2v.engines import select_engine  # noqa: E402
from w2v.engines import triton_kernels as tk  # noqa: E402
from w2v.engines.chunks import Chunk, prepare_chunk  # noqa: E402
from w2v.errors import W2VError  # noqa: E402


def _chunk(seed: int, size: int = 50, vocab: int = 12, window: int = 2, keep: float = 0.8) -> tuple[Chunk, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (size,), generator=gen, dtype=torch.int32)
    ids[torch.rand(size, generator=gen) < 0.1] = -1  # sentence ends
    keep_prob = torch.full((vocab,), keep)
    return prepare_chunk(ids, keep_prob, window, True, gen), ids


def _pairs_in_program_order(chunk: Chunk, grid: int) -> list[tuple[int, int, int, int, int]]:
    """(program, position, context position, span lo, span hi) in the order the kernel trains them."""
    tokens, starts, ends, radius = (t.tolist() for t in (chunk.tokens, chunk.starts, chunk.ends, chunk.radius))
    n = int(chunk.n)
    span = (n + grid - 1) // grid
    out = []
    for pid in range(grid):
        lo, hi = pid * span, min(pid * span + span, n)
        for i in range(lo, hi):
            if tokens[i] < 0:
                continue
            for j in range(max(i - radius[i], starts[i]), min(i + radius[i] + 1, ends[i])):
                if j != i:
                    out.append((pid, i, j, lo, hi))
    return out


SATURATED = []  # the scores _logistic_rows skipped (ns_skip_saturated), for the test to see that some were


def _logistic_rows(out_w, rows, h, alpha, skip=False) -> tuple[torch.Tensor, float]:
    """word2vec.c's output-row updates for one example, in order; returns (neu1e, loss). ``skip``: gensim's rule,
    no update from a row with |u·h| >= 6."""
    neu1e, loss = torch.zeros_like(h), 0.0
    for row, label in rows:
        u = out_w[row].clone()
        f = float(u @ h)
        loss += float(torch.nn.functional.softplus(torch.tensor(-f if label else f)))
        if skip and abs(f) >= 6:
            SATURATED.append(f)
            continue
        g = (label - 1.0 / (1.0 + np.exp(-f))) * alpha
        neu1e += g * u
        out_w[row] = u + g * h
    return neu1e, loss


def _reference(chunk: Chunk, in_w, out_w, prob, alias, seed, lr0, lr1, window, negatives, grid, cbow=False, cbow_mean=True, skip=False):
    """The negative-sampling update one example after another, in the kernel's program order."""
    tokens = chunk.tokens.tolist()
    pairs = _pairs_in_program_order(chunk, grid)
    if cbow:  # one example per center: its pairs in order, grouped
        examples = {}
        for pid, i, j, lo, hi in pairs:
            examples.setdefault((pid, i, lo, hi), []).append(j)
        keys = [(i, i) for (_, i, _, _) in examples]
    else:
        keys = [(i, j) for _, i, j, _, _ in pairs]
    offsets = torch.tensor([tk.pair_offset(i, j, k, window, negatives) for i, j in keys for k in range(negatives)])
    drawn = tk.draw_negatives(offsets, prob, alias, seed).view(len(keys), negatives).tolist() if keys else []
    loss = 0.0

    def alpha(i, lo, hi):
        return float(np.float32(lr0) + (np.float32(lr1) - np.float32(lr0)) * np.float32((i - lo) / max(hi - lo, 1)))

    if not cbow:
        for (_, i, j, lo, hi), negs in zip(pairs, drawn):
            center, context = tokens[i], tokens[j]
            h = in_w[context].clone()
            rows = [(center, 1.0)] + [(neg, 0.0) for neg in negs if neg != center]
            neu1e, ex_loss = _logistic_rows(out_w, rows, h, alpha(i, lo, hi), skip)
            loss += ex_loss
            in_w[context] = h + neu1e
        return loss, len(pairs)
    for ((_, i, lo, hi), contexts), negs in zip(examples.items(), drawn):
        center, rows_in = tokens[i], [tokens[j] for j in contexts]
        h = in_w[rows_in].sum(0)
        if cbow_mean:
            h = h / len(rows_in)
        rows = [(center, 1.0)] + [(neg, 0.0) for neg in negs if neg != center]
        neu1e, ex_loss = _logistic_rows(out_w, rows, h, alpha(i, lo, hi), skip)
        loss += ex_loss
        for r in rows_in:  # one at a time: a word can occur twice in a window
            in_w[r] += neu1e if cbow_mean else neu1e / len(rows_in)
    return loss, len(examples)


@pytest.mark.parametrize(("cbow", "cbow_mean"), [(False, True), (True, True), (True, False)], ids=["sg", "cbow-mean", "cbow-sum"])
def test_kernel_equals_sequential_reference_in_program_order(cbow, cbow_mean, grid: int = 3):
    chunk, _ = _chunk(seed=3 + cbow + cbow_mean)
    vocab, dim, window, negatives = 12, 8, 2, 3
    gen = torch.Generator().manual_seed(5)
    in_w = (torch.rand(vocab, dim, generator=gen) - 0.5) / dim
    out_w = (torch.rand(vocab, dim, generator=gen) - 0.5) * 0.1  # non-zero, so every term moves
    prob, alias = build_alias_table(np.arange(1, vocab + 1, dtype=np.float64) ** 0.75)
    prob, alias = prob.float().contiguous(), alias.to(torch.int32).contiguous()
    ref_in, ref_out = in_w.clone(), out_w.clone()
    got = tk.word2vec_chunk(*chunk, in_w, out_w, prob, alias, 1234, 0.05, 0.01, window, negatives, grid, cbow=cbow, cbow_mean=cbow_mean)
    loss, examples = _reference(chunk, ref_in, ref_out, prob, alias, 1234, 0.05, 0.01, window, negatives, grid, cbow, cbow_mean)
    assert examples > (20 if cbow else 40)
    assert int(got[1]) == examples
    assert float(got[0]) == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(in_w, ref_in, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_w, ref_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cbow", [False, True], ids=["sg", "cbow"])
def test_kernel_skips_saturated_rows_as_the_reference(cbow, grid: int = 3):
    """ns_skip_saturated: rows with |u·h| >= 6 get no update, as gensim; the tables start large enough for some."""
    chunk, _ = _chunk(seed=7, size=30)
    vocab, dim, window, negatives = 12, 8, 2, 3
    gen = torch.Generator().manual_seed(6)
    in_w = torch.randn(vocab, dim, generator=gen) * 1.2
    out_w = torch.randn(vocab, dim, generator=gen) * 1.2
    prob, alias = build_alias_table(np.arange(1, vocab + 1, dtype=np.float64) ** 0.75)
    prob, alias = prob.float().contiguous(), alias.to(torch.int32).contiguous()
    ref_in, ref_out = in_w.clone(), out_w.clone()
    got = tk.word2vec_chunk(*chunk, in_w, out_w, prob, alias, 99, 0.05, 0.01, window, negatives, grid, cbow=cbow, ns_skip_saturated=True)
    SATURATED.clear()
    loss, examples = _reference(chunk, ref_in, ref_out, prob, alias, 99, 0.05, 0.01, window, negatives, grid, cbow, True, skip=True)
    assert SATURATED and int(got[1]) == examples
    assert float(got[0]) == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(in_w, ref_in, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_w, ref_out, rtol=1e-5, atol=1e-5)


def test_kernel_pairs_are_the_streams_window_pairs():
    """The kernel's sentence bounds and reduced windows give exactly the example stream's pairs."""
    for seed in range(5):
        chunk, _ = _chunk(seed=seed, size=200, window=3)
        n = int(chunk.n)
        tokens = chunk.tokens[:n].long()
        words = tokens >= 0
        sentence = torch.cumsum(~words, 0)[words]
        centers, contexts, positions = window_pairs(tokens[words], sentence, chunk.radius[:n][words].long(), 3)
        expected = sorted(zip(centers.tolist(), contexts.tolist()))
        got = sorted((int(tokens[i]), int(tokens[j])) for _, i, j, _, _ in _pairs_in_program_order(chunk, grid=4))
        assert got == expected


def test_prepare_chunk_subsamples_compacts_and_bounds_sentences():
    gen = torch.Generator().manual_seed(0)
    size, vocab = 50_000, 20
    ids = torch.randint(0, vocab, (size,), generator=gen, dtype=torch.int32)
    ids[torch.rand(size, generator=gen) < 0.05] = -1
    keep_prob = torch.linspace(0.05, 1.0, vocab)
    chunk = prepare_chunk(ids, keep_prob, 5, True, gen)
    n = int(chunk.n)
    kept = chunk.tokens[:n]
    assert (chunk.tokens[n:] == -1).all()
    assert int((kept < 0).sum()) == int((ids < 0).sum())  # every separator survives
    # Kept words are a subsequence of the input, sentence by sentence.
    in_sentences = [s for s in " ".join(map(str, ids.tolist())).split("-1")]
    out_sentences = [s for s in " ".join(map(str, kept.tolist())).split("-1")]
    assert len(in_sentences) == len(out_sentences)
    for a, b in zip(in_sentences[:50], out_sentences[:50]):
        it = iter(a.split())
        assert all(tok in it for tok in b.split())
    # Keep rates follow keep_prob.
    for w in (0, 10, 19):
        rate = float((kept == w).sum()) / float((ids == w).sum())
        assert rate == pytest.approx(float(keep_prob[w]), abs=0.03)
    # Bounds against a plain loop; radius uniform in 1..window.
    tokens, starts, ends = chunk.tokens.tolist(), chunk.starts.tolist(), chunk.ends.tolist()
    s = 0
    for i in range(n):
        if tokens[i] < 0:
            s = i + 1
            continue
        assert starts[i] == s
        e = i
        while e < len(tokens) and tokens[e] >= 0:
            e += 1
        assert ends[i] == e
        if i > 2000:
            break
    counts = torch.bincount(chunk.radius.long(), minlength=6)[1:].float()
    assert counts.min() / counts.max() > 0.9


def test_prepare_chunk_is_reproducible_from_its_seed():
    ids = torch.randint(0, 9, (300,), dtype=torch.int32)
    a = prepare_chunk(ids, torch.full((9,), 0.5), 4, True, torch.Generator().manual_seed(11))
    b = prepare_chunk(ids, torch.full((9,), 0.5), 4, True, torch.Generator().manual_seed(11))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    empty = prepare_chunk(ids[:0], torch.full((9,), 0.5), 4, True, torch.Generator())
    assert int(empty.n) == 0


def test_in_kernel_negatives_follow_the_noise_distribution():
    weights = np.array([50.0, 20, 10, 5, 5, 4, 3, 2, 1, 0.5]) ** 0.75
    prob, alias = build_alias_table(weights)
    draws = tk.draw_negatives(torch.arange(20_000, dtype=torch.int64), prob.float(), alias.to(torch.int32), seed=99)
    freq = torch.bincount(draws.long(), minlength=len(weights)).double() / len(draws)
    expected = torch.from_numpy(weights / weights.sum())
    assert float((freq - expected).abs().sum()) / 2 < 0.02  # total variation
    again = tk.draw_negatives(torch.arange(20_000, dtype=torch.int64), prob.float(), alias.to(torch.int32), seed=99)
    assert torch.equal(draws, again)
    other = tk.draw_negatives(torch.arange(20_000, dtype=torch.int64), prob.float(), alias.to(torch.int32), seed=100)
    assert not torch.equal(draws, other)


@pytest.mark.parametrize(
    ("overrides", "device", "message"),
    [
        (["engine=triton"], "cpu", None),  # allowed under the interpreter, which this module turns on
        (["engine=triton", "model=cbow"], "cuda", None),
        (["engine=triton", "hs=true"], "cuda", "negative sampling only"),
        (["engine=triton", "model=cbow", "hs=true", "negatives=0"], "cuda", "negative sampling only"),
        (["engine=triton", "optim=adagrad"], "cuda", "optim=sgd only"),
    ],
)
def test_engine_rules(overrides, device, message):
    cfg = compose_train_cfg(overrides)
    if message is None:
        assert select_engine(cfg, torch.device(device)).name == "triton"
    else:
        with pytest.raises(W2VError, match=message):
            select_engine(cfg, torch.device(device))


def test_auto_picks_triton_on_cuda_for_negative_sampling_and_never_on_cpu(monkeypatch):
    assert select_engine(compose_train_cfg([]), torch.device("cuda")).name == "triton"
    assert select_engine(compose_train_cfg(["model=cbow"]), torch.device("cuda")).name == "triton"
    assert select_engine(compose_train_cfg(["hs=true"]), torch.device("cuda")).name == "torch"
    assert select_engine(compose_train_cfg([]), torch.device("cpu")).name == "hogwild"
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(W2VError, match="runs on CUDA"):
        select_engine(compose_train_cfg(["engine=triton"]), torch.device("cpu"))


def test_cuda_without_triton_names_the_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    with pytest.raises(W2VError, match="pip install triton"):
        select_engine(compose_train_cfg(["engine=triton"]), torch.device("cuda"))
    assert select_engine(compose_train_cfg([]), torch.device("cuda")).name == "torch"


def _token_stream(tmp_path, n_ids=10_000, block=1000, chunks=3) -> Word2VecStream:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 40, n_ids).astype(np.int32)
    raw[rng.random(n_ids) < 0.05] = -1
    path = tmp_path / "corpus.ids"
    raw.tofile(path)
    remap = np.where(np.arange(40) % 7 == 0, -1, np.arange(40) // 2).astype(np.int32)  # some words out of vocabulary
    cfg = StreamConfig(window=2, negatives=2, batch_size=64, block_tokens=block, token_chunks=chunks)
    return Word2VecStream(path, remap, np.ones(20, np.float32), np.ones(20), cfg)


def test_token_chunks_cover_the_corpus_and_resume_on_chunk_boundaries(tmp_path):
    stream = _token_stream(tmp_path)
    stream.set_epoch(0)
    chunks = list(stream)
    assert [c.first_block for c in chunks] == [0, 3, 6, 9]
    assert [c.block for c in chunks] == [2, 5, 8, 9]
    raw = np.fromfile(tmp_path / "corpus.ids", dtype=np.int32)
    in_vocab = (raw >= 0) & (stream.remap_np[np.maximum(raw, 0)] >= 0)
    assert sum(c.words for c in chunks) == int(in_vocab.sum())
    streamed = np.concatenate([c.tokens.numpy() for c in chunks])
    assert np.array_equal(streamed[streamed >= 0], stream.remap_np[raw[in_vocab]])
    # A resume after the second chunk forms the remaining chunks exactly as the full pass did.
    stream.set_epoch(0, {0: (chunks[1].block + 1, 0)})
    rest = list(stream)
    assert [c.first_block for c in rest] == [6, 9]
    assert torch.equal(rest[0].tokens, chunks[2].tokens)
    # (Under torchrun a rank's chunks come from w2v/train/dist_chunks.py: tests/test_dist_triton.py.)


# In the slow set to hold the default run near 5 minutes: tests/test_dist_triton.py trains the engine through
# train() (one rank against the plain single-process run, bit for bit; two ranks writing vectors gensim loads),
# and Hydra's command line runs end to end in every other train.py test.
@pytest.mark.slow
def test_train_py_runs_the_triton_engine_end_to_end(tmp_path):
    """train.py with engine=triton in the interpreter: a tiny corpus, vectors gensim loads, resumable metrics."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    topics = ["king queen crown castle throne", "cat dog fish bird mouse"]
    text = "\n".join(" ".join(rng.choice(topics[i % 2].split(), 6)) for i in range(10)) + "\n"
    corpus = write_text_file(tmp_path / "c.txt", text)
    run_dir = tmp_path / "run"
    args = ["corpus=text", f"corpus.path={corpus}", "engine=triton", "device=cpu", "min_count=1", "epochs=1", "dim=8",
            "negatives=2", "window=2", "sample=0", "eval=none", "grid=2", "chunk_tokens=100", "block_tokens=50",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = run_train_py(args, cwd=tmp_path, env={"TRITON_INTERPRET": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["engine"] == "triton"
    assert len(metrics["epoch_loss"]) == 1 and all(np.isfinite(metrics["epoch_loss"]))
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    assert set(kv.index_to_key) == set(" ".join(topics).split())
