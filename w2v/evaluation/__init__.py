"""Evaluation of word vectors: analogies, similarity benchmarks, GloVe neighbour comparison,
projections, reports and sweep summaries.

The vectors themselves, and every format they are read from, are :mod:`w2v.vectors`. Modules, in
the order a run uses them: ``analogy`` and ``similarity`` (benchmarks, gensim-compatible) ->
``neighbours`` (GloVe comparison) -> ``plot`` (PNG charts) -> ``report`` (eval.json, eval.md, log
lines) -> ``run`` (the recipes called by the trainer and evaluate.py); ``sweep`` summarises a Hydra
multirun. ``config`` is evaluate.py's schema.
"""
