"""TensorBoard's Projector: the most frequent words' vectors with their metadata, beside the run's curves.

``tensorboard --logdir outputs`` then shows each run's embedding in 3-D with search, PCA, t-SNE and
UMAP (the PROJECTOR tab). The files are the ones ``SummaryWriter.add_embedding`` writes, under the
run's ``tb/`` directory::

    tb/projector_config.pbtxt            which tensor and metadata files make up the embedding
    tb/<step>/vectors/tensors.tsv        one row of numbers per word, most frequent first
    tb/<step>/vectors/metadata.tsv       a "word<TAB>count" header, then one row per word

They are written into a staging directory first and renamed into place, the config last, so an
interrupted write never leaves a config that points at half a file.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from w2v.atomic import fsync_dir, fsync_tree

log = logging.getLogger(__name__)

TAG = "vectors"
CONFIG = "projector_config.pbtxt"
DECIMALS = 6  # tensors.tsv is text: 6 decimals keep the picture and halve the file against full float reprs


def write_projector(
    log_dir: Path, words: Sequence[str], counts: Sequence[int], vectors: np.ndarray, n_words: int, step: int
) -> Path | None:
    """Write the ``n_words`` most frequent words (rows of ``vectors`` in vocabulary order) for the Projector.

    ``counts`` are the words' corpus counts (the metadata's second column); ``step`` names the
    embedding (``vectors:<step>``, the epochs trained). Returns the directory of the tensor and metadata
    files, or None when ``n_words`` is 0 (the Projector is off).
    """
    n = min(int(n_words), len(words))
    if n <= 0:
        return None
    from torch.utils.tensorboard import SummaryWriter

    t0 = time.perf_counter()
    log_dir = Path(log_dir)
    staging = log_dir / ".projector.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    writer = SummaryWriter(log_dir=str(staging))  # its own (empty) event file goes away with the staging directory
    try:
        table = np.round(np.asarray(vectors[:n], dtype=np.float64), DECIMALS)  # (n, D)
        metadata = [[_cell(w), int(c)] for w, c in zip(words[:n], counts[:n])]
        writer.add_embedding(table, metadata=metadata, metadata_header=["word", "count"], tag=TAG, global_step=step)
    finally:
        writer.close()
    fsync_tree(staging)  # TensorBoard does not fsync: the renames below must not expose empty files after a power cut
    subdir = Path(f"{step:05d}") / TAG
    target = log_dir / subdir
    shutil.rmtree(target, ignore_errors=True)  # a rerun of the same step replaces the old files
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging / subdir, target)
    os.replace(staging / CONFIG, log_dir / CONFIG)
    fsync_dir(target.parent)
    fsync_dir(log_dir)
    shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - t0
    log.info("projector: %d words x %d dims in %s (%.1fs); tensorboard --logdir shows them", n, table.shape[1], target, seconds)
    return target


def _cell(word: str) -> str:
    """A TSV cell: tokens never hold tabs or newlines, but a plugged-in reader might."""
    return word.replace("\t", " ").replace("\n", " ")
