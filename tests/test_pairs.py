"""Pair stream: exact pairs against a plain loop, sentence boundaries, subsampling and dynamic windows
that really change the pairs, fresh draws per epoch, determinism, and worker sharding."""

from __future__ import annotations

from collections import Counter
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from w2v.data import compiled as compiled_helpers
from w2v.data.corpus import iter_sentences
from w2v.data.stream import StreamConfig, Word2VecStream, skipgram_pairs
from w2v.data.vocab import build_vocab, encode_corpus

HAVE_NUMBA = compiled_helpers.available()
TINY = "a b c d e f\nb a c x y\n\nd d a e\nq\nc b a f e d c\n"


@pytest.fixture
def make_stream(tmp_path, compose_cfg, write_corpus):
    """``make_stream(text, min_count=1, sample=0.0, **StreamConfig fields)`` -> (stream, vocab, sentences)."""

    made = []

    def make(text: str, min_count: int = 1, sample: float = 0.0, max_sentence_length: int = 10000, **pair_kw):
        made.append(text)  # a fresh file per call: a stream reads its id file lazily
        path = write_corpus(f"corpus{len(made)}.txt", text)
        cfg = compose_cfg(["corpus=text", f"corpus.path={path}", f"corpus.max_sentence_length={max_sentence_length}"])
        sentences = list(iter_sentences(cfg.corpus))
        enc = encode_corpus(sentences, tmp_path / f"corpus{len(made)}.ids")
        vocab = build_vocab(enc, min_count)
        kw = {"window": 2, "negatives": 3, "batch_size": 64, "block_tokens": 1 << 20, **pair_kw}
        stream = Word2VecStream(enc.path, vocab.remap, vocab.keep_probs(sample), vocab.noise_weights(0.75), StreamConfig(**kw))
        return stream, vocab, sentences

    return make


def stream_pairs(stream: Word2VecStream, epoch: int = 0) -> list[tuple[int, int]]:
    stream.set_epoch(epoch)
    return sorted((c, x) for b in stream for c, x in zip(b.targets.tolist(), b.inputs.tolist()))


def center_counts(stream: Word2VecStream, n_words: int, epoch: int = 0) -> np.ndarray:
    """How often each word is a center in one epoch (tensor ops: these streams have ~1M pairs)."""
    stream.set_epoch(epoch)
    return sum(torch.bincount(b.targets, minlength=n_words) for b in stream).numpy()


def reference_pairs(sentences, vocab, window: int) -> list[tuple[int, int]]:
    """word2vec's pairs with a fixed window, as plain loops over sentences and positions."""
    index = {w: i for i, w in enumerate(vocab.words)}
    pairs = []
    for sentence in sentences:
        ids = [index[w] for w in sentence if w in index]  # out-of-vocabulary words vanish before windowing
        for i in range(len(ids)):
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j != i:
                    pairs.append((ids[i], ids[j]))
    return sorted(pairs)


def loop_pairs(tokens, sentence, radius) -> list[tuple[int, int]]:
    """Pairs for given per-center radii, as plain loops."""
    n, pairs = len(tokens), []
    for i in range(n):
        for j in range(max(0, i - radius[i]), min(n, i + radius[i] + 1)):
            if j != i and sentence[j] == sentence[i]:
                pairs.append((tokens[i], tokens[j]))
    return sorted(pairs)


def pairs_of(tokens, sentence, radius, window) -> list[tuple[int, int]]:
    t = torch.tensor(tokens, dtype=torch.int64)
    c, x = skipgram_pairs(t, torch.tensor(sentence), torch.tensor(radius, dtype=torch.int64), window)
    return sorted(zip(c.tolist(), x.tolist()))


# ---------------------------------------------------------------- exact pairs


@pytest.fixture(params=["compiled", "torch"])
def pair_path(request):
    """Both pair generators: the compiled CPU loop (when numba is there) and the tensor one (CUDA's)."""
    if request.param == "compiled" and not compiled_helpers.available():
        pytest.skip("numba is not installed")
    with mock.patch.object(compiled_helpers, "available", lambda: request.param == "compiled"):
        yield request.param


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("window", [1, 2, 3, 7])
def test_fixed_window_pairs_equal_a_plain_loop(make_stream, pair_path, window, shuffle):
    stream, vocab, sentences = make_stream(TINY, window=window, shrink_windows=False, shuffle=shuffle)
    assert stream_pairs(stream) == reference_pairs(sentences, vocab, window)


def test_out_of_vocabulary_words_are_skipped_before_windowing(make_stream):
    stream, vocab, sentences = make_stream(TINY, min_count=2, window=1, shrink_windows=False)
    assert "x" not in vocab.words and "q" not in vocab.words
    # "c x y" dropped to "c": so b-a-c then nothing; in "b a c x y" the pair (a, c) exists but no (c, y).
    assert stream_pairs(stream) == reference_pairs(sentences, vocab, 1)


def test_shrunk_window_pairs_equal_a_plain_loop_with_the_same_radii():
    rng = np.random.default_rng(0)
    n, window = 200, 5
    tokens = rng.integers(0, 30, n).tolist()
    sentence = np.sort(rng.integers(0, 12, n)).tolist()
    radius = rng.integers(1, window + 1, n).tolist()
    assert pairs_of(tokens, sentence, radius, window) == loop_pairs(tokens, sentence, radius)


@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(1, 6)), max_size=40),
    st.lists(st.booleans(), max_size=40),
    st.integers(1, 6),
)
def test_pairs_stay_in_window_and_sentence(items, breaks, window):
    """Positions as token ids: every pair is within its center's radius and its sentence, and none is missing."""
    n = len(items)
    tokens = list(range(n))
    radius = [min(r, window) for _, r in items]
    flags = (breaks + [False] * n)[: max(0, n - 1)]  # a sentence break after position i
    sentence = np.cumsum([0, *map(int, flags)])[:n].tolist()
    pairs = pairs_of(tokens, sentence, radius, window)
    for c, x in pairs:
        assert 1 <= abs(c - x) <= radius[c] and sentence[c] == sentence[x]
    assert pairs == loop_pairs(tokens, sentence, radius)


@pytest.fixture(scope="module")
def position_stream(tmp_path_factory):
    """A stream whose block_pairs we feed directly; word i of the vocabulary stands for position i."""
    ids = tmp_path_factory.mktemp("pos") / "corpus.ids"
    np.zeros(1, dtype=np.int32).tofile(ids)
    n = 64
    return lambda remap, keep, window, shrink: Word2VecStream(
        ids, remap, keep, np.ones(n), StreamConfig(window=window, negatives=1, batch_size=8, block_tokens=n, shrink_windows=shrink)
    )


@given(
    st.lists(st.sampled_from(["word", "word", "word", "oov", "end"]), max_size=64),
    st.integers(1, 5),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_block_pairs_stay_in_vocab_window_and_sentence(position_stream, kinds, window, shrink, subsample, seed, compiled):
    """Block ids with separators and out-of-vocabulary words, under every pair option and generator."""
    n = 64
    raw = torch.tensor([-1 if k == "end" else p for p, k in enumerate(kinds)], dtype=torch.int64)
    remap = np.array([-1 if p < len(kinds) and kinds[p] == "oov" else p for p in range(n)], dtype=np.int32)
    keep = np.full(n, 0.5 if subsample else 1.0, dtype=np.float32)
    stream = position_stream(remap, keep, window, shrink)
    with mock.patch.object(compiled_helpers, "available", lambda: compiled and HAVE_NUMBA):
        centers, contexts, words = stream.block_pairs(raw, torch.Generator().manual_seed(seed))
    assert words == kinds.count("word")
    sentence = np.cumsum([k == "end" for k in kinds])  # sentence of each position
    in_vocab = np.cumsum([k == "word" for k in kinds])  # in-vocabulary rank of each position
    for c, x in zip(centers.tolist(), contexts.tolist()):
        assert kinds[c] == "word" and kinds[x] == "word" and c != x  # in the vocabulary
        assert sentence[c] == sentence[x]  # within one sentence
        if not subsample:
            assert abs(in_vocab[c] - in_vocab[x]) <= window  # within the window (OOV words skipped)
    if not subsample and not shrink:
        sentences = [[p for p, k in enumerate(kinds) if k == "word" and sentence[p] == s] for s in set(sentence.tolist())]
        expected = [(a, b) for sent in sentences for i, a in enumerate(sent) for b in sent[max(0, i - window) : i + window + 1] if a != b]
        assert sorted(zip(centers.tolist(), contexts.tolist())) == sorted(expected)


def test_stream_pairs_never_cross_sentences_with_shrink_and_subsampling(make_stream):
    # Every sentence uses its own words, so a pair whose words come from two sentences would show.
    lines = [" ".join(f"s{k}w{(i * 7) % 5}" for i in range(40)) for k in range(30)]
    stream, vocab, _ = make_stream("\n".join(lines), window=5, sample=1e-3, shrink_windows=True, block_tokens=333)
    stream.set_epoch(0)
    owner = [w.split("w")[0] for w in vocab.words]
    n_pairs = 0
    for batch in stream:
        for c, x in zip(batch.targets.tolist(), batch.inputs.tolist()):
            assert owner[c] == owner[x]
            n_pairs += 1
        assert ((batch.negatives >= 0) & (batch.negatives < len(vocab))).all()
    assert n_pairs > 0


# ---------------------------------------------------------------- subsampling and dynamic windows


def test_subsampling_keeps_each_word_with_its_keep_probability(make_stream, synthetic_text):
    # Long sentences: each kept center has 2 * window contexts, so center counts measure kept tokens.
    text = synthetic_text(n_sentences=20, n_words=50, length=5000, seed=1)
    kw = {"window": 2, "shrink_windows": False, "max_sentence_length": 5000, "batch_size": 1 << 16, "shuffle": False}
    full, vocab, _ = make_stream(text, **kw)
    sub, _, _ = make_stream(text, sample=1e-2, **kw)
    base, kept = center_counts(full, len(vocab)), center_counts(sub, len(vocab))
    keep = vocab.keep_probs(1e-2)
    assert keep[0] < 0.3 and keep[-1] == 1.0  # the test covers both dropped and untouched words
    for w in range(len(vocab)):
        if base[w] >= 4 * 3000:  # >= 3000 tokens: binomial noise on the kept share is ~1.2%, so rel=0.05 is ~4 sigma
            assert kept[w] / base[w] == pytest.approx(keep[w], rel=0.05), vocab.words[w]
    # Frequent words' share of centers drops, rare words' share rises.
    total_full, total_sub = base.sum(), kept.sum()
    assert kept[0] / total_sub < 0.5 * base[0] / total_full
    assert kept[len(vocab) - 1] / total_sub > base[len(vocab) - 1] / total_full


def test_dynamic_window_keeps_about_w_plus_1_over_2w_of_the_pairs(make_stream, synthetic_text):
    text = synthetic_text(n_sentences=10, n_words=50, length=5000, seed=2)
    window = 5
    kw = {"window": window, "max_sentence_length": 5000, "batch_size": 1 << 16, "shuffle": False}
    fixed, vocab, _ = make_stream(text, shrink_windows=False, **kw)
    shrunk, _, _ = make_stream(text, shrink_windows=True, **kw)
    ratio = center_counts(shrunk, len(vocab)).sum() / center_counts(fixed, len(vocab)).sum()
    assert ratio == pytest.approx((window + 1) / (2 * window), rel=0.01)


def test_dynamic_window_is_uniform_in_1_to_window(make_stream):
    # One long sentence "w0 w1 ... w12 w0 w1 ...": vocab id = position mod 13, so offsets are visible.
    m, window = 13, 4
    text = " ".join(f"w{i % m}" for i in range(m * 2000))
    stream, vocab, _ = make_stream(text, window=window, shrink_windows=True, max_sentence_length=m * 2000, batch_size=1 << 16)
    assert vocab.words == [f"w{i}" for i in range(m)]
    offsets = Counter(min((x - c) % m, (c - x) % m) for c, x in stream_pairs(stream))
    n = m * 2000
    assert set(offsets) == set(range(1, window + 1))  # the full window is reached
    for d in range(1, window + 1):
        # P(radius >= d) = (window - d + 1) / window, two sides.
        assert offsets[d] == pytest.approx(2 * n * (window - d + 1) / window, rel=0.03)


# ---------------------------------------------------------------- determinism, epochs, workers


def all_batches(stream: Word2VecStream, epoch: int, num_workers: int = 0) -> dict[tuple[int, int], dict]:
    stream.set_epoch(epoch)
    loader = DataLoader(stream, batch_size=None, num_workers=num_workers)
    out = {}
    for b in loader:
        key = (b.block, b.batch)
        assert key not in out, f"batch {key} delivered twice"
        out[key] = b
    return out


def same_batches(a: dict, b: dict) -> bool:
    return (
        a.keys() == b.keys()
        and all(torch.equal(getattr(a[k], f), getattr(b[k], f)) for k in a for f in ("inputs", "targets", "negatives"))
        and all(a[k].words == b[k].words for k in a)
    )


@pytest.fixture
def sharded_stream(make_stream, synthetic_text):
    stream, vocab, _ = make_stream(synthetic_text(n_sentences=60, length=25, seed=3), window=3, sample=1e-2, batch_size=50, block_tokens=97)
    assert stream.n_blocks >= 10
    return stream, vocab


def test_each_epoch_draws_anew_and_same_seed_repeats(sharded_stream, make_stream):
    stream, _ = sharded_stream
    e0, e0_again, e1 = all_batches(stream, 0), all_batches(stream, 0), all_batches(stream, 1)
    assert same_batches(e0, e0_again)
    assert not same_batches(e0, e1)

    # Pairs as multisets differ too (subsampling and windows redrawn, not only the shuffle).
    def pairs(epoch_batches):
        centers = torch.cat([b.targets for b in epoch_batches.values()]).tolist()
        contexts = torch.cat([b.inputs for b in epoch_batches.values()]).tolist()
        return sorted(zip(centers, contexts))

    assert pairs(e0) != pairs(e1)


def test_different_seed_gives_different_batches(sharded_stream):
    stream, _ = sharded_stream
    e0 = all_batches(stream, 0)
    stream.cfg.seed = 2
    assert not same_batches(e0, all_batches(stream, 0))


def test_words_per_epoch_add_up_to_the_in_vocabulary_tokens(sharded_stream):
    stream, vocab = sharded_stream
    assert sum(b.words for b in all_batches(stream, 0).values()) == vocab.total


def test_two_workers_yield_the_same_batches_each_block_once(sharded_stream):
    stream, _ = sharded_stream
    single = all_batches(stream, 1, num_workers=0)
    sharded = all_batches(stream, 1, num_workers=2)  # all_batches asserts no (block, batch) twice
    assert same_batches(single, sharded)
    assert {block for block, _ in sharded} == set(range(stream.n_blocks))
    for block in range(stream.n_blocks):
        batches = sorted(b for blk, b in sharded if blk == block)
        assert batches == list(range(len(batches)))
        assert sharded[(block, batches[-1])].last


def test_resuming_inside_a_block_gives_the_remaining_batches(sharded_stream):
    stream, _ = sharded_stream
    full = all_batches(stream, 0)
    block = 3
    n = sum(1 for blk, _ in full if blk == block)
    assert n >= 2
    stream.set_epoch(0, start={0: (block, 1)})
    resumed = list(stream)
    assert [(b.block, b.batch) for b in resumed] == sorted(k for k in full if k >= (block, 1))
    for b in resumed:
        assert torch.equal(b.inputs, full[(b.block, b.batch)].inputs)
        assert torch.equal(b.negatives, full[(b.block, b.batch)].negatives)


def test_negatives_in_the_stream_follow_the_noise_distribution(make_stream, synthetic_text):
    text = synthetic_text(n_sentences=400, length=50, seed=4)
    stream, vocab, _ = make_stream(text, window=5, negatives=10, shrink_windows=False, batch_size=1 << 16)
    negs = torch.cat([b.negatives.flatten() for b in all_batches(stream, 0).values()]).numpy()
    assert len(negs) > 500_000
    empirical = np.bincount(negs, minlength=len(vocab)) / len(negs)
    target = vocab.counts**0.75 / (vocab.counts**0.75).sum()
    assert 0.5 * np.abs(empirical - target).sum() < 0.01


# ---------------------------------------------------------------- CBOW windows


def test_skipgram_examples_put_the_context_in_the_bag_and_the_center_as_target(make_stream):
    """word2vec.c's roles: h is the context's input vector, the center is predicted (its path, its output row)."""
    stream, vocab, _ = make_stream("a b c", window=1, shrink_windows=False, shuffle=False)
    stream.set_epoch(0)
    (batch,) = list(stream)
    words = vocab.words
    got = [(words[t], words[i]) for t, i in zip(batch.targets.tolist(), batch.inputs.tolist())]
    assert got == [("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")]  # (target = center, input = context), center order
    assert batch.offsets is None


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("window", [1, 2, 3])
def test_cbow_windows_equal_a_plain_loop(make_stream, pair_path, window, shuffle):
    """One example per center with at least one context: the bag is exactly its window, in its sentence."""
    stream, vocab, sentences = make_stream(TINY, window=window, shrink_windows=False, shuffle=shuffle, cbow=True, batch_size=5)
    stream.set_epoch(0)
    got = []
    for b in stream:
        offsets = b.offsets.tolist()
        assert offsets[0] == 0 and offsets[-1] == len(b.inputs) and len(offsets) == len(b.targets) + 1
        for e, target in enumerate(b.targets.tolist()):
            bag = sorted(vocab.words[i] for i in b.inputs[offsets[e] : offsets[e + 1]].tolist())
            got.append((vocab.words[target], tuple(bag)))
    expected = []
    for sent in sentences:
        for i, center in enumerate(sent):
            bag = sorted(sent[max(0, i - window) : i] + sent[i + 1 : i + window + 1])
            if bag:
                expected.append((center, tuple(bag)))
    assert sorted(got) == sorted(expected)
    if not shuffle:
        assert got == expected  # text order, like word2vec.c


def test_cbow_windows_shrink_and_stay_in_their_sentence(make_stream):
    lines = [" ".join(f"s{k}w{(i * 7) % 5}" for i in range(40)) for k in range(30)]
    stream, vocab, _ = make_stream("\n".join(lines), window=5, sample=1e-3, shrink_windows=True, block_tokens=333, cbow=True)
    stream.set_epoch(0)
    owner = [w.split("w")[0] for w in vocab.words]
    sizes = []
    for b in stream:
        offsets = b.offsets
        for e, target in enumerate(b.targets.tolist()):
            bag = b.inputs[offsets[e] : offsets[e + 1]].tolist()
            assert bag and all(owner[i] == owner[target] for i in bag)
            sizes.append(len(bag))
    # Effective windows uniform in 1..5: bags of 2 to 10 words, with every size present.
    assert min(sizes) >= 1 and max(sizes) == 10 and len(set(sizes)) >= 9


def test_csr_take_reorders_bags():
    from w2v.data.stream import csr_take

    inputs, offsets = torch.tensor([10, 11, 20, 30, 31, 32]), torch.tensor([0, 2, 3, 6])
    got_inputs, got_offsets = csr_take(inputs, offsets, torch.tensor([2, 0, 1]))
    assert got_inputs.tolist() == [30, 31, 32, 10, 11, 20] and got_offsets.tolist() == [0, 3, 5, 6]
