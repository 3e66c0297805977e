"""Shared fixtures: the real Hydra config composed in-process, tiny corpus files, train.py runs.

The fixtures wrap the plain helpers of tests/helpers/ (which test files import directly):
``compose_cfg(overrides)`` returns the composed ``train`` config,
``write_corpus(name, text)`` writes a (possibly compressed) corpus file, ``run_train(args)`` runs
``train.py`` in a subprocess as a user would, and ``lee_run`` is one short training on the Lee
corpus (shared by the end-to-end and export tests so it is trained once per session).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (  # noqa: F401 (also importable from here, as before; test files import them from helpers)
    CONFIG_DIR,
    REPO_ROOT,
    SHARED_DATA,
    TRAIN_PY,
    compose_train_cfg,
    load_script,
    make_quick_overrides,
    make_synthetic_text,
    requires_shared_data,
    run_train_py,
    write_text_file,
)
from hypothesis import settings
from omegaconf import DictConfig

from w2v.config import register_configs

# No deadline: a 2-core machine shared with other jobs makes per-example timings meaningless.
settings.register_profile("w2v", deadline=None, print_blob=True)
settings.load_profile("w2v")

register_configs()  # the schemas and the w2v_or resolver, whatever train.py does on import
load_script(TRAIN_PY, "w2v_train_entry")  # train.py as a module: it registers the schemas and resolvers too


@pytest.fixture(scope="session")
def compose_cfg() -> Callable[..., DictConfig]:
    """``compose_cfg(["window=2", ...])`` -> the composed train config."""
    return compose_train_cfg


@pytest.fixture(scope="session", name="write_text_file")
def write_text_file_fixture() -> Callable[[Path, str | bytes], Path]:
    """``write_text_file(path, text)`` -> path; compressed by suffix (for fixtures wider than a test)."""
    return write_text_file


@pytest.fixture
def write_corpus(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """``write_corpus("x.txt.gz", "one line\\nanother")`` -> path of the written file in tmp_path."""
    return lambda name, text: write_text_file(tmp_path / name, text)


@pytest.fixture(scope="session")
def synthetic_text() -> Callable[..., str]:
    """``synthetic_text(n_sentences, n_words, length, seed)`` -> Zipf-like text, one sentence a line."""
    return make_synthetic_text


@pytest.fixture(scope="session")
def quick_overrides() -> Callable[..., list[str]]:
    """``quick_overrides(path, window=2, ...)`` -> overrides for a fast run on a local text file."""
    return make_quick_overrides


@pytest.fixture(scope="session")
def run_train() -> Callable[..., subprocess.CompletedProcess]:
    """``run_train(args, cwd, env=None, timeout=120)`` -> ``python train.py *args`` run in a subprocess."""
    return run_train_py


@pytest.fixture(scope="session")
def requires_data() -> Callable[[str], Path]:
    """``requires_data("wiki8/wiki8.txt.gz")`` -> path under ../shared/data, or skip the test."""
    return requires_shared_data


@pytest.fixture(scope="session")
def lee_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Three short epochs on gensim's Lee corpus via ``w2v.train.trainer.train``: (run_dir, metrics)."""
    from w2v.train.trainer import train

    run_dir = tmp_path_factory.mktemp("lee_run")
    # Smaller than gensim's defaults (window 3, 3 negatives, dim 24) so three epochs take seconds.
    overrides = ["eval=none", "epochs=3", "window=3", "negatives=3", "dim=24", "log_every=5", "seed=3", "threads=1", "batch_size=4096"]
    overrides += ["checkpoint_every_minutes=0"]
    cfg = compose_train_cfg(overrides)
    return run_dir, train(cfg, run_dir)
