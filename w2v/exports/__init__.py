"""What a run writes its vectors as: ``export_formats`` (a list of the names in :data:`FORMATS`).

- ``word2vec``: ``vectors.txt`` and ``vectors.bin`` (:mod:`w2v.vectors`; gensim's ``load_word2vec_format``);
- ``sentence_transformers``: ``sentence-transformers/``, a ``SentenceTransformer`` of one ``StaticEmbedding``;
- ``model2vec``: ``model2vec/``, what ``StaticModel.from_pretrained`` reads;
- ``safetensors``: ``tables.safetensors``, every trained table with the vocabulary (:mod:`w2v.exports.tables`).

The two sentence models encode a sentence as the mean of its in-vocabulary words' vectors, exactly
as word2vec's vectors average (:mod:`w2v.exports.tokenizer` says how). Formats beyond word2vec need
the ``export`` extra; :func:`check_formats` says so at start-up rather than at the end of training.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from w2v.atomic import FILE_MODE, fsync_dir, fsync_tree
from w2v.errors import W2VError
from w2v.vectors import save_word2vec

log = logging.getLogger(__name__)

FORMATS = ("word2vec", "sentence_transformers", "model2vec", "safetensors")
DEFAULT_FORMATS = ["word2vec"]
PACKAGES = {"sentence_transformers": "sentence_transformers", "model2vec": "model2vec", "safetensors": "safetensors"}  # format -> module
DIRS = {"sentence_transformers": "sentence-transformers", "model2vec": "model2vec"}  # format -> directory in the run
TABLES_FILE = "tables.safetensors"


def export_formats(cfg: Any) -> list[str]:
    """The run's formats, each once, in :data:`FORMATS` order (configs saved before the key: word2vec)."""
    chosen = set(cfg.get("export_formats", DEFAULT_FORMATS) or [])
    return [f for f in FORMATS if f in chosen]


def check_formats(cfg: Any) -> None:
    """Reject, in one line, an unknown format, a format whose package is missing, or a token pattern
    the sentence models' tokenizer cannot reproduce."""
    given = list(cfg.get("export_formats", DEFAULT_FORMATS) or [])
    if not given:
        raise W2VError(f"export_formats is empty: list at least one of {', '.join(FORMATS)}")
    unknown = next((f for f in given if f not in FORMATS), None)
    if unknown is not None:
        raise W2VError(f"unknown export format {unknown!r} in export_formats: use {', '.join(FORMATS)}")
    missing = next((f for f in given if f in PACKAGES and importlib.util.find_spec(PACKAGES[f]) is None), None)
    if missing is not None:
        package = PACKAGES[missing]
        raise W2VError(f'export_formats={missing} needs the {package} package, which is not installed: pip install -e ".[export]"')
    if any(f in DIRS for f in given):
        from w2v.exports.tokenizer import check_token_pattern

        check_token_pattern(cfg.corpus)


def write_exports(run_dir: Path, cfg: Any, vocab: Any, vectors: np.ndarray, model: Any) -> None:
    """Write the run's ``export_formats`` into ``run_dir``.

    ``vocab`` has ``words`` and ``counts``; ``vectors`` (V, D) float32 are the word vectors the run
    exports (``cfg.export``); ``model`` is the trained :class:`w2v.models.word2vec.Word2VecModel`.
    """
    formats = export_formats(cfg)
    if "word2vec" in formats:
        save_word2vec(run_dir / "vectors.txt", vocab.words, vectors, binary=False)
        save_word2vec(run_dir / "vectors.bin", vocab.words, vectors, binary=True)
    if "safetensors" in formats:
        _write_tables(run_dir / TABLES_FILE, cfg, vocab, vectors, model)
    static = [f for f in formats if f in DIRS]
    if static:
        _write_static(run_dir, cfg, vocab.words, vectors, static)


def _write_tables(path: Path, cfg: Any, vocab: Any, vectors: np.ndarray, model: Any) -> None:
    from w2v.exports.tables import save_tables

    t = model.tables()
    tables = {name: w.detach().float().cpu().numpy() for name, w in (("in", t.in_w), ("out", t.out_w), ("hs", t.hs_w))}
    sub = cfg.get("subwords")
    subwords = {k: int(sub[k]) for k in ("min_n", "max_n", "bucket")} if sub is not None and sub.enabled else None
    save_tables(path, list(vocab.words), np.asarray(vocab.counts), tables, vectors, model.spec.to_dict(), subwords, str(cfg.export))
    log.info("tables (%s) in %s: w2v.exports.tables.load_tables reads it", ", ".join(n for n, w in tables.items() if len(w)), path)


def _write_static(run_dir: Path, cfg: Any, words: list[str], vectors: np.ndarray, formats: list[str]) -> None:
    """The sentence-transformers and model2vec directories: the run's tokenizer and one row per token id."""
    from w2v.exports.static import save_model2vec, save_sentence_transformer
    from w2v.exports.tokenizer import run_tokenizer

    tokenizer, rows = run_tokenizer(cfg.corpus, run_dir, words)
    known = rows >= 0
    matrix = np.zeros((len(rows), vectors.shape[1]), dtype=np.float32)  # (tokens, D): zero for a token without a vector
    matrix[known] = vectors[rows[known]]
    if not known.all():
        log.warning(
            "%d of the tokenizer's %d tokens have no vector (the vocabulary dropped them): they take zero rows, "
            "which model2vec skips only for the unknown token and sentence-transformers counts in its mean",
            int((~known).sum()),
            len(rows),
        )
    savers: dict[str, Callable[[Path, Any, np.ndarray], None]] = {
        "sentence_transformers": save_sentence_transformer,
        "model2vec": save_model2vec,
    }
    for fmt in formats:
        target = run_dir / DIRS[fmt]
        _publish(target, lambda staging, fmt=fmt: savers[fmt](staging, tokenizer, matrix))
        log.info("%s model in %s", fmt, target)


def _publish(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(staging)`` into a fresh staging directory beside ``target``, then put it in place of
    ``target``: a crash midway leaves the old directory or none, never a half-written one."""
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write(staging)
        for file in staging.rglob("*"):
            if file.is_file():
                file.chmod(FILE_MODE)
        fsync_tree(staging)  # the libraries do not fsync
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
