"""Nearest words and analogies of a word run: ``python similar.py run=outputs/<run> positive=king`` (or ``w2v-similar``).

``positive=[king,woman] negative=[man]`` combines words as gensim's most_similar does; see ``--help``.
A thin shim: the Hydra app is :func:`w2v.cli.similar_main` (configs/similar.yaml), the work
:mod:`w2v.similar`; errors print one line and exit with status 2.
"""

import sys

from w2v.cli import similar_main

if __name__ == "__main__":
    sys.exit(similar_main())
