"""Which of engine=hogwild's levers beyond word2vec.c a run trains with, where the config leaves them null (auto).

A leaf module that imports nothing of w2v: :func:`w2v.config.validate` checks explicit values with it and the
hogwild engine resolves the null ones with it, without the engines importing the config.
"""

from __future__ import annotations

from typing import Any

# The widest window and the most negatives at which shared negatives in batched windows were measured inside the
# quality targets: auto leaves them off beyond (window_levers).
LEVERS_MAX_WINDOW, LEVERS_MAX_NEGATIVES = 10, 15


def window_levers(cfg: Any) -> tuple[bool, bool]:
    """``(shared_negatives, batch_windows)`` as engine=hogwild trains them, null (auto) resolved.

    Auto turns both on only where they were measured inside the quality targets against gensim: skip-gram
    with negative sampling alone, without subwords, at windows and negatives up to the largest measured
    (docs/benchmarks.md#the-default-for-skip-gram-with-negative-sampling). Everything else keeps word2vec.c's
    per-pair arithmetic: hierarchical softmax's batched windows fell 2.8 analogy points below gensim at
    window 10 and 0.027 on SimLex-999 at 10 epochs of a small corpus, CBOW's shared draw cost 1-2 points and
    fastText's 3.9, and hs with negatives and wider windows (the playlists' 20 with 50 negatives) were not
    measured. An explicit true or false always wins.
    """
    word_skip_gram_ns = bool(cfg.sg) and not bool(cfg.get("subwords") and cfg.subwords.enabled) and not cfg.hs and cfg.negatives > 0
    measured = cfg.window <= LEVERS_MAX_WINDOW and cfg.negatives <= LEVERS_MAX_NEGATIVES
    shared = (word_skip_gram_ns and measured) if cfg.shared_negatives is None else bool(cfg.shared_negatives)
    batched = (word_skip_gram_ns and shared) if cfg.batch_windows is None else bool(cfg.batch_windows)
    return shared, batched
