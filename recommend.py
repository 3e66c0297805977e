"""Recommend songs from a playlists run: ``python recommend.py run=outputs/<run> song=3822``.

Several songs and negatives combine like gensim's most_similar; see ``--help``. The work is in
:mod:`w2v.songs.recommend`; errors print one line and exit with status 2.
"""

import sys

from w2v.songs.recommend import main

if __name__ == "__main__":
    sys.exit(main())
