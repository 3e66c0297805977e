"""PNG charts: a labelled 2-D projection of word vectors, and a sweep's metric against its hyperparameters.

Figures are built with matplotlib's object API (no ``pyplot`` global state, no display needed) and
written atomically, so a crash never leaves half a PNG.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_open
from w2v.errors import W2VError

log = logging.getLogger(__name__)

PROJECTIONS = ("pca", "tsne")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    return path


def pca_2d(points: np.ndarray) -> np.ndarray:
    """(n, D) -> (n, 2): coordinates on the two principal axes (SVD of the centred points)."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))  # fewer than 2 axes: pad with zeros


def tsne_2d(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, D) -> (n, 2) with scikit-learn's t-SNE (an optional dependency)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise W2VError("eval.projection=tsne needs scikit-learn: pip install scikit-learn, or use eval.projection=pca") from None
    perplexity = float(min(30, max(2, len(points) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def plot_projection(
    words: Sequence[str],
    points: np.ndarray,
    path: str | os.PathLike,
    method: str = "pca",
    title: str = "",
    seed: int = 0,
    highlight: Sequence[str] = (),
) -> Path:
    """Scatter the chosen words' vectors in 2-D (PCA or t-SNE), each point labelled with its word;
    ``highlight`` words (the queries) are drawn in red and bold, their neighbours in blue."""
    if method not in PROJECTIONS:
        raise W2VError(f"unknown projection {method!r}: use eval.projection=pca or tsne")
    if len(words) < 2:
        raise W2VError("a projection needs at least 2 words in the vocabulary: set eval.plot_words to words the model knows")
    xy = pca_2d(points) if method == "pca" or len(words) < 5 else tsne_2d(points, seed)
    fig = _figure(9, 7)
    ax = fig.subplots()
    marked = set(highlight)
    colors = ["tab:red" if w in marked else "tab:blue" for w in words]
    ax.scatter(xy[:, 0], xy[:, 1], s=12, c=colors)
    for (x, y), word, color in zip(xy, words, colors):
        weight = "bold" if word in marked else "normal"
        ax.annotate(word, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8, color=color, fontweight=weight)
    ax.set_title(title or f"{method.upper()} projection of {len(words)} words")
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def _axis_values(values: Sequence) -> tuple[list, bool]:
    """Distinct values sorted (numerically when all are numbers) and whether they are numeric."""
    distinct = list(dict.fromkeys(values))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct)
    return (sorted(distinct) if numeric else sorted(distinct, key=str)), numeric


def plot_sweep(params: list[str], rows: list[dict], metric: str, path: str | os.PathLike, title: str = "") -> Path:
    """``metric`` against the swept hyperparameters: lines for one, a heatmap for two, bars otherwise.

    ``rows`` hold the typed parameter values and the metric (None where a job has none).
    """
    rows = [r for r in rows if r.get(metric) is not None]
    fig = _figure(8, 5.5)
    ax = fig.subplots()
    if len(params) == 1:
        xs, numeric = _axis_values([r[params[0]] for r in rows])
        by_x = {str(r[params[0]]): r[metric] for r in rows}
        positions = xs if numeric else list(range(len(xs)))
        ax.plot(positions, [by_x[str(x)] for x in xs], marker="o")
        if not numeric:
            ax.set_xticks(positions, [str(x) for x in xs])
        ax.set_xlabel(params[0])
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    elif len(params) == 2:
        ys, _ = _axis_values([r[params[0]] for r in rows])
        xs, _ = _axis_values([r[params[1]] for r in rows])
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in rows:
            grid[ys.index(r[params[0]]), xs.index(r[params[1]])] = r[metric]
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set_xlabel(params[1])
        ax.set_ylabel(params[0])
        finite = grid[np.isfinite(grid)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.4g}", ha="center", va="center", color="white" if value < middle else "black", fontsize=9)
        fig.colorbar(image, ax=ax, label=metric)
    else:  # no swept parameter, or more than two: one bar per job
        labels = [", ".join(f"{p}={r[p]}" for p in params) or r.get("job", "") for r in rows]
        ax.barh(range(len(rows)), [r[metric] for r in rows], color="tab:blue")
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.set_xlabel(metric)
    ax.set_title(title or f"{metric} by {' x '.join(params) or 'job'}")
    return _save(fig, path)
