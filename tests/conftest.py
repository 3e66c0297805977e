"""Shared fixtures: the real Hydra config composed in-process, tiny corpus files, train.py runs.

Other test files reuse these: ``compose_cfg(overrides)`` returns the composed ``train`` config,
``write_corpus(name, text)`` writes a (possibly compressed) corpus file, ``run_train(args)`` runs
``train.py`` in a subprocess as a user would, and ``lee_run`` is one short training on the Lee
corpus (shared by the end-to-end and export tests so it is trained once per session).
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import settings
from omegaconf import DictConfig

from w2v.config import register_configs

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"
TRAIN_PY = REPO_ROOT / "train.py"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# No deadline: a 2-core machine shared with other jobs makes per-example timings meaningless.
settings.register_profile("w2v", deadline=None, print_blob=True)
settings.load_profile("w2v")


def load_script(path: Path, name: str):
    """Import a script (train.py, a bench/ script) as a module named ``name``, with its folder on
    ``sys.path`` as ``python path`` runs it (bench scripts import ``bench/common.py`` as ``common``)."""
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_train_module():
    """Import train.py as a module: it registers the config schemas and the ``w2v_or`` resolver."""
    return load_script(TRAIN_PY, "w2v_train_entry")


register_configs()  # the schemas and the w2v_or resolver, whatever train.py does on import
_load_train_module()

_OPENERS: dict[str, Callable] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def requires_shared_data(relpath: str) -> Path:
    """Path of a file under ../shared/data, or skip the test with a reason when it is absent."""
    path = SHARED_DATA / relpath
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{relpath}, which is absent here")
    return path


def compose_train_cfg(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose configs/train.yaml with command-line style overrides, as train.py would."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR), job_name="test"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.fixture(scope="session")
def compose_cfg() -> Callable[..., DictConfig]:
    """``compose_cfg(["window=2", ...])`` -> the composed train config."""
    return compose_train_cfg


def write_text_file(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path``, compressed according to its suffix (.gz, .bz2, .xz or plain)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    opener = _OPENERS.get(path.suffix, open)
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture(scope="session", name="write_text_file")
def write_text_file_fixture() -> Callable[[Path, str | bytes], Path]:
    """``write_text_file(path, text)`` -> path; compressed by suffix (for fixtures wider than a test)."""
    return write_text_file


@pytest.fixture
def write_corpus(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """``write_corpus("x.txt.gz", "one line\\nanother")`` -> path of the written file in tmp_path."""
    return lambda name, text: write_text_file(tmp_path / name, text)


def make_synthetic_text(n_sentences: int = 200, n_words: int = 40, length: int = 20, seed: int = 0) -> str:
    """Zipf-like random sentences over words ``w0..w{n_words-1}`` (w0 most frequent)."""
    import random

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(n_words)]
    weights = [1.0 / (i + 1) for i in range(n_words)]
    return "\n".join(" ".join(rng.choices(words, weights, k=length)) for _ in range(n_sentences)) + "\n"


def make_quick_overrides(corpus_path: Path | str, **extra) -> list[str]:
    """Overrides for a fast in-process run on a small local text corpus."""
    base = {
        "eval": "none",
        "corpus": "text",
        "corpus.path": str(corpus_path),
        "min_count": 1,
        "dim": 16,
        "epochs": 1,
        "batch_size": 256,
        "log_every": 1,
        "checkpoint_every_minutes": 0,
        "threads": 1,  # tiny batches: a second intra-op thread only adds sync cost, badly so on a busy machine
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def run_train_py(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python train.py *args`` in ``cwd`` and return the completed process (text output)."""
    # Hydra's short errors, as users see them; Triton's interpreter only where a test asks for it.
    full_env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "TRITON_INTERPRET")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(TRAIN_PY), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


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
