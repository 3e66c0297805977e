"""Evaluate word vectors or summarise a sweep: ``python evaluate.py vectors=PATH`` or ``sweep=DIR`` (or ``w2v-evaluate``).

A thin shim: the Hydra app is :func:`w2v.cli.evaluate_main` (configs/evaluate.yaml) and the work is
:func:`w2v.evaluation.run.evaluate`; reports go to Hydra's run directory
(``outputs/evaluate/<date>/<time>``) unless ``out=DIR`` is given.
"""

import sys

from w2v.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
