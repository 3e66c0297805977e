"""Phrases over the encoded corpus: gensim's scores exactly, the same phrases and rewritten sentences as
``gensim.models.Phrases`` (once and applied twice), chunking, and phrase tokens in a run's exports."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gensim.models.phrases import Phrases, npmi_scorer, original_scorer
from helpers import compose_train_cfg, make_synthetic_text
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from w2v.config import PhrasesConfig, validate
from w2v.data import phrases as phrases_mod
from w2v.data.corpus import iter_sentences
from w2v.data.phrases import count_pairs, detect_phrases, npmi_score, original_score, score_pairs
from w2v.data.vocab import SENTENCE_END, encode_corpus
from w2v.errors import W2VError

counts = st.integers(min_value=1, max_value=10**7)


def test_defaults_are_gensims():
    import inspect

    gensim_defaults = {k: p.default for k, p in inspect.signature(Phrases.__init__).parameters.items()}
    ours = compose_train_cfg([]).phrases
    assert not ours.enabled and ours.passes == 1
    for key in ("threshold", "min_count", "scoring", "delimiter"):
        assert ours[key] == gensim_defaults[key], key


@given(a=counts, b=counts, ab=counts, len_vocab=st.integers(1, 10**8), min_count=st.integers(1, 100))
def test_original_score_equals_gensims_bit_for_bit(a, b, ab, len_vocab, min_count):
    ours = original_score(a, b, ab, len_vocab, min_count)
    assert ours == original_scorer(a, b, ab, len_vocab, min_count, 0)


@given(a=counts, b=counts, ab=counts, extra=st.integers(0, 10**9), min_count=st.integers(1, 100))
def test_npmi_score_equals_gensims_bit_for_bit(a, b, ab, extra, min_count):
    # Counts a corpus can have: a pair occurs at most as often as either word, and the two words'
    # occurrences are distinct tokens (so a pair is never the whole corpus, where gensim divides by zero).
    ab = min(ab, a, b)
    total = a + b + extra
    ours = npmi_score(a, b, ab, min_count, total)
    theirs = npmi_scorer(a, b, ab, 0, min_count, total)
    assert ours == theirs or (math.isinf(ours) and math.isinf(theirs))


def lee_sentences() -> list[list[str]]:
    return [s for s in iter_sentences(compose_train_cfg([]).corpus) if s]


def decode(path: Path, words: list[str]) -> list[list[str]]:
    """The sentences of an id file, as words."""
    out, cur = [], []
    for i in np.fromfile(path, dtype=np.int32).tolist():
        if i == SENTENCE_END:
            out.append(cur)
            cur = []
        else:
            cur.append(words[i])
    return out


def pcfg(**kw) -> PhrasesConfig:
    return OmegaConf.structured(PhrasesConfig(enabled=True, **kw))


@pytest.fixture(scope="module")
def lee() -> list[list[str]]:
    return lee_sentences()


@pytest.mark.parametrize("scoring", ["default", "npmi"])
def test_every_pair_scores_as_in_gensims_phrases(tmp_path, lee, scoring):
    """Whole pipeline: gensim's counts (len_vocab = distinct words + distinct pairs, corpus word count)."""
    threshold, min_count = (10.0, 5) if scoring == "default" else (0.5, 5)
    enc = encode_corpus(lee, tmp_path / "c.ids")
    keys, pair_counts = count_pairs(enc.path, len(enc.words))
    ours = score_pairs(keys, pair_counts, enc.counts, pcfg(scoring=scoring, threshold=threshold, min_count=min_count), enc.n_tokens)
    model = Phrases(lee, min_count=min_count, threshold=threshold, scoring=scoring)
    n = len(enc.words)
    theirs = np.array([model.scoring(
        worda_count=model.vocab[enc.words[k // n]], wordb_count=model.vocab[enc.words[k % n]],
        bigram_count=model.vocab[f"{enc.words[k // n]}_{enc.words[k % n]}"], len_vocab=len(model.vocab),
        min_count=min_count, corpus_word_count=model.corpus_word_count,
    ) for k in keys.tolist()])  # fmt: skip
    assert len(keys) == sum("_" in w for w in model.vocab)  # the same distinct pairs (Lee has no "_" tokens)
    assert np.array_equal(ours, theirs)
    found = {f"{enc.words[k // n]}_{enc.words[k % n]}" for k in keys[ours > threshold].tolist()}
    assert found == set(model.export_phrases()) and len(found) > 50


@pytest.mark.parametrize(
    "scoring, threshold, min_count, passes",
    [("default", 10.0, 5, 1), ("default", 2.0, 2, 2), ("npmi", 0.3, 3, 1), ("npmi", 0.0, 5, 2)],
)
def test_rewritten_corpus_equals_gensims_phrases_applied_passes_times(tmp_path, lee, scoring, threshold, min_count, passes):
    settings = pcfg(scoring=scoring, threshold=threshold, min_count=min_count, passes=passes)
    enc = detect_phrases(encode_corpus(lee, tmp_path / "c.ids"), settings)
    expected = lee
    for _ in range(passes):
        model = Phrases(expected, min_count=min_count, threshold=threshold, scoring=scoring)
        expected = [model[s] for s in expected]
    ours = decode(enc.path, enc.words)
    assert ours == expected
    tokens = [w for s in ours for w in s]
    assert enc.n_tokens == len(tokens) and {w: c for w, c in zip(enc.words, enc.counts.tolist()) if c} == Counter(tokens)
    longest = max(w.count("_") for w in tokens) + 1
    assert longest == 2 if passes == 1 else longest >= 3  # a second pass joins phrases into longer ones


def test_chunked_passes_give_the_same_result(tmp_path, lee, monkeypatch):
    whole = detect_phrases(encode_corpus(lee, tmp_path / "a.ids"), pcfg(passes=2))
    monkeypatch.setattr(phrases_mod, "_CHUNK_IDS", 1000)  # many chunks, cut at sentence ends
    chunked = detect_phrases(encode_corpus(lee, tmp_path / "b.ids"), pcfg(passes=2))
    assert chunked.words == whole.words and np.array_equal(chunked.counts, whole.counts)
    assert np.array_equal(np.fromfile(chunked.path, dtype=np.int32), np.fromfile(whole.path, dtype=np.int32))


def test_a_token_spelled_like_a_phrase_becomes_the_same_word(tmp_path):
    sentences = [["new", "york", "is", "big"]] * 20 + [["new_york"]] * 3 + [["is", "old"]]
    enc = detect_phrases(encode_corpus(sentences, tmp_path / "c.ids"), pcfg(min_count=1, threshold=0.1))
    assert enc.words.count("new_york") == 1 and enc.counts[enc.words.index("new_york")] == 23


@pytest.mark.parametrize(
    "override, message",
    [
        ("phrases.scoring=pmi", "unknown phrases.scoring 'pmi'"),
        ("phrases.threshold=0", "must be > 0 with phrases.scoring=default"),
        ("phrases.min_count=0", "phrases.min_count=0: must be >= 1"),
        ("phrases.passes=0", "phrases.passes=0: must be >= 1"),
    ],
)
def test_bad_phrase_settings_are_one_line_errors(override, message):
    with pytest.raises(W2VError, match=message):
        validate(compose_train_cfg(["phrases.enabled=true", override]))
    with pytest.raises(W2VError, match="must be in \\[-1, 1\\] with phrases.scoring=npmi"):
        validate(compose_train_cfg(["phrases.scoring=npmi", "phrases.threshold=10"]))


def test_train_py_with_phrases_exports_phrase_tokens_that_gensim_loads(tmp_path, run_train):
    from gensim.models import KeyedVectors

    # Zipf-like filler over 300 words, with "los angeles" in 60 of its lines.
    lines = make_synthetic_text(n_sentences=400, n_words=300, length=15, seed=2).splitlines()
    lines = [f"{line} los angeles" if i % 5 == 0 else line for i, line in enumerate(lines)] + ["angeles los"] * 3
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines) + "\n")
    args = ["corpus=text", f"corpus.path={corpus}", "phrases.enabled=true", "phrases.passes=2", "eval=none", "epochs=1", "threads=1"]
    proc = run_train([*args, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "run" / "vectors.bin"), binary=True)
    assert "los_angeles" in kv.key_to_index and "angeles_los" not in kv.key_to_index and kv.vector_size == 100
    counts = dict(line.split("\t") for line in (tmp_path / "run" / "vocab.tsv").read_text().splitlines())
    assert counts["los_angeles"] == "80" and "angeles" not in counts and kv.most_similar("los_angeles", topn=3)
    assert "phrases pass 1/2" in (tmp_path / "run" / "train.log").read_text()


@pytest.mark.slow
def test_phrases_keep_the_counting_pass_within_twice_its_time(tmp_path, requires_data):
    """On a 5M-token prefix of wiki8: encode (the counting pass) vs encode + one phrase pass."""
    import time

    path = requires_data("wiki8/wiki8.txt.gz")
    cfg = compose_train_cfg(["corpus=text8", f"corpus.path={path}"])
    detect_phrases(encode_corpus([["a", "b"]] * 10, tmp_path / "warm.ids"), pcfg())  # numba's one-off load, as in a run
    start = time.perf_counter()
    enc = encode_corpus(iter_sentences(cfg.corpus), tmp_path / "c.ids", max_tokens=5_000_000)
    counting = time.perf_counter() - start
    start = time.perf_counter()
    out = detect_phrases(enc, pcfg())
    phrases = time.perf_counter() - start
    print(f"counting pass {counting:.2f}s, phrases {phrases:.2f}s: {(counting + phrases) / counting:.2f}x")
    assert counting + phrases < 2 * counting
    assert {"united_states", "such_as"} <= set(out.words[len(enc.words) :])
