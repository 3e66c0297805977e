"""corpus.tokenizer: regex / whitespace / a tokenizer.json / bpe, wordpiece, unigram trained on the corpus.

Offline: every Hugging Face tokenizer here is trained inside the test, on the Lee corpus or a few lines.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, run_train_py, write_text_file
from helpers.tokenizers import (
    TRICKY,
    byte_level_bpe,
    byte_level_with_prefix_space,
    lee_lines,
    metaspace_first_after_split,
    metaspace_unigram,
    rewriting_bpe,
    trained_tokenizer,
)
from tokenizers import Tokenizer, models, pre_tokenizers

from w2v.config import validate
from w2v.data.corpus import iter_sentences
from w2v.data.tokenizers import HFTokenizer, RegexTokenizer, iter_training_texts, prepare_tokenizer, visible
from w2v.errors import W2VError
from w2v.train.callbacks import Callback
from w2v.train.trainer import train

LEE_PREFIX = ["corpus.max_tokens=8000"]  # Lee's first 8k words: trains any kind in well under a second
QUICK = ["eval=none", "dim=16", "epochs=2", "window=3", "negatives=3", "threads=1", "checkpoint_every_minutes=0", "heldout=0", "seed=5"]


@pytest.fixture(scope="module")
def lee_file(tmp_path_factory) -> Path:
    """Lee's first 100 documents (~20k words), one per line."""
    return write_text_file(tmp_path_factory.mktemp("lee") / "lee100.txt", "\n".join(lee_lines(100)) + "\n")


def _tokens(kind: str, corpus: Path, run_dir: Path) -> list[str]:
    ccfg = compose_train_cfg([f"corpus.tokenizer={kind}", "corpus.tokenizer_vocab=600", "corpus=text", f"corpus.path={corpus}"]).corpus
    return [t for s in iter_sentences(ccfg, prepare_tokenizer(ccfg, run_dir)) for t in s]


def test_whitespace_splits_and_lowercases_only(lee_file, tmp_path):
    assert _tokens("whitespace", lee_file, tmp_path) == lee_file.read_text(encoding="utf-8").lower().split()


def test_regex_is_todays_tokenizer(lee_file, tmp_path):
    rx = RegexTokenizer(True, r"\w+(?:[-']\w+)*")
    assert _tokens("regex", lee_file, tmp_path) == [t for line in lee_lines(100) for t in rx(line)]


def test_bpe_pieces_join_back_into_the_words(lee_file, tmp_path):
    tokens = _tokens("bpe", lee_file, tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    assert any(t.startswith("##") for t in tokens) and "[UNK]" not in tokens
    words = re.findall(r"\w+|[^\w\s]+", lee_file.read_text(encoding="utf-8").lower())  # the Whitespace pre-tokenizer's words
    assert " ".join(tokens).replace(" ##", "").split() == words
    assert len(set(tokens)) <= 600


def test_wordpiece_pieces_join_back_into_berts_words(lee_file, tmp_path):
    tokens = _tokens("wordpiece", lee_file, tmp_path)
    assert "##ing" in tokens and "[UNK]" not in tokens
    text = unicodedata.normalize("NFD", lee_file.read_text(encoding="utf-8").lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")  # BERT uncased strips accents
    assert " ".join(tokens).replace(" ##", "").split() == re.findall(r"\w+|[^\w\s]", text)  # one punctuation mark a word


def test_unigram_pieces_join_back_into_the_text(lee_file, tmp_path):
    tokens = _tokens("unigram", lee_file, tmp_path)
    assert tokens[0].startswith("▁") and any(not t.startswith("▁") for t in tokens)
    assert "".join(tokens).replace("▁", " ").split() == unicodedata.normalize("NFKC", lee_file.read_text(encoding="utf-8").lower()).split()


def test_training_text_stops_at_max_tokens_words():
    texts = list(iter_training_texts(compose_train_cfg(["corpus.max_tokens=123"]).corpus))
    assert sum(len(t.split()) for t in texts) == 123


# ---------------------------------------------------------------- cutting text before the library sees it


@pytest.mark.parametrize(
    "make, mode",
    [
        (lambda lines: trained_tokenizer("bpe", lines), "words"),
        (lambda lines: trained_tokenizer("wordpiece", lines), "words"),
        (lambda lines: trained_tokenizer("unigram", lines), "words"),
        (byte_level_bpe, "segments"),
        (metaspace_unigram, "segments"),
        (rewriting_bpe, "exact"),
        (byte_level_with_prefix_space, "exact"),
        (metaspace_first_after_split, "exact"),
    ],
    ids=["bpe", "wordpiece", "unigram", "byte-level-bpe", "metaspace", "rewriting-normalizer", "prefix-space", "metaspace-first"],
)
def test_cached_words_give_the_librarys_own_tokens(make, mode):
    lines = lee_lines() + TRICKY
    tok = make(lines)
    hf = HFTokenizer(tok)
    assert hf.mode == mode
    texts = TRICKY + lee_lines(20) + [" ".join(line.split()) for line in lee_lines(20)]  # single-spaced too
    expected = [[visible(t) for t in tok.encode(text.rstrip("\r\n"), add_special_tokens=False).tokens] for text in texts]
    assert hf.batch(texts) == expected
    assert hf.batch(texts[::-1]) == expected[::-1]  # again, from the cache


def test_whitespace_inside_a_token_is_made_visible():
    assert visible("new york\n") == "newĠyorkĊ"
    assert visible("##ing") == "##ing" and visible("▁the") == "▁the"
    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_tokens(["new york"])
    hf = HFTokenizer(tok)
    assert hf.mode == "exact"
    assert hf.batch(["a new york a"]) == [["a", "newĠyork", "a"]]


def test_a_models_truncation_and_special_tokens_are_off(tmp_path):
    tok = trained_tokenizer("wordpiece", lee_lines())
    tok.enable_truncation(max_length=5)
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(single="[UNK] $A [UNK]", special_tokens=[("[UNK]", 0)])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    ccfg = compose_train_cfg([f"corpus.tokenizer={path}", *LEE_PREFIX]).corpus
    sentences = list(iter_sentences(ccfg))
    assert len(sentences[0]) > 100 and "[UNK]" not in sentences[0]


# ---------------------------------------------------------------- whole runs


def test_train_py_bpe_saves_its_tokenizer_and_gensim_loads_the_vectors(tmp_path):
    from gensim.models import KeyedVectors

    run_dir = tmp_path / "run"
    args = ["corpus.tokenizer=bpe", "corpus.tokenizer_vocab=800", *LEE_PREFIX, *QUICK, f"hydra.run.dir={run_dir}"]
    proc = run_train_py(args, cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tokenizer: trained bpe" in (run_dir / "train.log").read_text()
    saved = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
    assert saved.get_vocab_size() <= 800
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tokenizer"] == "bpe" and metrics["tokenizer_vocab"] == 800 and metrics["tokenizer_file"] == "tokenizer.json"
    words = [line.split("\t")[0] for line in (run_dir / "vocab.tsv").read_text(encoding="utf-8").splitlines()]
    assert "##ing" in words and set(words) <= set(saved.get_vocab())
    for name, binary in (("vectors.txt", False), ("vectors.bin", True)):
        kv = KeyedVectors.load_word2vec_format(str(run_dir / name), binary=binary)
        assert kv.index_to_key == words


def test_a_byte_level_tokenizer_json_trains_vectors_gensim_loads(tmp_path):
    from gensim.models import KeyedVectors

    path = tmp_path / "gpt2-like" / "tokenizer.json"
    path.parent.mkdir()
    byte_level_bpe(lee_lines(300)).save(str(path))
    run_dir = tmp_path / "run"
    metrics = train(compose_train_cfg([f"corpus.tokenizer={path.parent}", *LEE_PREFIX, *QUICK, "epochs=1"]), run_dir)
    assert metrics["tokenizer"] == str(path.resolve())
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    assert any(w.startswith("Ġ") for w in kv.index_to_key)
    assert kv.index_to_key == KeyedVectors.load_word2vec_format(str(run_dir / "vectors.txt")).index_to_key


class _StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, trainer):
        if trainer.progress.epoch == 1:
            raise KeyboardInterrupt  # as after Ctrl-C: the epoch's checkpoint is written


def test_resume_reuses_the_saved_tokenizer_and_is_bit_equal(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    args = ["corpus.tokenizer=wordpiece", "corpus.tokenizer_vocab=500", *LEE_PREFIX, *QUICK]
    with pytest.raises(KeyboardInterrupt):
        train(compose_train_cfg(args), run_dir, callbacks=[_StopAfterFirstEpoch()])
    saved = run_dir / "tokenizer.json"
    before = (saved.read_bytes(), saved.stat().st_mtime_ns)
    monkeypatch.setattr("w2v.data.tokenizers.train_tokenizer", lambda *a: pytest.fail("a resume retrained the tokenizer"))
    train(compose_train_cfg([f"resume={run_dir}"]), explicit=["resume"])
    assert (saved.read_bytes(), saved.stat().st_mtime_ns) == before
    # The same tokens from the saved file, in one go: the same vectors, bit for bit.
    ref = tmp_path / "ref"
    train(compose_train_cfg([*args, f"corpus.tokenizer={saved}"]), ref)
    resumed, straight = (torch.load(d / "checkpoint.pt", weights_only=True)["model"]["in_embed.weight"] for d in (run_dir, ref))
    assert torch.equal(resumed, straight)
    assert (run_dir / "vocab.tsv").read_text() == (ref / "vocab.tsv").read_text()


def test_init_reuses_the_earlier_runs_tokenizer(tmp_path, monkeypatch):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    tok = trained_tokenizer("bpe", lee_lines())
    tok.save(str(earlier / "tokenizer.json"))
    monkeypatch.setattr("w2v.data.tokenizers.train_tokenizer", lambda *a: pytest.fail("init retrained the tokenizer"))
    new = tmp_path / "new"
    new.mkdir()
    ccfg = compose_train_cfg(["corpus.tokenizer=bpe", *LEE_PREFIX]).corpus
    hf = prepare_tokenizer(ccfg, new, init_dir=str(earlier))
    assert (new / "tokenizer.json").read_bytes() == (earlier / "tokenizer.json").read_bytes()
    assert hf.batch(["walking quickly"]) == [tok.encode("walking quickly").tokens]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "override, message",
    [
        ("corpus.tokenizer_vocab=0", "invalid value corpus.tokenizer_vocab=0: must be >= 1"),
        ("corpus.tokenizer=bpee", "corpus.tokenizer='bpee': no such file, and not one of regex, whitespace, bpe"),
        ("corpus.tokenizer=/nonexistent/tokenizer.json", "no such file"),
    ],
)
def test_bad_tokenizer_settings_are_one_line_errors(override, message):
    with pytest.raises(W2VError, match=re.escape(message)) as err:
        validate(compose_train_cfg([override]))
    assert "\n" not in str(err.value)


def test_malformed_tokenizer_json_names_the_file_and_the_fix(tmp_path):
    bad = write_text_file(tmp_path / "tokenizer.json", '{"model": "not a tokenizer"')
    with pytest.raises(W2VError) as err:
        validate(compose_train_cfg([f"corpus.tokenizer={bad}"]))
    assert f"{bad} is not a Hugging Face tokenizer.json" in str(err.value) and "Tokenizer.save(path)" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_reader_corpus_refuses_a_tokenizer():
    with pytest.raises(W2VError, match="reads its own tokens"):
        validate(compose_train_cfg(["corpus=playlists", "corpus.tokenizer=bpe"]))


def test_regex_sentences_are_unchanged_by_batching(tmp_path):
    """Many pieces per tokenizer call: a file of short lines and a text8-style long line give the
    sentences the piece-by-piece tokenizer gives."""
    from w2v.data import corpus as corpus_mod

    lines = [f"Line {i} has some Words, and-more {i % 7}" for i in range(9000)]
    path = write_text_file(tmp_path / "c.txt", "\n".join(lines) + "\n")
    ccfg = compose_train_cfg(["corpus=text", f"corpus.path={path}", "corpus.max_sentence_length=5"]).corpus
    rx = RegexTokenizer(True, ccfg.token_pattern)
    expected = []
    for line in lines:
        toks = rx(line)
        expected += [toks[i : i + 5] for i in range(0, len(toks), 5)]
    assert list(iter_sentences(ccfg)) == expected
    assert corpus_mod.BATCH_PIECES < len(lines)  # more than one batch
    assert np.all(np.array([len(s) for s in expected]) <= 5)


@pytest.mark.slow
def test_torchrun_trains_the_tokenizer_once_and_every_rank_uses_it(tmp_path):
    import os
    import subprocess
    import sys

    from helpers import TRAIN_PY

    from w2v.train import dist as wdist

    run_dir = tmp_path / "run"
    args = ["corpus.tokenizer=bpe", "corpus.tokenizer_vocab=800", *LEE_PREFIX, *QUICK, "block_tokens=512", f"hydra.run.dir={run_dir}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TRAIN_PY), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tokenizer: trained bpe" in (run_dir / "train.log").read_text()
    rank1 = (run_dir / "train.rank1.log").read_text()
    assert "tokenizer: bpe from" in rank1 and "trained bpe" not in rank1  # loaded rank 0's file
    words = [line.split("\t")[0] for line in (run_dir / "vocab.tsv").read_text(encoding="utf-8").splitlines()]
    assert set(words) <= set(Tokenizer.from_file(str(run_dir / "tokenizer.json")).get_vocab())
