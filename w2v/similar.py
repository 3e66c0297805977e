"""Word queries on trained vectors, like gensim's ``KeyedVectors.most_similar``.

``python similar.py run=outputs/<run> positive=king`` (or ``w2v-similar ...``) lists king's nearest
words by cosine; ``positive=[king,woman] negative=[man]`` answers the analogy king - man + woman.
``run`` is a run directory or any vectors file ``evaluate.py`` reads. The query itself is
:meth:`w2v.vectors.WordVectors.most_similar`; this module is the command around it: its config
schema (``configs/similar.yaml``), its arguments and its table. Errors print one line and exit 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from w2v.ann import cached_index
from w2v.errors import W2VError
from w2v.query_args import QueryArgs
from w2v.vectors import describe_query, load_vectors, resolve_vectors_path


@dataclass
class SimilarConfig:
    """The keys of ``similar.py``; ``positive`` and ``negative`` may repeat (``positive=a positive=b``)."""

    run: Optional[str] = None  # a run directory (outputs/<date>/<time>) or any vectors file evaluate.py reads
    positive: list[str] = field(default_factory=list)  # words to add: positive=king or positive=[king,woman]
    negative: list[str] = field(default_factory=list)  # words to subtract: negative=[man]
    topn: int = 10  # how many words to list
    limit: Optional[int] = None  # load only the N most frequent words
    trust_pickle: bool = False  # gensim .kv/.model files are pickles, which run code when loaded: only files you trust
    index: Optional[str] = None  # approximate search (millions of words): faiss, hnswlib or usearch; pip install -e ".[ann]"


def split_words(value: str) -> list[str]:
    """``[a,b]`` (Hydra's list syntax) or ``a,b`` is a list; a single word is a one-item list."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [v.strip().strip("'\"") for v in value.split(",") if v.strip()]


ARGS = QueryArgs(
    SimilarConfig,
    lists={"positive": split_words, "negative": split_words},
    aliases={"vectors": "run", "word": "positive", "words": "positive", "pos": "positive", "neg": "negative", "n": "topn"},
)


def register_similar_config() -> None:
    """Register the schema with Hydra's ConfigStore as ``similar_schema`` (configs/similar.yaml)."""
    ConfigStore.instance().store(name="similar_schema", node=SimilarConfig)


def similar(cfg: Any) -> str:
    """The answer to ``cfg``'s query: a title line and the table; :class:`W2VError` for what a user can fix."""
    for key in ("topn", "limit"):
        if cfg[key] is not None and cfg[key] < 1:
            raise W2VError(f"invalid value {key}={str(cfg[key])!r}: must be a positive integer")
    if not cfg.run:
        raise W2VError("run is not set: pass run=outputs/<date>/<time> (a python train.py run) or a vectors file")
    positive, negative = list(cfg.positive), list(cfg.negative)
    if not positive and not negative:
        raise W2VError("no words given: pass positive=<word> (and optionally negative=<word>)")
    vecs = load_vectors(cfg.run, limit=cfg.limit, trust_pickle=cfg.trust_pickle)
    index = None
    if cfg.index:
        # Built once and saved beside the vectors file (a new or a different-sized one is rebuilt).
        index = cached_index(vecs.unit, resolve_vectors_path(cfg.run), kind=cfg.index)
    rows = vecs.most_similar(positive, negative, cfg.topn, index=index)
    return f"most similar to {describe_query(positive, negative)} ({vecs.name}: {len(vecs)} words)\n{format_table(rows)}"


def command(cfg: Any) -> int:
    """The command: print the answer, or one error line; the exit status (0, or 2 for an error)."""
    try:
        text = similar(cfg)
    except W2VError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


def format_table(rows: list[tuple[str, float]]) -> str:
    """Aligned rank, word and cosine columns."""
    width = max([len("word"), *(len(w) for w, _ in rows)])
    lines = [f"{'#':>3}  {'word':<{width}}  cosine"]
    lines += [f"{rank:>3}  {word:<{width}}  {sim:.4f}" for rank, (word, sim) in enumerate(rows, 1)]
    return "\n".join(lines)
