"""export_formats: sentence-transformers and model2vec models that encode a sentence as the mean of its
in-vocabulary words' vectors (to 1e-6), loaded offline by their own libraries; safetensors tables that
load back; the word tokenizer against training's; start-up errors; train.py as a user runs it.

Each format's tests skip, with the reason, when its library is not installed (pip install -e ".[export]").
"""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from w2v.config import validate
from w2v.data.tokenizers import RegexTokenizer as Tokenizer
from w2v.data.vocab import Vocab
from w2v.errors import W2VError
from w2v.exports import FORMATS, check_formats
from w2v.exports.tokenizer import MARK, onig_pattern, word_normalizer, word_pre_tokenizer, word_tokenizer
from w2v.train.trainer import train

ALL = "[word2vec,sentence_transformers,model2vec,safetensors]"
WORDS = "the a cat dog sat on mat and ran o'brien co-op fast slowly big small red blue river tree house".split()
# A sentence with unknown words, capitals and punctuation: the OOV words must not count in the mean.
SENTENCE = "The big Cat sat on O'Brien's mat, zzyzx qwerty! A co-op DOG ran x"


def tiny_text(n_sentences: int = 300, seed: int = 0) -> str:
    """Sentences over WORDS with capitals and punctuation, so lowercasing and the token pattern matter."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        words = rng.choices(WORDS, k=rng.randint(4, 12))
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice([".", "!", "?", ", ok."]))
    return "\n".join(lines) + "\n"


def word2vec_vectors(run_dir) -> dict[str, np.ndarray]:
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    return {w: kv[w] for w in kv.index_to_key}


def expected_mean(vectors: dict[str, np.ndarray], tokens: list[str]) -> np.ndarray:
    """word2vec's sentence vector: the mean of the in-vocabulary tokens' vectors (zeros when none)."""
    known = [vectors[t] for t in tokens if t in vectors]
    dim = len(next(iter(vectors.values())))
    return np.mean(known, axis=0) if known else np.zeros(dim, dtype=np.float32)


@pytest.fixture(scope="module")
def word_run(tmp_path_factory, write_text_file, quick_overrides, compose_cfg):
    """One tiny real training run writing every format: the run directory."""
    for name in ("sentence_transformers", "model2vec", "safetensors"):
        pytest.importorskip(name)
    tmp = tmp_path_factory.mktemp("exports")
    corpus = write_text_file(tmp / "tiny.txt", tiny_text())
    run_dir = tmp / "run"
    run_dir.mkdir()
    cfg = compose_cfg(quick_overrides(corpus, min_count=2, epochs=2, export_formats=ALL))
    train(cfg, run_dir)
    return run_dir


# ---------------------------------------------------------------- config


def test_the_default_writes_only_word2vec(compose_cfg):
    cfg = compose_cfg([])
    assert list(cfg.export_formats) == ["word2vec"]
    validate(cfg)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("[word2vec,onnx]", "unknown export format 'onnx' in export_formats: use " + ", ".join(FORMATS)),
        ("[]", "export_formats is empty: list at least one of word2vec"),
    ],
)
def test_a_bad_format_list_is_one_line(compose_cfg, value, fragment):
    with pytest.raises(W2VError) as err:
        validate(compose_cfg([f"export_formats={value}"]))
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("fmt", ["sentence_transformers", "model2vec", "safetensors"])
def test_a_missing_library_says_how_to_install_it(compose_cfg, monkeypatch, fmt):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == fmt else real(name, *a))
    with pytest.raises(W2VError) as err:
        check_formats(compose_cfg([f"export_formats=[word2vec,{fmt}]"]))
    assert str(err.value).endswith('is not installed: pip install -e ".[export]"') and fmt in str(err.value)


def test_a_token_pattern_the_library_cannot_compile_fails_at_start_up(compose_cfg):
    pytest.importorskip("model2vec")
    cfg = compose_cfg(["export_formats=[word2vec,model2vec]"])
    cfg.corpus.token_pattern = r"(?P<w>\w+)"  # Python-only syntax
    with pytest.raises(W2VError, match=r"cannot be written as a tokenizer.json pattern") as err:
        validate(cfg)
    assert "\n" not in str(err.value)


def test_train_py_rejects_a_bad_format_before_the_run_directory(tmp_path, run_train):
    proc = run_train(["export_formats=[word2vec,onnx]", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "unknown export format 'onnx'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_resume_may_change_the_formats(compose_cfg):
    from omegaconf import OmegaConf

    from w2v.train.resume import resume_config

    saved = OmegaConf.to_container(compose_cfg(["eval=none"]), resolve=True)
    cfg = compose_cfg(["resume=x", "export_formats=[word2vec,safetensors]"])
    assert list(resume_config(cfg, {"config": saved}, explicit=["export_formats"]).export_formats) == ["word2vec", "safetensors"]
    assert list(resume_config(cfg, {"config": saved}).export_formats) == ["word2vec"]  # not given: the run's own
    del saved["export_formats"]  # a checkpoint from before the key: word2vec, as it always wrote
    assert list(resume_config(compose_cfg(["resume=x"]), {"config": saved}).export_formats) == ["word2vec"]


def test_a_default_run_writes_what_it_always_wrote(lee_run):
    run_dir, _ = lee_run
    assert (run_dir / "vectors.txt").is_file() and (run_dir / "vectors.bin").is_file()
    for extra in ("tables.safetensors", "sentence-transformers", "model2vec"):
        assert not (run_dir / extra).exists(), extra


# ---------------------------------------------------------------- the word tokenizer against training's

# Characters where Python's re / str.lower() and the library's defaults differ: combining marks (not
# \w in Python), numbers of category No/Nl (\w in Python), final sigma, dotted I, modifier letters
# (cased and case-ignorable), Python-only whitespace (\x1c-\x1f), WikiText joiners.
TRICKY = list("aZ Σσς-'_.,!:·1²½é\t\n") + ["\u0301", "\u0308", "İ", "ı", "ß", "ΑΣ", "ΟΔΟΣ", "\u0915\u093f", "\xa0", "\x1c"]
TRICKY += ["ǅ", "Ⅻ", "\u200d", "\xad", "ʰ", "\u0345", " @-@ ", " @,@ ", "@", "[", "]", "&"]
PATTERNS = [r"\w+(?:[-']\w+)*", None, r"[^\W\d]+", r"\b\w\w+\b", r"\S+", r"[\w-]+|[.]", r"^\w+|\w+$", r"\w+\Z", r"[]a&[]+|[^]a\s]+"]


@pytest.mark.parametrize("pattern", PATTERNS)
@given(text=st.lists(st.sampled_from(TRICKY), max_size=30).map("".join), lowercase=st.booleans(), markup=st.booleans())
def test_the_library_splits_text_as_training_does(pattern, text, lowercase, markup):
    normalizer, pre = word_normalizer(lowercase, markup), word_pre_tokenizer(pattern)
    normalized = normalizer.normalize_str(text) if normalizer else text
    pieces = [piece for piece, _ in pre.pre_tokenize_str(normalized)]
    assert all(p.startswith(MARK) for p in pieces)
    assert [p[len(MARK) :] for p in pieces] == Tokenizer(lowercase, pattern, markup)(text)


def test_python_whitespace_is_the_split_class():
    import sys

    spaces = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    pre = word_pre_tokenizer(None)
    assert [p for p, _ in pre.pre_tokenize_str(f"a{spaces}b\u180ec")] == [MARK + "a", MARK + "b\u180ec"]


def test_onig_pattern_rewrites_only_what_differs():
    assert onig_pattern(r"\w+(?:[-']\w+)*") == r"[\p{L}\p{N}_]+(?:[-'][\p{L}\p{N}_]+)*"
    assert onig_pattern(r"[\w.]+\.x\\w") == r"[\p{L}\p{N}_.]+\.x\\w"
    assert onig_pattern("[]^a][^]b]") == r"[\]^a][^\]b]"


def test_unknown_words_vanish_even_when_their_letters_are_words():
    tok = word_tokenizer(["the", "a", "x", "co-op"], lowercase=True, token_pattern=r"\w+(?:[-']\w+)*")
    enc = tok.encode("The xa ax axe CO-OP a zzz x", add_special_tokens=False)
    assert enc.ids == [0, 3, 1, 2] and enc.tokens == [MARK + "the", MARK + "co-op", MARK + "a", MARK + "x"]
    assert tok.decode(enc.ids) == "the co-op a x"


# ---------------------------------------------------------------- the sentence models


def test_sentence_transformers_encodes_the_mean_of_known_words(word_run, monkeypatch):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = word2vec_vectors(word_run)
    model = SentenceTransformer(str(word_run / "sentence-transformers"), device="cpu", local_files_only=True)
    sentences = [SENTENCE, "cat", "zzyzx qwerty", "THE RIVER, the tree; the house."]
    got = model.encode(sentences)
    tokenize = Tokenizer(True, r"\w+(?:[-']\w+)*")
    assert "zzyzx" not in vectors and "o'brien's" not in vectors and "x" not in vectors  # the OOV words are OOV
    for sentence, row in zip(sentences, got):
        np.testing.assert_allclose(row, expected_mean(vectors, tokenize(sentence)), atol=1e-6, rtol=0)
    assert not np.allclose(got[0], 0)


def test_model2vec_encodes_the_mean_of_known_words(word_run):
    pytest.importorskip("model2vec")
    from model2vec import StaticModel

    vectors = word2vec_vectors(word_run)
    model = StaticModel.from_pretrained(str(word_run / "model2vec"))
    assert not model.normalize and model.max_length is None
    long = " ".join(["cat"] * 600 + ["dog"] * 600)  # past model2vec's default 512 tokens: not cut
    sentences = [SENTENCE, "cat", "zzyzx qwerty", long]
    got = model.encode(sentences)
    tokenize = Tokenizer(True, r"\w+(?:[-']\w+)*")
    for sentence, row in zip(sentences, got):
        np.testing.assert_allclose(row, expected_mean(vectors, tokenize(sentence)), atol=1e-6, rtol=0)


def test_both_models_hold_the_vocabulary_in_order(word_run):
    words = Vocab.load_tsv(word_run / "vocab.tsv").words
    for name in ("sentence-transformers", "model2vec"):
        spec = json.loads((word_run / name / "tokenizer.json").read_text(encoding="utf-8"))
        assert spec["model"]["vocab"] == {MARK + w: i for i, w in enumerate(words)}, name
        assert spec["model"]["ignore_merges"] and spec["model"]["unk_token"] is None


def test_hf_tokenizer_run_exports_its_tokenizer(tmp_path, compose_cfg, write_corpus, quick_overrides, caplog):
    pytest.importorskip("model2vec")
    pytest.importorskip("sentence_transformers")
    from model2vec import StaticModel
    from sentence_transformers import SentenceTransformer

    from w2v.data.tokenizers import HFTokenizer, load_tokenizer_file

    corpus = write_corpus("tiny.txt", tiny_text(200))
    overrides = quick_overrides(corpus, export_formats="[sentence_transformers,model2vec]")
    train(compose_cfg([*overrides, "corpus.tokenizer=wordpiece", "corpus.tokenizer_vocab=120"]), tmp_path)
    assert "tokens have no vector" in caplog.text  # the alphabet's pieces the corpus never ended on
    assert not (tmp_path / "vectors.bin").exists()  # word2vec not asked for
    words = Vocab.load_tsv(tmp_path / "vocab.tsv").words
    torch_vectors = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]["in_embed.weight"].numpy()
    vectors = dict(zip(words, torch_vectors))
    split = HFTokenizer(load_tokenizer_file(str(tmp_path / "tokenizer.json")))
    known = "The big cat sat on the mat"  # every token seen in training
    with_unk = known + " ✓"  # ✓ is outside the tokenizer's alphabet: [UNK], which model2vec skips
    m2v = StaticModel.from_pretrained(str(tmp_path / "model2vec")).encode([known, with_unk])
    stf = SentenceTransformer(str(tmp_path / "sentence-transformers"), device="cpu", local_files_only=True).encode([known])
    assert "[UNK]" in split(with_unk)
    for got, sentence in [(m2v[0], known), (m2v[1], with_unk), (stf[0], known)]:
        np.testing.assert_allclose(got, expected_mean(vectors, split(sentence)), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- safetensors


def test_tables_load_back_as_trained(word_run):
    pytest.importorskip("safetensors")
    from w2v.exports.tables import load_tables

    saved = load_tables(word_run / "tables.safetensors")
    vocab = Vocab.load_tsv(word_run / "vocab.tsv")
    state = torch.load(word_run / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
    assert saved.words == vocab.words and saved.counts.tolist() == vocab.counts.tolist()
    np.testing.assert_array_equal(saved.in_w, state["in_embed.weight"].numpy())
    np.testing.assert_array_equal(saved.out_w, state["out_embed.weight"].numpy())
    assert saved.hs_w is None and saved.subwords is None and saved.export == "in"
    assert saved.model == {"sg": True, "cbow_mean": True, "hs": False, "negatives": 5}
    vectors = word2vec_vectors(word_run)
    np.testing.assert_array_equal(saved.vectors, np.stack([vectors[w] for w in saved.words]))


def test_tables_need_only_safetensors(word_run):
    pytest.importorskip("safetensors")
    from safetensors import safe_open
    from safetensors.numpy import load_file

    tensors = load_file(str(word_run / "tables.safetensors"))
    with safe_open(str(word_run / "tables.safetensors"), framework="numpy") as f:
        meta = f.metadata()
    assert set(tensors) == {"in", "out", "counts"} and meta["format"] == "w2v.tables" and meta["vectors"] == "in"
    assert json.loads(meta["words"])[:2] == Vocab.load_tsv(word_run / "vocab.tsv").words[:2]


def test_hs_cbow_and_ngram_tables(tmp_path, compose_cfg, write_corpus, quick_overrides):
    """Hierarchical softmax's inner nodes, n-gram buckets, and W+C vectors stored beside the tables."""
    pytest.importorskip("safetensors")
    from w2v.exports.tables import load_tables
    from w2v.models.huffman import build_huffman

    corpus = write_corpus("tiny.txt", tiny_text(100))
    extra = {"model": "fasttext", "hs": "true", "subwords.bucket": 500, "export": "in+out", "export_formats": "[word2vec,safetensors]"}
    train(compose_cfg(quick_overrides(corpus, **extra)), tmp_path)
    saved = load_tables(tmp_path / "tables.safetensors")
    n = len(saved.words)
    assert saved.in_w.shape == (n + 500, 16) and saved.out_w.shape == (n, 16) and saved.hs_w.shape == (n - 1, 16)
    assert saved.hs_w.shape[0] == build_huffman(saved.counts).n_inner and saved.subwords == {"min_n": 3, "max_n": 6, "bucket": 500}
    assert saved.export == "in+out" and saved.model["hs"]
    vectors = word2vec_vectors(tmp_path)
    np.testing.assert_array_equal(saved.vectors, np.stack([vectors[w] for w in saved.words]))


def _write(path, tensors, metadata):
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata=metadata)
    return path


def _good_metadata(words):
    model = {"sg": True, "cbow_mean": True, "hs": False, "negatives": 5}
    meta = {"format": "w2v.tables", "format_version": "1", "words": json.dumps(words), "model": json.dumps(model)}
    return {**meta, "dim": "4", "export": "in", "subwords": "null", "vectors": "in"}


def _good_tensors(n):
    return {"in": np.zeros((n, 4), np.float32), "out": np.zeros((n, 4), np.float32), "counts": np.arange(n, 0, -1, dtype=np.int64)}


def test_a_hand_made_good_file_loads(tmp_path):
    pytest.importorskip("safetensors")
    from w2v.exports.tables import load_tables

    saved = load_tables(_write(tmp_path / "t.safetensors", _good_tensors(3), _good_metadata(["a", "b", "c"])))
    assert saved.words == ["a", "b", "c"] and saved.vectors.shape == (3, 4)


@pytest.mark.parametrize(
    "damage, fragment",
    [
        ("truncated", "not a w2v tables.safetensors file"),
        ("huge_header", "not a w2v tables.safetensors file"),
        ("garbage", "not a w2v tables.safetensors file"),
        ("missing", "cannot read"),
        ("no_format", "metadata format is 'None'"),
        ("words_not_list", "metadata 'words' is not a list of strings"),
        ("words_not_json", "metadata 'words' is not JSON"),
        ("short_table", "tensor 'in' is F32 (2, 4), not F32 (3, 4)"),
        ("extra_tensor", "where its metadata implies"),
        ("bool_negatives", "metadata 'model' lacks"),
        ("float_counts", "tensor 'counts' is F32 (3,), not I64 (3,)"),
    ],
)
def test_a_damaged_tables_file_is_one_line(tmp_path, damage, fragment):
    pytest.importorskip("safetensors")
    from w2v.exports.tables import load_tables

    path = tmp_path / "t.safetensors"
    tensors, meta = _good_tensors(3), _good_metadata(["a", "b", "c"])
    if damage == "no_format":
        del meta["format"]
    elif damage == "words_not_list":
        meta["words"] = json.dumps({"a": 1})
    elif damage == "words_not_json":
        meta["words"] = "[oops"
    elif damage == "short_table":
        tensors["in"] = tensors["in"][:2]
    elif damage == "extra_tensor":
        tensors["hs"] = np.zeros((2, 4), np.float32)
    elif damage == "bool_negatives":
        meta["model"] = json.dumps({"sg": True, "cbow_mean": True, "hs": False, "negatives": True})
    elif damage == "float_counts":
        tensors["counts"] = tensors["counts"].astype(np.float32)
    if damage != "missing":
        _write(path, tensors, meta)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "huge_header":
        path.write_bytes(struct.pack("<Q", 1 << 40) + path.read_bytes()[8:])
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(W2VError) as err:
        load_tables(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- train.py as a user runs it


def test_train_py_writes_every_format(tmp_path, run_train, monkeypatch):
    """``python train.py corpus=lee epochs=1 export_formats=[...]``, then each library loads its format offline."""
    for name in ("sentence_transformers", "model2vec", "safetensors"):
        pytest.importorskip(name)
    from model2vec import StaticModel
    from sentence_transformers import SentenceTransformer

    from w2v.exports.tables import load_tables

    run_dir = tmp_path / "run"
    args = ["corpus=lee", "epochs=1", f"export_formats={ALL}", "eval=none", "threads=1", f"hydra.run.dir={run_dir}"]
    proc = run_train(args, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = word2vec_vectors(run_dir)
    sentence = "The Government said bushfires near Sydney were contained by xqzv firefighters."
    want = expected_mean(vectors, Tokenizer(True, r"\w+(?:[-']\w+)*")(sentence))
    stf = SentenceTransformer(str(run_dir / "sentence-transformers"), device="cpu", local_files_only=True)
    np.testing.assert_allclose(stf.encode([sentence])[0], want, atol=1e-6, rtol=0)
    np.testing.assert_allclose(StaticModel.from_pretrained(str(run_dir / "model2vec")).encode([sentence])[0], want, atol=1e-6, rtol=0)
    assert load_tables(run_dir / "tables.safetensors").words == list(vectors)
