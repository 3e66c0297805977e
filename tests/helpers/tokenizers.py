"""Hugging Face tokenizers of each pipeline, trained in the test on a few lines (offline), and tricky texts.

Shared by tests/test_tokenizers.py (w2v's tokenizer kinds) and tests/test_encode_ids.py (the counting pass
on a tokenizer's ids), which check that w2v cuts text only where a tokenizer would give the same tokens.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from helpers import compose_train_cfg
from w2v.data.tokenizers import train_tokenizer

# Texts that catch a tokenizer cutting text where it should not: doubled and odd spaces, accents, empties.
TRICKY = [
    "Hello,  World!\tdon't  stop-me now\n",
    "  leading spaces and trailing   ",
    "café naïve ÉCOLE 1,234.5 x.\ny",
    "new\u00a0york \u3000 tabs\tand\rreturns",
    "",
    "   \n",
]


def lee_lines(n: int = 60) -> list[str]:
    """The first ``n`` documents of gensim's Lee corpus, one per line."""
    from w2v.data.sources import gensim_datapath

    return gensim_datapath("lee_background.cor").read_text(encoding="utf-8").splitlines()[:n]


def byte_level_bpe(lines: list[str]) -> Tokenizer:
    """GPT-2's pipeline (byte-level pre-tokenizer, no normalizer), trained here."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok


def byte_level_with_prefix_space(lines: list[str]) -> Tokenizer:
    """add_prefix_space: a space before the text only, so cut texts would differ (``\\nword``)."""
    tok = byte_level_bpe(lines)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    return tok


def metaspace_first_after_split(lines: list[str]) -> Tokenizer:
    """Metaspace "first" after a whitespace split marks the text's first word only."""
    tok = metaspace_unigram(lines)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="first")])
    return tok


def metaspace_unigram(lines: list[str]) -> Tokenizer:
    """SentencePiece's pipeline: a unigram model behind the Metaspace pre-tokenizer (``▁`` marks a word's start)."""
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, unk_token="<unk>", special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok


def rewriting_bpe(lines: list[str]) -> Tokenizer:
    """A normalizer that rewrites text (Replace): only whole texts may go through it."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Replace("  ", " @@ "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"], show_progress=False))
    return tok


def trained_tokenizer(kind: str, lines: list[str]) -> Tokenizer:
    """The tokenizer ``corpus.tokenizer=kind`` (bpe, wordpiece, unigram) trains, here on ``lines`` with 300 tokens."""
    ccfg = compose_train_cfg([f"corpus.tokenizer={kind}", "corpus.tokenizer_vocab=300"]).corpus
    return train_tokenizer(ccfg, lines)[0]
