"""Word queries on trained vectors, like gensim's ``KeyedVectors.most_similar``.

``python similar.py run=outputs/<run> positive=king`` lists king's nearest words by cosine;
``positive=[king,woman] negative=[man]`` answers the analogy king - man + woman. ``run`` is a run
directory or any vectors file ``evaluate.py`` reads. Errors print one line and exit with status 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from w2v.errors import W2VError
from w2v.evaluation.vectors import Vectors, load_vectors

USAGE = """usage: python similar.py run=<run dir or vectors file> positive=<word> [positive=...] [negative=<word>] [topn=10]
                          [limit=<load only the N most frequent words>] [trust_pickle=true (gensim .kv/.model files)]
  positive=king                                 king's nearest words by cosine
  positive=[king,woman] negative=[man]          king - man + woman (gensim's most_similar)"""


def most_similar(vecs: Vectors, positive: Sequence[str], negative: Sequence[str] = (), topn: int = 10) -> list[tuple[str, float]]:
    """gensim's ``most_similar``: the ``topn`` words by cosine to the mean of the unit vectors of
    ``positive`` minus those of ``negative``, the query words themselves left out.

    Words are matched exactly (gensim's keys are case-sensitive); an unknown word is a one-line error.
    """
    if not positive and not negative:
        raise W2VError("no words given: pass positive=<word> (and optionally negative=<word>)")
    if topn < 1:
        raise W2VError(f"invalid value topn={topn}: must be >= 1")
    rows = [_row(vecs, w) for w in [*positive, *negative]]
    weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
    mean = (vecs.unit[rows] * weights[:, None]).sum(0)  # (D,); its direction is gensim's weighted mean
    norm = float(np.linalg.norm(mean))
    if norm == 0:
        raise W2VError(f"the query {_describe(positive, negative)} sums to a zero vector: it has no direction to search")
    sims = vecs.unit @ (mean / norm)  # (V,) cosines
    sims[rows] = -np.inf  # never answer with a query word
    k = min(topn, len(vecs) - len(set(rows)))
    best = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
    best = best[np.argsort(-sims[best], kind="stable")]
    return [(vecs.words[i], float(sims[i])) for i in best.tolist()]


def _row(vecs: Vectors, word: str) -> int:
    row = vecs.index.get(word)
    if row is not None:
        return row
    folded = word.casefold()
    variant = next((w for w in vecs.words if w.casefold() == folded), None)  # only on an error: a linear scan is fine
    hint = f"; did you mean {variant!r}? (words are case-sensitive)" if variant else ""
    raise W2VError(f"unknown word {word!r}: it is not among the {len(vecs)} words of {vecs.name}{hint}")


def _describe(positive: Sequence[str], negative: Sequence[str]) -> str:
    text = " + ".join(positive) if positive else ""
    return text + "".join(f" - {w}" for w in negative)


def format_table(rows: list[tuple[str, float]]) -> str:
    """Aligned rank, word and cosine columns."""
    width = max([len("word"), *(len(w) for w, _ in rows)])
    lines = [f"{'#':>3}  {'word':<{width}}  cosine"]
    lines += [f"{rank:>3}  {word:<{width}}  {sim:.4f}" for rank, (word, sim) in enumerate(rows, 1)]
    return "\n".join(lines)


def _values(value: str) -> list[str]:
    """``[a,b]`` (Hydra's list syntax) or ``a,b`` is a list; a single word is a one-item list."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [v.strip().strip("'\"") for v in value.split(",") if v.strip()]


def _flag(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise W2VError(f"invalid value {key}={value!r}: use true or false")
    return lowered in ("true", "1", "yes")


def _positive_int(key: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise W2VError(f"invalid value {key}={value!r}: must be a positive integer")
    return int(value)


def parse_args(argv: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments in Hydra's style; ``positive`` and ``negative`` may repeat."""
    args: dict[str, Any] = {"run": None, "positive": [], "negative": [], "topn": 10, "limit": None, "trust_pickle": False}
    aliases = {"vectors": "run", "word": "positive", "words": "positive", "pos": "positive", "neg": "negative", "n": "topn"}
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = aliases.get(key.lstrip("+-"), key.lstrip("+-"))
        if not sep or key not in args:
            raise W2VError(f"unknown argument {arg!r}: use run=, positive=, negative=, topn=, limit=, trust_pickle= (see --help)")
        if key in ("positive", "negative"):
            args[key] += _values(value)
        elif key in ("topn", "limit"):
            args[key] = _positive_int(key, value)
        elif key == "trust_pickle":
            args[key] = _flag(key, value)
        else:
            args[key] = value
    if not args["run"]:
        raise W2VError("run is not set: pass run=outputs/<date>/<time> (a python train.py run) or a vectors file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: print the neighbours, or one error line and exit status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE)
        return 0
    logging.basicConfig(level=logging.WARNING, format="[%(name)s][%(levelname)s] - %(message)s")
    try:
        args = parse_args(argv)
        if not args["positive"] and not args["negative"]:
            raise W2VError("no words given: pass positive=<word> (and optionally negative=<word>)")
        vecs = load_vectors(args["run"], limit=args["limit"], trust_pickle=args["trust_pickle"])
        rows = most_similar(vecs, args["positive"], args["negative"], args["topn"])
    except W2VError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"most similar to {_describe(args['positive'], args['negative'])} ({vecs.name}: {len(vecs)} words)")
    print(format_table(rows))
    return 0
