"""Evaluation of word vectors: analogies, similarity benchmarks, GloVe neighbour comparison,
projections, reports and sweep summaries.

Modules, in the order a run uses them: ``vectors`` (load any format) -> ``analogy`` and
``similarity`` (benchmarks, gensim-compatible) -> ``neighbours`` (GloVe comparison) -> ``plot``
(PNG charts) -> ``report`` (eval.json, eval.md, log lines) -> ``run`` (the recipes called by the
trainer and evaluate.py); ``sweep`` summarises a Hydra multirun.
"""
