"""Nearest words and analogies of a word run: ``python similar.py run=outputs/<run> positive=king``.

``positive=[king,woman] negative=[man]`` combines words as gensim's most_similar does; see ``--help``.
The work is in :mod:`w2v.similar`; errors print one line and exit with status 2.
"""

import sys

from w2v.similar import main

if __name__ == "__main__":
    sys.exit(main())
