"""fastText character n-grams (``subwords.*``): the hash and n-grams against gensim's own functions, the
bags and their expansion in a batch, both engines' update against autograd on the reference loss, the
Facebook ``.bin`` round trip through gensim, OOV-composed evaluation, and ``train.py`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from gensim.models.fasttext import ft_ngram_hashes, load_facebook_model
from gensim.models.fasttext_inner import compute_ngrams_bytes, ft_hash_bytes
from helpers import REPO_ROOT, compose_train_cfg, make_synthetic_text
from helpers.model import assert_torch_step_equals_autograd, clone_tables

from w2v.config import validate
from w2v.engines import numba_engine
from w2v.engines.torch_engine import sgd_step
from w2v.errors import W2VError
from w2v.evaluation.similarity import WordPairs, evaluate_pairs, evaluate_pairs_composed
from w2v.models.subwords import NgramComposer, SubwordSpec, expand_bags, ft_hash, ngram_buckets, ngrams, word_bags
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.vectors import WordVectors, load_vectors
from w2v.vectors.fasttext_bin import save_fasttext_bin

# ASCII, accents, CJK, an emoji (4 UTF-8 bytes), a one-letter word, an apostrophe, the empty string.
WORDS = ["apologetic", "café", "naïve", "日本語", "🙂ok", "a", "don't", "", "<>", "x" * 40]
SPEC = SubwordSpec(min_n=2, max_n=4, bucket=97)  # a tiny table: collisions included
VOCAB = ["the", "apolog", "apologetic", "apology", "café", "cat", "日本"]


# ---------------------------------------------------------------- the hash and n-grams against gensim


def test_hash_equals_gensims_including_the_signed_byte_quirk():
    for data in [w.encode() for w in WORDS] + [bytes(range(256)), b"\xff\x80\x7f"]:
        assert ft_hash(data) == ft_hash_bytes(data), data
    # The quirk is real: a plain unsigned FNV-1a differs on a non-ASCII byte.
    unsigned = ((2166136261 ^ 0xE9) * 16777619) & 0xFFFFFFFF
    assert ft_hash(b"\xe9") != unsigned


@pytest.mark.parametrize("min_n,max_n", [(3, 6), (1, 1), (1, 3), (2, 5), (5, 5), (7, 9)])
def test_ngrams_equal_gensims(min_n, max_n):
    for word in WORDS:
        assert ngrams(word, min_n, max_n) == compute_ngrams_bytes(word, min_n, max_n), word
        assert ngram_buckets(word, min_n, max_n, 2_000_000) == ft_ngram_hashes(word, min_n, max_n, 2_000_000), word


def test_a_word_is_wrapped_in_angle_brackets():
    assert ngrams("cat", 3, 6) == [b"<ca", b"<cat", b"<cat>", b"cat", b"cat>", b"at>"]


# ---------------------------------------------------------------- bags and their expansion


def test_word_bags_are_the_word_row_then_its_ngram_rows():
    bags = word_bags(VOCAB, SPEC)
    v = len(VOCAB)
    assert bags.rows == v + SPEC.bucket
    for w, word in enumerate(VOCAB):
        bag = bags.inputs[bags.offsets[w] : bags.offsets[w + 1]].tolist()
        assert bag == [w] + [v + h for h in ft_ngram_hashes(word, SPEC.min_n, SPEC.max_n, SPEC.bucket)]


def test_expand_skipgram_gives_each_example_its_words_bag():
    bags = word_bags(VOCAB, SPEC)
    words = torch.tensor([2, 0, 2, 6])
    inputs, offsets = expand_bags(bags, words, None)
    for e, w in enumerate(words.tolist()):
        assert inputs[offsets[e] : offsets[e + 1]].tolist() == bags.inputs[bags.offsets[w] : bags.offsets[w + 1]].tolist()
    assert int(offsets[-1]) == len(inputs)


def test_expand_cbow_concatenates_the_bags_of_all_context_words():
    bags = word_bags(VOCAB, SPEC)
    ctx, ctx_offsets = torch.tensor([1, 3, 4, 0, 5, 6]), torch.tensor([0, 3, 4, 6])  # windows of 3, 1, 2 words
    inputs, offsets = expand_bags(bags, ctx, ctx_offsets)
    assert len(offsets) == 4
    for e in range(3):
        want = []
        for w in ctx[ctx_offsets[e] : ctx_offsets[e + 1]].tolist():
            want += bags.inputs[bags.offsets[w] : bags.offsets[w + 1]].tolist()
        assert inputs[offsets[e] : offsets[e + 1]].tolist() == want


# ---------------------------------------------------------------- the update against autograd

COUNTS = np.array([30, 20, 12, 9, 7, 5, 4])  # VOCAB's counts, descending
SUB_SPECS = {
    "sg-ns": ModelSpec(sg=True, negatives=3),
    "sg-hs": ModelSpec(sg=True, hs=True, negatives=0),
    "cbow-mean-ns": ModelSpec(sg=False, cbow_mean=True, negatives=3),
    "cbow-sum-hs+ns": ModelSpec(sg=False, cbow_mean=False, hs=True, negatives=3),
}


def subword_model(spec: ModelSpec, dim: int = 6, seed: int = 0, sub: SubwordSpec = SPEC) -> Word2VecModel:
    """Random tables, small enough that a summed bag of ~20 rows leaves no Huffman node saturated."""
    model = Word2VecModel(spec, COUNTS, dim, bags=word_bags(VOCAB, sub))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.15)
    return model


def subword_batch(spec: ModelSpec, model: Word2VecModel):
    """Bags with repeated rows (a word twice, n-grams shared between words and bucket collisions)."""
    targets = torch.tensor([1, 4, 0, 6, 3])
    negatives = torch.tensor([[2, 5, 6], [3, 0, 2], [4, 1, 5], [0, 1, 2], [6, 5, 1]])[:, : spec.negatives]
    if spec.sg:
        inputs, offsets = expand_bags(model.bags, torch.tensor([2, 2, 3, 5, 0]), None)
    else:
        inputs, offsets = expand_bags(model.bags, torch.tensor([0, 2, 3, 3, 1, 6, 4, 5, 2]), torch.tensor([0, 2, 4, 5, 7, 9]))
    return inputs, offsets, targets, negatives


@pytest.mark.parametrize("name", list(SUB_SPECS))
def test_torch_subword_update_equals_autograd(name):
    """h is the mean of the bag (skip-gram always, CBOW with cbow_mean) and every row of the bag gets
    -lr * dL/dh: fastText's and gensim's FastText update (÷ count only for a CBOW sum, as gensim)."""
    spec, lr = SUB_SPECS[name], 0.1
    model = subword_model(spec, seed=1)
    batch = subword_batch(spec, model)
    got = assert_torch_step_equals_autograd(model, spec, batch, lr)
    assert not torch.equal(got.in_w[len(VOCAB) :], model.tables().in_w[len(VOCAB) :])  # n-gram rows were trained


def test_skipgram_bag_rows_get_the_whole_error_not_the_mean_gradient():
    """fastText (model.cc) and gensim (fasttext_inner.pyx) add the whole error to each row of the bag:
    bag-size times the exact gradient of the mean. Checked against torch.optim.SGD on the same loss."""
    spec, lr = ModelSpec(sg=True, negatives=3), 0.1
    model = subword_model(spec, seed=2, sub=SubwordSpec(2, 4, 10007))
    inputs, offsets = expand_bags(model.bags, torch.tensor([1]), None)  # "apolog": no repeated row
    batch = (inputs, offsets, torch.tensor([4]), torch.tensor([[0, 5, 6]]))
    assert len(set(inputs.tolist())) == len(inputs)
    ours = clone_tables(model)
    sgd_step(ours, spec, *batch, lr)
    before = model.tables().in_w.clone()
    torch.optim.SGD([p for p in model.parameters() if p.shape[0]], lr=lr).zero_grad()
    loss = model(*batch)
    loss.backward()
    with torch.no_grad():
        exact = before - lr * model.in_embed.weight.grad.to_dense()
    n = len(inputs)
    torch.testing.assert_close(ours.in_w[inputs] - before[inputs], n * (exact[inputs] - before[inputs]), rtol=0, atol=1e-6)


def assert_numba_batch_equals_torch_one_example_at_a_time(model, spec, inputs, offsets, targets, negatives, lr=0.05):
    """The numba kernel over the whole batch on one thread against the torch engine's step on each example in turn:
    the same loss and tables up to float32 rounding."""
    want = clone_tables(model)
    want_loss = 0.0
    for e in range(len(targets)):
        a, b = int(offsets[e]), int(offsets[e + 1])
        one = (inputs[a:b], torch.tensor([0, b - a]), targets[e : e + 1], negatives[e : e + 1])
        want_loss += sgd_step(want, spec, *one, lr).item()
    numba_engine.set_threads(1)
    got = clone_tables(model)
    got_loss = numba_engine.word2vec_step_cpu(got, spec, inputs, offsets, targets, negatives, lr).item()
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    for a, b in zip(got[:3], want[:3]):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)


@pytest.mark.skipif(not numba_engine.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("name", list(SUB_SPECS))
def test_numba_subword_update_equals_the_torch_engine_example_by_example(name):
    spec = SUB_SPECS[name]
    model = subword_model(spec, dim=20, seed=5)
    inputs, offsets, targets, negatives = subword_batch(spec, model)
    assert_numba_batch_equals_torch_one_example_at_a_time(model, spec, inputs, offsets, targets, negatives)


@pytest.mark.skipif(not numba_engine.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("name", list(SUB_SPECS))
@pytest.mark.parametrize("bucket", [10007, 7])
def test_numba_kernel_trains_a_repeated_bag_as_the_torch_engine_does_one_example_at_a_time(name, bucket):
    """The kernel does not read a bag again when the next example has the same one (a skip-gram center's
    bag, once per context word): h moves by the last error and the rows get their updates when the bag
    changes. That must equal updating the rows after every example, with distinct rows (bucket 10007:
    the path taken) and with a row twice in the bag (bucket 7: read afresh)."""
    sub = SubwordSpec(2, 4, bucket)
    spec = SUB_SPECS[name]
    model = subword_model(spec, dim=20, seed=7, sub=sub)
    words = torch.tensor([1, 1, 1, 3, 3, 1, 0, 0])  # runs of one word, then another, then back
    inputs, offsets = expand_bags(model.bags, words, None)
    bag = inputs[int(offsets[0]) : int(offsets[1])].tolist()
    assert (len(set(bag)) == len(bag)) == (bucket == 10007)
    targets = torch.tensor([4, 0, 6, 2, 5, 3, 1, 6])
    # Distinct and never the target: the torch step sums a repeated row's gradients where the kernel goes row by row.
    negatives = torch.tensor([[0, 1, 2], [1, 2, 3], [0, 1, 2], [0, 1, 3], [0, 1, 2], [0, 1, 2], [0, 2, 3], [0, 1, 2]])[:, : spec.negatives]
    assert_numba_batch_equals_torch_one_example_at_a_time(model, spec, inputs, offsets, targets, negatives)


@pytest.mark.skipif(not numba_engine.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("bag_mean", [True, False])
def test_numba_kernel_updates_a_changing_bag_bit_for_bit_as_straight_away(bag_mean):
    """CBOW windows differ from one example to the next: the kernel adds each window's update as the next
    example starts, which must be the very arithmetic of adding it at once (here: one call per example)."""
    rng = np.random.default_rng(3)
    vocab, dim, n = 40, 16, 60
    lengths = rng.integers(2, 7, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    inputs = rng.integers(0, vocab, int(offsets[-1])).astype(np.int64)
    targets = rng.integers(0, vocab, n).astype(np.int64)
    negatives = ((targets[:, None] + np.arange(1, 4)) % vocab).astype(np.int64)  # distinct, never the target
    in_w = (rng.standard_normal((vocab, dim)) * 0.1).astype(np.float32)
    out_w = (rng.standard_normal((vocab, dim)) * 0.1).astype(np.float32)
    no_hs, no_paths = np.zeros((0, dim), np.float32), np.zeros((vocab, 1), np.int64)
    h, neu1e = np.empty(dim, np.float32), np.empty(dim, np.float32)

    def run(spans):
        tables = in_w.copy(), out_w.copy()
        for lo, hi in spans:
            numba_engine.train_examples(
                tables[0], tables[1], no_hs, inputs, offsets, targets, negatives, no_paths, no_paths.astype(np.float32),
                np.zeros(vocab, np.int64), bag_mean, 0.05, lo, hi, h, neu1e, no_hs, 0,
            )  # fmt: skip
        return tables

    together, one_by_one = run([(0, n)]), run([(i, i + 1) for i in range(n)])
    for a, b in zip(together, one_by_one):
        np.testing.assert_array_equal(a, b)


def test_plain_skipgram_is_unchanged_by_bag_mean():
    """Without n-grams skip-gram has no bags (offsets None), so cbow_mean=False changes nothing."""
    a, b = ModelSpec(sg=True, cbow_mean=True), ModelSpec(sg=True, cbow_mean=False)
    assert a.bag_mean and b.bag_mean and not ModelSpec(sg=False, cbow_mean=False).bag_mean


# ---------------------------------------------------------------- exports and the gensim round trip


def test_exported_vectors_are_the_mean_of_the_word_and_its_ngram_rows():
    model = subword_model(ModelSpec(), seed=3)
    table = model.in_embed.weight.detach().numpy()
    v = len(VOCAB)
    for w, word in enumerate(VOCAB):
        rows = [w] + [v + h for h in ngram_buckets(word, SPEC.min_n, SPEC.max_n, SPEC.bucket)]
        np.testing.assert_allclose(model.vectors()[w].numpy(), table[rows].mean(0), atol=1e-6)


@pytest.mark.parametrize("negatives,hs", [(3, False), (0, True)])
def test_facebook_bin_round_trip_through_gensim(tmp_path, negatives, hs):
    spec = ModelSpec(sg=True, hs=hs, negatives=negatives)
    model = subword_model(spec, dim=8, seed=4)
    table = model.in_embed.weight.detach().numpy()
    out = (model.out_embed if negatives else model.hs_embed).weight.detach().numpy()
    path = tmp_path / "model.bin"
    save_fasttext_bin(
        path, VOCAB, COUNTS, table, out, SPEC, sg=True, hs=hs, negatives=negatives, window=5, epochs=3, min_count=1, sample=1e-3
    )
    ft = load_facebook_model(str(path))
    assert ft.wv.index_to_key == VOCAB and ft.wv.bucket == SPEC.bucket and (ft.wv.min_n, ft.wv.max_n) == (2, 4)
    assert ft.sg == 1 and ft.negative == negatives and ft.hs == int(hs) and ft.window == 5 and ft.epochs == 3
    assert [ft.wv.get_vecattr(w, "count") for w in VOCAB] == COUNTS.tolist()
    np.testing.assert_array_equal(ft.wv.vectors_ngrams, table[len(VOCAB) :])
    np.testing.assert_allclose(ft.wv.vectors, model.vectors().numpy(), atol=1e-6)  # in-vocabulary: composed
    composer = NgramComposer(table[len(VOCAB) :], SPEC)
    for word in ["apologize", "cats", "日本人", "unseenword"]:  # out of the vocabulary: the n-gram mean
        assert word not in ft.wv.key_to_index
        np.testing.assert_allclose(ft.wv[word], composer(word), atol=1e-6)
    if negatives:
        np.testing.assert_array_equal(ft.syn1neg, out)


def test_composed_similarity_scores_pairs_that_skipping_drops(tmp_path):
    model = subword_model(ModelSpec(), seed=6)
    composer = NgramComposer(model.in_embed.weight.detach().numpy()[len(VOCAB) :], SPEC)
    vecs = WordVectors(VOCAB, model.vectors().numpy(), oov=composer, name="ft")
    words = [("CAT", "CATS"), ("APOLOGY", "APOLOGIZE"), ("THE", "CAFÉ"), ("CAT", "THE")]
    pairs = WordPairs("toy", "toy", words, np.array([9.0, 8.0, 1.0, 2.0]))
    skipped, composed = evaluate_pairs(vecs, pairs), evaluate_pairs_composed(vecs, pairs)
    assert (skipped.pairs, skipped.oov) == (2, 2)
    assert (composed.pairs, composed.oov) == (4, 0) and composed.name == "toy_oov_composed"
    assert composed.spearman is not None


# ---------------------------------------------------------------- config and end to end


@pytest.mark.parametrize(
    "override,fragment",
    [("subwords.min_n=0", "subwords.min_n=0"), ("subwords.max_n=2", "subwords.max_n=2"), ("subwords.bucket=0", "subwords.bucket=0")],
)
def test_bad_subword_settings_are_one_line_errors(override, fragment):
    with pytest.raises(W2VError, match=fragment):
        validate(compose_train_cfg(["subwords.enabled=true", override]))


def test_defaults_are_gensims():
    cfg = compose_train_cfg([])
    assert (cfg.subwords.enabled, cfg.subwords.min_n, cfg.subwords.max_n, cfg.subwords.bucket) == (False, 3, 6, 2_000_000)
    assert compose_train_cfg(["model=fasttext"]).subwords.enabled


@pytest.mark.parametrize("engine", ["numba", pytest.param("torch", marks=pytest.mark.slow)])
def test_train_py_writes_a_facebook_bin_gensim_loads_and_answers_for_unseen_words(tmp_path, engine):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_synthetic_text(n_sentences=150, n_words=60, length=15, seed=1))
    run = tmp_path / "run"
    args = ["corpus=text", f"corpus.path={corpus}", "subwords.enabled=true", "subwords.bucket=5000", "min_count=1", "dim=12", "epochs=2"]
    args += [f"engine={engine}", "threads=1", "eval=none", "checkpoint_every_minutes=0", f"hydra.run.dir={run}"]
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *args], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "hashed into 5000 buckets" in log and "input table" in log  # the table sizes, logged at start-up
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epoch_loss"][-1] < metrics["epoch_loss"][0]
    ft = load_facebook_model(str(run / "fasttext.bin"))
    words = (run / "vectors.txt").read_text().splitlines()[1:]
    vectors = {line.split(" ")[0]: np.array(line.split(" ")[1:], dtype=np.float32) for line in words}
    assert set(vectors) == set(ft.wv.index_to_key)
    for word in list(vectors)[:10]:  # vectors.txt holds the composed in-vocabulary vectors gensim gives
        np.testing.assert_allclose(ft.wv[word], vectors[word], atol=1e-5)
    unseen = "zzqunseenword"
    assert unseen not in vectors
    vec = ft.wv[unseen]
    assert np.isfinite(vec).all() and np.linalg.norm(vec) > 0
    loaded = load_vectors(run)  # a run directory resolves to its full model, which composes unseen words
    assert loaded.oov is not None
    np.testing.assert_allclose(loaded.oov(unseen), vec, atol=1e-6)


def test_evaluate_py_on_a_facebook_bin_reports_oov_skipped_and_composed(tmp_path):
    model = subword_model(ModelSpec(), dim=8, seed=7)
    table = model.in_embed.weight.detach().numpy()
    path = tmp_path / "toy.bin"
    save_fasttext_bin(path, VOCAB, COUNTS, table, model.out_embed.weight.detach().numpy(), SPEC,
                      sg=True, hs=False, negatives=3, window=5, epochs=1, min_count=1, sample=1e-3)  # fmt: skip
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("cat cats 9\napology apologize 8\nthe café 1\ncat the 2\n")
    out = tmp_path / "eval"
    args = [f"vectors={path}", f"out={out}", f"eval.similarity=[{pairs}]", "eval.glove_path=null", "eval.plot=false"]
    cmd = [sys.executable, str(REPO_ROOT / "evaluate.py"), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "eval.json").read_text())
    sims = report["similarity"]  # one vectors file: the report itself
    assert sims["pairs"]["oov_pct"] == pytest.approx(50.0)
    assert sims["pairs_oov_composed"]["pairs"] == 4 and sims["pairs_oov_composed"]["oov"] == 0


def test_subwords_never_reach_the_plain_path(tmp_path):
    """subwords.enabled=false (the default) builds no bags: the input table is V rows, as before."""
    from w2v.train.trainer import train

    corpus = tmp_path / "c.txt"
    corpus.write_text(make_synthetic_text(n_sentences=40, n_words=20, length=10))
    cfg = compose_train_cfg(["corpus=text", f"corpus.path={corpus}", "eval=none", "min_count=1", "dim=8", "epochs=1", "threads=1"])
    train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "fasttext.bin").exists()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["model"]["in_embed.weight"].shape[0] == len(state["vocab"]["words"])


def test_word_and_ngram_rows_start_as_gensim_fasttexts():
    """fastText and gensim's FastText draw every input row uniform in ±1/dim (word2vec.c: ±0.5/dim)."""
    dim = 10
    bags = word_bags(VOCAB, SubwordSpec(3, 6, 5000))
    model = Word2VecModel(ModelSpec(), COUNTS, dim, bags=bags, generator=torch.Generator().manual_seed(0))
    w = model.in_embed.weight.detach()
    assert w.shape == (len(VOCAB) + 5000, dim)
    assert w.abs().max() <= 1.0 / dim and w.abs().max() > 0.9 / dim
    assert not model.out_embed.weight.detach().any()  # output vectors start at zero, as before


@pytest.mark.slow  # 15 s: resume itself is covered by test_resume
def test_interrupted_subwords_run_resumes_to_the_same_tables(tmp_path):
    """The bags are rebuilt from the checkpoint's vocabulary, so a resumed run equals an uninterrupted one."""
    import signal

    from helpers.resume import RUN_ARGS, checkpoint_vectors, resume_run, start_run, wait_for_checkpoint

    from w2v.train.checkpoint import load_checkpoint
    from w2v.train.trainer import train

    corpus = tmp_path / "c.txt"
    corpus.write_text(make_synthetic_text(n_sentences=400, n_words=200, length=20, seed=1))
    extra = ["subwords.enabled=true", "subwords.bucket=3000"]
    ref = tmp_path / "ref"
    train(compose_train_cfg([*RUN_ARGS, f"corpus.path={corpus}", *extra]), ref)
    run = tmp_path / "run"
    proc = start_run(run, corpus, extra)
    wait_for_checkpoint(proc, run)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert not load_checkpoint(run)["progress"]["done"], "the run finished before it was interrupted: the test proved nothing"
    done = resume_run(run)
    assert done.returncode == 0, done.stderr[-3000:]
    assert checkpoint_vectors(run).shape[0] == len(load_checkpoint(run)["vocab"]["words"]) + 3000
    assert np.array_equal(checkpoint_vectors(run), checkpoint_vectors(ref))
    assert load_facebook_model(str(run / "fasttext.bin")).wv.bucket == 3000
