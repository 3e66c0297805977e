"""Where benchmark and reference files are: gensim's bundled test data and ``../shared/data``.

Relative paths (``../shared/data/...``) are tried against the working directory first and then
against the repository root, so ``train.py`` and ``evaluate.py`` find the shared data from anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MEN_PATH = "../shared/data/benchmarks/EN-MEN-TR-3k.txt"


def gensim_data(name: str) -> Path:
    """A file shipped inside gensim's wheel (``questions-words.txt``, ``wordsim353.tsv``, ...)."""
    import gensim

    # What gensim.test.utils.datapath returns, without importing that module (it builds test corpora).
    return Path(gensim.__file__).parent / "test" / "test_data" / name


# Similarity benchmarks known by name; anything else in ``eval.similarity`` is a file path.
BUILTIN_SIMILARITY = {
    "wordsim353": lambda: gensim_data("wordsim353.tsv"),
    "simlex999": lambda: gensim_data("simlex999.txt"),
    "men": lambda: resolve_path(MEN_PATH),
}


def resolve_path(path: str | os.PathLike) -> Path:
    """``path`` as given if it exists (or is absolute), else relative to the repository root if that exists."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute() or p.exists():
        return p
    beside_repo = REPO_ROOT / p
    return beside_repo if beside_repo.exists() else p


def default_analogies() -> Path:
    """Google's analogy questions as bundled with gensim."""
    return gensim_data("questions-words.txt")


def similarity_source(entry: str) -> tuple[str, Path, bool]:
    """``(name, path, builtin)`` for an ``eval.similarity`` entry: a known name or a file path."""
    if entry in BUILTIN_SIMILARITY:
        return entry, BUILTIN_SIMILARITY[entry](), True
    path = resolve_path(entry)
    name = path.name
    for suffix in (".gz", ".txt", ".tsv", ".csv"):
        name = name.removesuffix(suffix)
    return name, path, False
