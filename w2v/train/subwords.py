"""The trainer's side of character n-grams (``subwords.enabled=true``): the bags, the logged table
sizes, the Facebook ``.bin`` export and the composer evaluation uses for unseen words."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from w2v.data.vocab import Vocab
from w2v.models.subwords import NgramComposer, SubwordSpec, WordBags, word_bags
from w2v.models.word2vec import Word2VecModel
from w2v.vectors.fasttext_bin import save_fasttext_bin

log = logging.getLogger(__name__)

FULL_MODEL = "fasttext.bin"  # the run directory's Facebook-format model (gensim's load_facebook_model)


def make_bags(cfg: Any, words: list[str]) -> WordBags | None:
    """Every vocabulary word's bag (its row and n-gram rows), or None when subwords are off; logs the
    table sizes, since ``bucket x dim`` floats (800 MB at gensim's defaults) usually dwarf the vocabulary."""
    sub = cfg.get("subwords")
    if sub is None or not sub.enabled:
        return None
    t0 = time.perf_counter()
    bags = word_bags(words, SubwordSpec.from_config(sub))
    n = len(words)
    mb = 4 * cfg.dim / 2**20
    log.info(
        "subwords: %d-%d character n-grams hashed into %d buckets; input table %d x %d (%.0f MB: words %.0f MB, n-grams %.0f MB), "
        "%.1f rows per word bag, built in %.1fs; lower subwords.bucket to save memory",
        sub.min_n, sub.max_n, sub.bucket, bags.rows, cfg.dim, bags.rows * mb, n * mb, sub.bucket * mb,
        len(bags.inputs) / max(1, n), time.perf_counter() - t0,
    )  # fmt: skip
    return bags


def save_full_model(run_dir: Path, cfg: Any, vocab: Vocab, model: Word2VecModel) -> Path:
    """Write ``run_dir/fasttext.bin``, which gensim's ``load_facebook_model`` loads (unseen words included)."""
    assert model.bags is not None
    spec = model.spec
    out = model.out_embed.weight if spec.negatives > 0 else model.hs_embed.weight
    path = run_dir / FULL_MODEL
    save_fasttext_bin(
        path, vocab.words, vocab.counts, model.in_embed.weight.detach().float().cpu().numpy(), out.detach().float().cpu().numpy(),
        model.bags.spec, sg=spec.sg, hs=spec.hs, negatives=spec.negatives, window=cfg.window, epochs=cfg.epochs,
        min_count=cfg.min_count, sample=cfg.sample,
    )  # fmt: skip
    return path


def composer(model: Word2VecModel) -> NgramComposer | None:
    """Vectors for unseen words from the model's n-gram rows, or None without subwords."""
    if model.bags is None:
        return None
    table = model.in_embed.weight.detach().float().cpu().numpy()
    return NgramComposer(table[model.bags.vocab_size :], model.bags.spec)
