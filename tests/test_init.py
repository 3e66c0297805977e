"""Continue training on new text (``init=RUN_DIR``): the vocabulary merge, the tables copied by word,
the model keys taken from the earlier run, the errors, and the behaviour next to gensim's
``build_vocab(update=True)`` + ``train()`` on the same sequence (Lee, then unrelated new text)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, write_text_file

from w2v.config import validate
from w2v.data.corpus import iter_sentences
from w2v.data.vocab import Vocab, encode_corpus, merge_vocab
from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.train.checkpoint import load_checkpoint, save_checkpoint
from w2v.train.trainer import train
from w2v.train.warm_start import InitRun, init_config, init_model, load_init_run

TOPICS = {"zorp": [f"zorp{i}" for i in range(8)], "blick": [f"blick{i}" for i in range(8)]}
OLD_IN_NEW = ["the", "of", "and", "to", "a", "in"]  # frequent Lee words the new text also uses


def new_text(n_sentences: int = 1500, seed: int = 0) -> list[list[str]]:
    """Unrelated new text: sentences of one made-up topic's words, with a few common Lee words mixed in."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        topic = TOPICS[rng.choice(sorted(TOPICS))]
        sentences.append([rng.choice(OLD_IN_NEW) if rng.random() < 0.25 else rng.choice(topic) for _ in range(12)])
    return sentences


def load_word2vec(path: Path) -> tuple[list[str], np.ndarray]:
    """Words and vectors of an exported run, read by gensim (the round trip users make)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    return list(kv.index_to_key), kv.vectors


def encoded_from(tmp_path: Path, sentences: list[list[str]]):
    return encode_corpus(sentences, tmp_path / "corpus.ids")


# ---------------------------------------------------------------- the vocabulary merge


def test_merge_adds_counts_keeps_old_words_and_admits_new_words_at_min_count(tmp_path):
    base = Vocab(["the", "cat", "dog", "emu"], np.array([10, 6, 5, 5]))
    enc = encoded_from(tmp_path, [["cat", "zorp", "zorp", "fish", "the"], ["zorp", "cat", "cat", "fish"], ["cat", "yak"]])
    vocab = merge_vocab(base, enc, min_count=2)
    counts = dict(zip(vocab.words, vocab.counts.tolist()))
    # cat 6+4; the 10+1; old words absent from the new text stay; zorp (3) and fish (2) join, yak (1) does not.
    assert counts == {"the": 11, "cat": 10, "dog": 5, "emu": 5, "zorp": 3, "fish": 2}
    assert vocab.words == ["the", "cat", "dog", "emu", "zorp", "fish"]  # descending merged count, stable
    corpus = dict(zip(vocab.words, vocab.corpus_counts.tolist()))
    assert corpus == {"the": 1, "cat": 4, "dog": 0, "emu": 0, "zorp": 3, "fish": 2}
    assert vocab.total == 10  # the new text's in-vocabulary tokens: the LR schedule's words per epoch
    for prov, word in enumerate(enc.words):
        assert vocab.remap[prov] == (vocab.words.index(word) if word in vocab.words else -1)
    keep = vocab.keep_probs(1e-3)
    assert np.all(np.isfinite(keep)) and keep[vocab.words.index("dog")] == 1.0
    # The noise distribution is over the merged counts.
    assert np.allclose(vocab.noise_weights(0.75), np.array([11, 10, 5, 5, 3, 2]) ** 0.75)


def test_merge_reorders_when_new_counts_overtake(tmp_path):
    base = Vocab(["a", "b"], np.array([5, 4]))
    enc = encoded_from(tmp_path, [["b"] * 3 + ["new"] * 20])
    vocab = merge_vocab(base, enc, min_count=5)
    assert vocab.words == ["new", "b", "a"] and vocab.counts.tolist() == [20, 7, 5]
    assert vocab.remap[enc.words.index("new")] == 0 and vocab.remap[enc.words.index("b")] == 1


# ---------------------------------------------------------------- tables copied by word


def _init_run(spec: ModelSpec, words: list[str], counts: list[int], dim: int = 4) -> InitRun:
    old = Word2VecModel(spec, np.array(counts), dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for table in (old.in_embed, old.out_embed, old.hs_embed):
            table.weight.copy_(torch.randn(table.weight.shape))
    weights = {k: v.clone() for k, v in old.state_dict().items()}
    return InitRun(Path("old"), spec, dim, Vocab(words, np.array(counts)), weights)


@pytest.mark.parametrize("spec", [ModelSpec(), ModelSpec(sg=False, hs=True, negatives=0), ModelSpec(hs=True, negatives=3)], ids=str)
def test_old_words_keep_both_vectors_and_new_words_start_like_gensims(tmp_path, spec):
    dim = 4
    init = _init_run(spec, ["a", "b", "c"], [9, 5, 4], dim)
    vocab = merge_vocab(init.vocab, encoded_from(tmp_path, [["n"] * 6 + ["c"] * 6 + ["m"] * 2]), min_count=2)
    assert vocab.words == ["c", "a", "n", "b", "m"]
    model = Word2VecModel(spec, vocab.counts, dim, generator=torch.Generator().manual_seed(1))
    assert init_model(model, vocab, init) == 3
    for old_row, word in enumerate(init.vocab.words):
        new_row = vocab.words.index(word)
        assert torch.equal(model.in_embed.weight[new_row], init.weights["in_embed.weight"][old_row])
        if spec.negatives:
            assert torch.equal(model.out_embed.weight[new_row], init.weights["out_embed.weight"][old_row])
    for word in ("n", "m"):  # gensim: input uniform in ±1/dim, output zero
        row = vocab.words.index(word)
        assert model.in_embed.weight[row].abs().max() <= 1.0 / dim and model.in_embed.weight[row].abs().sum() > 0
        if spec.negatives:
            assert not model.out_embed.weight[row].any()
    if spec.hs:  # gensim's update_weights: inner-node rows kept by index, the new ones zero
        old_hs = init.weights["hs_embed.weight"]
        assert len(model.hs_embed.weight) == len(vocab) - 1
        assert torch.equal(model.hs_embed.weight[: len(old_hs)], old_hs) and not model.hs_embed.weight[len(old_hs) :].any()


# ---------------------------------------------------------------- the model keys and errors


@pytest.fixture
def sg_init() -> InitRun:
    return _init_run(ModelSpec(sg=True, hs=False, negatives=3), ["a", "b"], [5, 4], dim=24)


def test_the_model_comes_from_the_init_run(sg_init):
    cfg = init_config(compose_train_cfg(["init=somewhere"]), sg_init, given={"init"})
    assert (cfg.sg, cfg.hs, cfg.negatives, cfg.dim, cfg.lr) == (True, False, 3, 24, 0.025)
    cfg = init_config(compose_train_cfg(["init=somewhere", "init_lr=0.01"]), sg_init, given={"init", "init_lr"})
    assert cfg.lr == 0.01 and cfg.init_lr == 0.01  # the schedule restarts at init_lr


@pytest.mark.parametrize(
    "overrides, given",
    [(["dim=50"], {"dim"}), (["model=cbow"], {"model"}), (["negatives=5"], {"negatives"}), (["hs=true"], {"hs"})],
    ids=["dim", "model-group", "negatives-explicit-default", "hs"],
)
def test_a_conflicting_model_setting_is_a_one_line_error(sg_init, overrides, given):
    if overrides == ["model=cbow"]:  # and model=sg, the default, conflicts with a CBOW init run when given
        cbow_init = _init_run(ModelSpec(sg=False, negatives=3), ["a", "b"], [5, 4], dim=24)
        with pytest.raises(W2VError, match="this run sets sg=True"):
            init_config(compose_train_cfg(["init=x", "model=sg"]), cbow_init, given={"init", "model"})
        assert init_config(compose_train_cfg(["init=x"]), cbow_init, given={"init"}).sg is False
    with pytest.raises(W2VError, match=r"init=old trained sg-ns with dim=24, but this run sets .*drop"):
        init_config(compose_train_cfg(["init=somewhere", *overrides]), sg_init, given={"init", *given})


def test_init_path_does_not_name_sweep_directories():
    from helpers import CONFIG_DIR
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR), job_name="test"):
        cfg = compose("train", overrides=["init=outputs/x"], return_hydra_config=True)
    assert "init" in cfg.hydra.job.config.override_dirname.exclude_keys


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["init=x", "resume=y"], "init= and resume= are exclusive"),
        (["init_lr=0.01"], "init_lr is set without init=RUN_DIR"),
        (["init=x", "init_lr=0.00001"], "need 0 <= min_lr <= init_lr"),
    ],
)
def test_bad_init_settings_fail_validation(overrides, message):
    with pytest.raises(W2VError, match=message):
        validate(compose_train_cfg(overrides))


def test_missing_or_unfinished_init_run_is_a_one_line_error(tmp_path, lee_run):
    with pytest.raises(W2VError, match="no such run directory"):
        load_init_run(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(W2VError, match="checkpoint.pt is missing"):
        load_init_run(str(tmp_path / "empty"))
    state = load_checkpoint(lee_run[0])
    state["progress"]["done"] = False
    state.pop("format")
    (tmp_path / "unfinished").mkdir()
    save_checkpoint(tmp_path / "unfinished" / "checkpoint.pt", state)
    with pytest.raises(W2VError, match=r"has not finished; finish it first with: python train.py resume="):
        load_init_run(str(tmp_path / "unfinished"))
    with pytest.raises(W2VError, match="max_vocab cannot be combined with init"):
        init_config(compose_train_cfg(["init=x", "max_vocab=10"]), load_init_run(str(lee_run[0])), {"init"})


# ---------------------------------------------------------------- behaviour, next to gensim's


def _stats(old: dict[str, np.ndarray], new: dict[str, np.ndarray], most_similar) -> dict[str, float]:
    """How much old vectors moved, and whether new words found their own topic."""

    def cos(u, v):
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    shared = [w for w in OLD_IN_NEW if w in old]
    topic_of = {w: t for t, ws in TOPICS.items() for w in ws}
    hits = [sum(topic_of.get(n) == topic_of[w] for n in most_similar(w, 5)) / 5 for w in topic_of]
    return {
        "untouched_cos": min(cos(old[w], new[w]) for w in old if w not in OLD_IN_NEW),
        "shared_cos": float(np.mean([cos(old[w], new[w]) for w in shared])),
        "topic_precision@5": float(np.mean(hits)),
    }


def _neighbours(words: list[str], vectors: np.ndarray):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def most_similar(word: str, k: int) -> list[str]:
        sims = unit @ unit[words.index(word)]
        return [words[i] for i in np.argsort(-sims)[1 : k + 1]]

    return most_similar


@pytest.fixture(scope="module")
def new_corpus(tmp_path_factory) -> Path:
    return write_text_file(tmp_path_factory.mktemp("new") / "new.txt", "\n".join(" ".join(s) for s in new_text()) + "\n")


@pytest.fixture(scope="module")
def w2v_continued(tmp_path_factory, lee_run, new_corpus) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("continued")
    overrides = [f"init={lee_run[0]}", "corpus=text", f"corpus.path={new_corpus}", "eval=none", "epochs=5", "window=3"]
    overrides += ["threads=1", "seed=3", "checkpoint_every_minutes=0", "log_every=5"]
    return run_dir, train(compose_train_cfg(overrides), run_dir)


def test_continued_run_exports_old_and_new_words_with_merged_counts(lee_run, w2v_continued):
    old_words, _ = load_word2vec(lee_run[0] / "vectors.bin")
    words, vectors = load_word2vec(w2v_continued[0] / "vectors.bin")
    new_words = [w for ws in TOPICS.values() for w in ws]
    assert set(words) == set(old_words) | set(new_words) and vectors.shape == (len(old_words) + len(new_words), 24)
    vocab = Vocab.load_tsv(w2v_continued[0] / "vocab.tsv")
    old_counts = dict(zip(*(lambda v: (v.words, v.counts.tolist()))(Vocab.load_tsv(lee_run[0] / "vocab.tsv"))))
    new_counts = {}
    for sentence in new_text():
        for w in sentence:
            new_counts[w] = new_counts.get(w, 0) + 1
    assert dict(zip(vocab.words, vocab.counts.tolist())) == {w: old_counts.get(w, 0) + new_counts.get(w, 0) for w in words}
    metrics = json.loads((w2v_continued[0] / "metrics.json").read_text())
    assert metrics["train_words"] == sum(new_counts.values()) and metrics["model"] == "sg-ns"
    state = torch.load(w2v_continued[0] / "checkpoint.pt", weights_only=True)
    assert state["config"]["init"] == str(lee_run[0]) and state["config"]["negatives"] == 3  # from the Lee run, not the default 5
    assert int(state["vocab"]["corpus_counts"].sum()) == sum(new_counts.values())  # a resume keeps the new text's schedule


def test_continued_training_behaves_like_gensims_update(lee_run, w2v_continued, new_corpus):
    """Lee, then the unrelated new text, in w2v and in gensim (same settings): old vectors that the new
    text never uses stay put, the shared common words move only a little, and new words find their topic."""
    from gensim.models import Word2Vec

    old_words, old_vectors = load_word2vec(lee_run[0] / "vectors.bin")
    words, vectors = load_word2vec(w2v_continued[0] / "vectors.bin")
    index = {w: i for i, w in enumerate(words)}
    ours = _stats(dict(zip(old_words, old_vectors)), {w: vectors[index[w]] for w in words}, _neighbours(words, vectors))

    lee = [s for s in iter_sentences(compose_train_cfg([]).corpus)]
    model = Word2Vec(lee, vector_size=24, window=3, negative=3, sg=1, min_count=5, epochs=3, seed=3, workers=1)
    before = {w: model.wv[w].copy() for w in model.wv.index_to_key}
    new = new_text()
    model.build_vocab(new, update=True)
    model.train(new, total_examples=len(new), epochs=5)
    theirs = _stats(before, {w: model.wv[w] for w in model.wv.index_to_key}, lambda w, k: [n for n, _ in model.wv.most_similar(w, topn=k)])

    print("w2v", ours, "gensim", theirs)
    for stats in (ours, theirs):
        assert stats["untouched_cos"] == pytest.approx(1.0, abs=1e-6)  # input rows change only as a bag member
        assert stats["shared_cos"] > 0.9  # measured: w2v 0.999, gensim 0.994
        assert stats["topic_precision@5"] >= 0.9  # measured: 1.0 in both
    assert abs(ours["shared_cos"] - theirs["shared_cos"]) < 0.05


# ---------------------------------------------------------------- train.py, as a user runs it


def test_train_py_init_as_a_user_runs_it(tmp_path, lee_run, new_corpus, run_train):
    from concurrent.futures import ThreadPoolExecutor

    base = ["corpus=text", f"corpus.path={new_corpus}", "eval=none", "epochs=1", "threads=1"]
    jobs = {
        "ok": [f"init={lee_run[0]}", *base],
        "conflict": [f"init={lee_run[0]}", "negatives=5", *base],  # explicit, although it is the default
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(zip(jobs, pool.map(lambda kv: run_train([*kv[1], f"hydra.run.dir={tmp_path / kv[0]}"], cwd=tmp_path), jobs.items())))
    assert procs["ok"].returncode == 0, procs["ok"].stderr[-3000:]
    words, _ = load_word2vec(tmp_path / "ok" / "vectors.bin")
    assert "zorp0" in words and "the" in words and "government" in words  # new, shared and old-only words
    # A missing init run fails the same way (one W2VError line); test_missing_or_unfinished_... covers it in-process.
    proc = procs["conflict"]
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert proc.returncode == 2 and len(errors) == 1 and "this run sets negatives=5" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not list((tmp_path / "conflict").glob("*.pt"))


@pytest.mark.slow  # 15 s: resume itself is covered by test_resume
def test_an_interrupted_init_run_resumes_to_the_same_vectors(tmp_path, lee_run, new_corpus):
    """The merged vocabulary, the new text's schedule (corpus_counts) and the position survive a SIGKILL."""
    import signal
    import subprocess
    import sys
    import time

    from helpers import TRAIN_PY

    args = [f"init={lee_run[0]}", "corpus=text", f"corpus.path={new_corpus}", "eval=none", "epochs=2", "threads=1", "seed=5"]
    args += ["block_tokens=2000", "batch_size=256", "checkpoint_every_minutes=0", "checkpoint_every_words=2000", "log_every=1"]
    ref = train(compose_train_cfg(args), tmp_path / "ref")
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN_PY), *args, f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 90
    while not (run_dir / "checkpoint.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not load_checkpoint(run_dir)["progress"]["done"], "the run finished before it was interrupted: the test proved nothing"
    done = subprocess.run([sys.executable, str(TRAIN_PY), f"resume={run_dir}", "threads=1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ours = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    theirs = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=True)
    assert ours["vocab"]["words"] == theirs["vocab"]["words"]
    assert torch.equal(ours["model"]["in_embed.weight"], theirs["model"]["in_embed.weight"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["words_done"] == ref["words_done"] == 2 * ref["train_words"]
