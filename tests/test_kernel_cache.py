"""numba's kernel cache is dropped when any source a kernel is compiled from changes."""

from pathlib import Path

from w2v.kernel_cache import KERNEL_SOURCES, drop_stale_kernels


def _tree(root: Path) -> list[Path]:
    cached = []
    for name in KERNEL_SOURCES:
        src = root / name
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {name}\n")
        (src.parent / "__pycache__").mkdir(exist_ok=True)
        for suffix in ("f-1.py311.nbi", "f-1.py311.1.nbc"):
            cached.append(src.parent / "__pycache__" / f"{src.stem}.{suffix}")
            cached[-1].write_bytes(b"kernel")
    return cached


def test_a_changed_callee_file_drops_every_cached_kernel(tmp_path):
    cached = _tree(tmp_path)
    assert drop_stale_kernels(tmp_path)  # no stamp yet: nothing proves the cache matches the sources
    assert not any(f.exists() for f in cached)
    cached = _tree(tmp_path)  # numba caches the kernels again; the sources are as stamped
    assert not drop_stale_kernels(tmp_path)
    assert all(f.exists() for f in cached)
    # the callee's file changes while the caller's (hogwild.py) does not: numba alone would keep the caller
    (tmp_path / "engines" / "numba_engine.py").write_text("# new math\n")
    assert drop_stale_kernels(tmp_path)
    assert not any(f.exists() for f in cached)
    other = tmp_path / "engines" / "__pycache__" / "base.cpython-311.pyc"
    other.write_bytes(b"pyc")
    (tmp_path / "models" / "word2vec.py").write_text("MAX_EXP = 7.0\n")  # a constant a kernel reads
    assert drop_stale_kernels(tmp_path)
    assert other.exists()  # Python's own bytecode is left alone
