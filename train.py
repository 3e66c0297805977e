"""Train word vectors: ``python train.py [overrides]`` (or ``w2v-train``).

A thin shim: the Hydra app is :func:`w2v.cli.train_main` (configs/train.yaml) and the work is
:func:`w2v.train.trainer.train`; a sweep's objective is what the app returns to Hydra.
"""

import sys

from w2v.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
