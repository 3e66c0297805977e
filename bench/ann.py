"""Approximate nearest neighbours (w2v/ann.py) against exact cosine search, on GloVe 6B 50d's 400k words.

    python bench/ann.py                                          # usearch, hnswlib, faiss; 1,000 queries
    python bench/ann.py --kinds usearch --ef-search 32,64,128 --queries 2000

Each library builds an HNSW index with the same graph settings (M=16, ef_construction=128) over the unit
vectors, on --build-threads threads, and is saved and loaded again (file size, load time). Then --queries
random words (seeded) are asked one at a time on one thread, as similar.py asks, for their top-10 by
cosine with the word itself left out, at each --ef-search. Recall@10 is the share of the exact top-10
found. The exact row is numpy's brute force on the first --exact-queries of them, also one query at a time
on one thread: a (V, D) @ (D,) product and a partial sort. Query times are the best of --repeats passes,
taken in turn over all methods. Writes --json (default bench/results/ann.json) and prints a markdown table.
"""

from __future__ import annotations

import os

# One BLAS thread for the exact baseline, set before numpy loads: the index queries run on one thread too.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import ROOT, SHARED_DATA  # noqa: E402  (puts the repository on sys.path)

from w2v import ann  # noqa: E402
from w2v.errors import W2VError  # noqa: E402
from w2v.vectors import load_vectors  # noqa: E402

GLOVE = SHARED_DATA / "glove" / "glove.6B.50d.txt.gz"
PACKAGES = ("numpy", "usearch", "hnswlib", "faiss-cpu")


def exact_neighbours(unit: np.ndarray, rows: np.ndarray, topn: int, chunk: int = 256) -> np.ndarray:
    """(n, topn) exact cosine top-``topn`` of each row's word, the word itself left out (the ground truth)."""
    out = np.empty((len(rows), topn), dtype=np.int64)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        sims = unit[part] @ unit.T  # (chunk, V)
        sims[np.arange(len(part)), part] = -np.inf
        best = np.argpartition(-sims, topn - 1, axis=1)[:, :topn]
        order = np.argsort(-np.take_along_axis(sims, best, axis=1), axis=1, kind="stable")
        out[start : start + chunk] = np.take_along_axis(best, order, axis=1)
    return out


def time_exact(unit: np.ndarray, rows: np.ndarray, topn: int) -> float:
    """Seconds per query of brute force, one query at a time (similar.py's most_similar, in short)."""
    t0 = time.perf_counter()
    for row in rows.tolist():
        sims = unit @ unit[row]  # (V,)
        sims[row] = -np.inf
        best = np.argpartition(-sims, topn - 1)[:topn]
        best[np.argsort(-sims[best])]
    return (time.perf_counter() - t0) / len(rows)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found.tolist(), truth.tolist())]))


def time_index(index: ann.AnnIndex, unit: np.ndarray, rows: np.ndarray, topn: int) -> tuple[float, np.ndarray]:
    """Seconds per single query on one thread, and each query's top-``topn`` without the word itself."""
    for row in rows[:20].tolist():  # warm up: first touches of the graph's pages
        ann.query(index, unit[row], topn + 1)
    found = np.empty((len(rows), topn), dtype=np.int64)
    t0 = time.perf_counter()
    answers = [ann.query(index, unit[row], topn + 1)[0][0] for row in rows.tolist()]
    seconds = (time.perf_counter() - t0) / len(rows)
    for i, (row, answer) in enumerate(zip(rows.tolist(), answers)):
        found[i] = answer[answer != row][:topn]
    return seconds, found


def build(kind: str, unit: np.ndarray, args: argparse.Namespace) -> tuple[ann.AnnIndex, dict]:
    """The index of ``kind`` as saved and loaded again, and its build time, file size and load time."""
    t0 = time.perf_counter()
    index = ann.build_index(unit, kind, connectivity=args.m, ef_construction=args.ef_construction, threads=args.build_threads)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = ann.save_index(index, Path(tmp) / f"glove{ann.KINDS[kind][2]}")
        file_mb = path.stat().st_size / 2**20
        t0 = time.perf_counter()
        index = ann.load_index(path, kind, *unit.shape)
        load_s = time.perf_counter() - t0
    print(f"{kind}: built in {build_s:.1f}s, {file_mb:.0f} MB, loaded in {load_s:.2f}s", flush=True)
    # The machine's 1-minute load average after the build: other work slows a build on a shared machine.
    return index, {"build_s": build_s, "file_mb": file_mb, "load_s": load_s, "loadavg_after_build": os.getloadavg()[0]}


def measure(indexes: dict, unit: np.ndarray, rows: np.ndarray, truth: np.ndarray, args: argparse.Namespace) -> tuple[float, list[dict]]:
    """Exact and per-index query times, each the best of --repeats passes taken in turn, so that a busy
    moment of a shared machine slows one pass of every method rather than all passes of one."""
    exact_rows = rows[: args.exact_queries]
    exact_s, best, recalls = float("inf"), {}, {}
    for _ in range(args.repeats):
        exact_s = min(exact_s, time_exact(unit, exact_rows, args.topn))
        for kind, index in indexes.items():
            for ef in args.ef_search:
                ann.set_ef_search(index, ef)
                seconds, found = time_index(index, unit, rows, args.topn)
                best[kind, ef] = min(best.get((kind, ef), float("inf")), seconds)
                recalls[kind, ef] = recall(found, truth)
    print(f"exact: {exact_s * 1e6:.0f} us/query", flush=True)
    out = []
    for (kind, ef), seconds in best.items():
        out.append({"kind": kind, "ef_search": ef, "recall@10": recalls[kind, ef], "us_per_query": seconds * 1e6})
        print(f"{kind} ef_search={ef}: recall@10 {recalls[kind, ef]:.4f}, {seconds * 1e6:.0f} us/query", flush=True)
    return exact_s, out


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line), "")
    return f"{model or platform.processor()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", default=str(GLOVE))
    parser.add_argument("--kinds", default=",".join(ann.KINDS))
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--topn", type=int, default=10)
    parser.add_argument("--m", type=int, default=16, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=128)
    parser.add_argument("--ef-search", type=lambda s: [int(x) for x in s.split(",")], default=[32, 64, 128])
    parser.add_argument("--build-threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--exact-queries", type=int, default=200, help="the first N queries time brute force")
    parser.add_argument("--repeats", type=int, default=3, help="query passes per method; the fastest counts")
    parser.add_argument("--limit", type=int, default=None, help="load only the first N words")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "ann.json"))
    args = parser.parse_args()
    if not Path(args.vectors).is_file():
        sys.exit(f"error: {args.vectors} not found (GloVe 6B 50d: pass --vectors)")

    vecs = load_vectors(args.vectors, limit=args.limit, cache_dir="~/.cache/w2v")
    unit = vecs.unit
    rows = np.random.default_rng(args.seed).choice(len(vecs), min(args.queries, len(vecs)), replace=False)
    truth = exact_neighbours(unit, rows, args.topn)
    indexes, builds = {}, {}
    for kind in args.kinds.split(","):
        try:
            indexes[kind], builds[kind] = build(kind, unit, args)
        except W2VError as exc:  # a library that is not installed: its rows are left out
            print(f"{kind}: skipped ({exc})", flush=True)
    exact_s, rows_out = measure(indexes, unit, rows, truth, args)
    result = {
        "command": "python bench/ann.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "versions": versions(),
        "vectors": {"path": args.vectors, "words": len(vecs), "dim": vecs.dim},
        "queries": len(rows),
        "exact_queries": min(args.exact_queries, len(rows)),
        "repeats": args.repeats,
        "topn": args.topn,
        "graph": {"M": args.m, "ef_construction": args.ef_construction, "build_threads": args.build_threads or os.cpu_count()},
        "exact": {"us_per_query": exact_s * 1e6},
        "rows": [builds[r["kind"]] | r for r in rows_out],
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


def print_table(result: dict) -> None:
    exact = result["exact"]["us_per_query"]
    print("| library | ef_search | recall@10 | query (us) | vs exact | build (s) | index file (MB) | load (s) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| exact (numpy) | - | 1.0000 | {exact:,.0f} | 1x | - | - | - |")
    for r in result["rows"]:
        print(
            f"| {r['kind']} | {r['ef_search']} | {r['recall@10']:.4f} | {r['us_per_query']:,.0f} | {exact / r['us_per_query']:,.0f}x "
            f"| {r['build_s']:.1f} | {r['file_mb']:.0f} | {r['load_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
