"""Recommend songs from a playlists run: ``python recommend.py run=outputs/<run> song=3822`` (or ``w2v-recommend``).

Several songs and negatives combine like gensim's most_similar; see ``--help``. A thin shim: the
Hydra app is :func:`w2v.cli.recommend_main` (configs/recommend.yaml), the work
:mod:`w2v.songs.recommend`; errors print one line and exit with status 2.
"""

import sys

from w2v.cli import recommend_main

if __name__ == "__main__":
    sys.exit(recommend_main())
