"""Helpers the test files share, imported as ``from helpers import ...`` (pytest puts tests/ on the path).

Test files import from here, never from one another: a test module is a set of tests, and importing
one runs its module-level setup (a skip, an environment variable) in another's session. Fixtures stay
in ``conftest.py``, which wraps some of these. By topic:

- this module: the repository's paths, the real Hydra config composed in-process, small corpus files,
  ``train.py`` and ``bench/`` scripts run as a user runs them, a free TCP port;
- :mod:`helpers.dist`: ranks spawned on localhost with a deadline (the torchrun environment, gloo);
- :mod:`helpers.model`: one update step checked against autograd on the model's own loss;
- :mod:`helpers.resume`: a run interrupted after its first checkpoint, resumed with ``train.py``;
- :mod:`helpers.tokenizers`: Hugging Face tokenizers of each pipeline, trained on a few lines.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import os
import random
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from w2v.config import register_configs
from w2v.data.vocab import SENTENCE_END

# The schemas and resolvers train.py registers: in a spawned rank too, which imports this module but no conftest.
register_configs()

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
TRAIN_PY = REPO_ROOT / "train.py"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_OPENERS: dict[str, Callable] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def load_script(path: Path, name: str) -> ModuleType:
    """Import a script (train.py, a bench/ script) as a module named ``name``, with its folder on
    ``sys.path`` as ``python path`` runs it (bench scripts import ``bench/common.py`` as ``common``)."""
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module named ``bench_<name>`` (its main() may need what CI lacks; its helpers do not)."""
    return load_script(REPO_ROOT / "bench" / f"{name}.py", f"bench_{name}")


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


def write_text_file(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path``, compressed according to its suffix (.gz, .bz2, .xz or plain)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    opener = _OPENERS.get(path.suffix, open)
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wb") as f:
        f.write(data)
    return path


def make_synthetic_text(n_sentences: int = 200, n_words: int = 40, length: int = 20, seed: int = 0) -> str:
    """Zipf-like random sentences over words ``w0..w{n_words-1}`` (w0 most frequent)."""
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (a rendezvous, a local server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def id_sentences(ids, words: list[str]) -> list[list[str | None]]:
    """An id file of vocabulary ids as sentences of words (None: a word below min_count)."""
    out: list[list[str | None]] = [[]]
    for i in ids.tolist():
        if i == SENTENCE_END:
            out.append([])
        else:
            out[-1].append(words[i] if 0 <= i < len(words) else None)
    return out[:-1]
