"""Data preparation: corpus text -> tokenizer -> counting pass -> phrases -> vocabulary -> the id file.

:func:`prepare_corpus` is the one entry point, for one process and for every rank of a torchrun job.
The ranks work together only through :class:`w2v.data.collectives.Collectives`; one process passes
:data:`w2v.data.collectives.LOCAL`.

- **Tokenizer.** The configured one (:func:`w2v.data.tokenizers.prepare_tokenizer`). A trained kind
  (``corpus.tokenizer=bpe``...) is trained once, by rank 0, into the run directory; the other ranks
  load its file. With ``init=`` the earlier run's trained tokenizer is reused.
- **Counting pass.** One pass tokenises, counts and writes provisional ids (first-occurrence order;
  :func:`w2v.data.encode_ids.encode_text`). Under torchrun each rank reads only its share of the
  text (:func:`w2v.data.corpus.iter_sentences` with ``shard``: every W-th line or piece of the files,
  every W-th shard or row of a ``corpus=hf`` dataset); with ``corpus.max_tokens`` every rank reads the
  prefix and keeps sentence ``i mod W`` (:func:`shard_sentences`).
- **Phrases** (``phrases.enabled``) join words before the vocabulary is built, scored on the counts
  of the whole corpus (:mod:`w2v.data.phrases`, merged over ranks by :mod:`w2v.data.rank_counts`).
- **Vocabulary.** ``min_count`` / ``max_vocab`` on the counts of all ranks, merged by word
  (:func:`w2v.data.rank_counts.merged_vocab`), and merged into ``base`` (an earlier run's vocabulary,
  ``init=``) when given; identical on every rank. Rank 0 writes ``vocab.tsv``.
- **The id file.** One process keeps ``corpus.ids`` of provisional ids, which the vocabulary's
  ``remap`` maps. A torchrun rank rewrites its share as vocabulary ids into ``corpus.shard<r>.ids``
  (:func:`w2v.data.idshards.rewrite_as_vocab_ids`), so every rank reads every shard with one
  mapping; the corpus is the shards' concatenation in rank order (:class:`w2v.data.idshards.IdShards`).

Errors (an empty corpus, no word above ``min_count``) are raised on every rank alike, since every
rank sees the same merged counts, and leave no id file of this run behind.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2v.data.collectives import LOCAL, Collectives
from w2v.data.corpus import iter_sentences
from w2v.data.encode_ids import encode_text
from w2v.data.idshards import rewrite_as_vocab_ids, vocab_identity
from w2v.data.phrases import LOCAL as LOCAL_COUNTS
from w2v.data.phrases import CountMerger, detect_phrases
from w2v.data.rank_counts import RankCounts, merged_vocab
from w2v.data.sources import undecodable_bytes
from w2v.data.tokenizers import TextTokenizer, prepare_tokenizer
from w2v.data.vocab import EncodedCorpus, Vocab, encode_corpus, take_tokens
from w2v.errors import W2VError

log = logging.getLogger(__name__)

IDS_FILE = "corpus.ids"  # one process's encoded corpus, in the run directory


@dataclass
class PreparedData:
    """What :func:`prepare_corpus` leaves each process: the id files, the vocabulary and the corpus size."""

    id_files: list[Path]  # the encoded corpus: their concatenation (one file, or every rank's shard in rank order)
    vocab: Vocab  # remap: an id in the files -> vocabulary id (-1: a word below min_count)
    n_tokens: int  # corpus tokens, all ranks
    seconds: float  # this process's counting pass (and phrases)


def shard_path(run_dir: Path, rank: int) -> Path:
    """Rank ``rank``'s shard of the encoded corpus (vocabulary ids)."""
    return run_dir / f"corpus.shard{rank}.ids"


def shard_sentences(sentences: Iterable[list[str]], rank: int, world: int, max_tokens: int | None) -> Iterable[list[str]]:
    """Rank ``rank``'s sentences: ``i mod world == rank`` of the (``max_tokens``-cut) corpus."""
    return itertools.islice(take_tokens(sentences, max_tokens), rank, None, world)


def prepare_corpus(cfg: Any, run_dir: Path, base: Vocab | None = None, comm: Collectives = LOCAL) -> PreparedData:
    """Count and encode the corpus (this rank's share under torchrun) into the run directory and build the
    vocabulary of the whole corpus, merged into ``base`` (an earlier run's vocabulary, ``init=``) when given.

    ``cfg``: the run config (``corpus``, ``phrases``, ``min_count``, ``max_vocab``, ``init``). Under
    torchrun the call ends with a collective, so every shard is complete before any rank reads one.
    """
    if comm.distributed:
        return _prepare_shard(cfg, run_dir, base, comm)
    return _prepare_single(cfg, run_dir, base)


def _prepare_single(cfg: Any, run_dir: Path, base: Vocab | None) -> PreparedData:
    """One process: ``corpus.ids`` keeps the provisional ids, which ``vocab.remap`` maps."""
    ids_path = run_dir / IDS_FILE
    before = undecodable_bytes()  # the warning counts what a trained tokenizer's pass over the text replaced too
    tokenize = prepare_tokenizer(cfg.corpus, run_dir, init_dir=cfg.init)  # bpe/wordpiece/unigram: trained here
    encoded = encode_text(cfg.corpus, tokenize, ids_path)
    bad = undecodable_bytes() - before
    if bad:
        log.warning("replaced %d undecodable bytes (invalid UTF-8) with U+FFFD", bad)
    if cfg.phrases.enabled:
        encoded = detect_phrases(encoded, cfg.phrases)
    try:
        vocab = _vocabulary(encoded, cfg, base, LOCAL)
    except W2VError:
        ids_path.unlink(missing_ok=True)  # no half-made outputs
        raise
    vocab.save_tsv(run_dir / "vocab.tsv")
    return PreparedData([ids_path], vocab, encoded.n_tokens, encoded.seconds)


def _prepare_shard(cfg: Any, run_dir: Path, base: Vocab | None, comm: Collectives) -> PreparedData:
    """A torchrun rank: its share, counted and rewritten as vocabulary ids into its shard; every rank's shard files."""
    rank, world = comm.rank, comm.world_size
    tokenize = _shared_tokenizer(cfg, run_dir, comm)
    raw, shard = run_dir / f"corpus.shard{rank}.raw.ids", shard_path(run_dir, rank)
    before = undecodable_bytes()
    if cfg.corpus.max_tokens is None:  # this rank reads (and tokenises) only its share
        encoded = encode_text(cfg.corpus, tokenize, raw, (rank, world))
    else:
        # The prefix is the whole corpus's first tokens, which no rank can find without counting the
        # sentences before its own: every rank reads the prefix and keeps sentence i mod W.
        encoded = encode_corpus(shard_sentences(iter_sentences(cfg.corpus, tokenize), rank, world, cfg.corpus.max_tokens), raw)
    bad = undecodable_bytes() - before
    if bad:
        log.warning("rank %d: replaced %d undecodable bytes (invalid UTF-8) with U+FFFD", rank, bad)
    try:
        if cfg.phrases.enabled:
            encoded = detect_phrases(encoded, cfg.phrases, _count_merger(comm))
        vocab = _vocabulary(encoded, cfg, base, comm)
        assert vocab.remap is not None
        rewrite_as_vocab_ids(raw, shard, vocab.remap, len(vocab))
    finally:
        raw.unlink(missing_ok=True)
    vocab.remap = vocab_identity(len(vocab))
    files, n_tokens = _shard_files(run_dir, shard, encoded, comm)
    if comm.is_main:
        vocab.save_tsv(run_dir / "vocab.tsv")
    return PreparedData(files, vocab, n_tokens, encoded.seconds)


def _shared_tokenizer(cfg: Any, run_dir: Path, comm: Collectives) -> TextTokenizer:
    """The configured tokenizer on every rank: a trained kind is trained once, by rank 0, and the others load its file."""
    tokenize = prepare_tokenizer(cfg.corpus, run_dir, init_dir=cfg.init) if comm.is_main else None
    comm.barrier("waiting for rank 0's tokenizer")
    if tokenize is None:
        tokenize = prepare_tokenizer(cfg.corpus, run_dir, train=False)
    return tokenize


def _count_merger(comm: Collectives) -> CountMerger:
    """Where a phrase pass finds the counts of the whole corpus: here, or merged over the ranks."""
    return LOCAL_COUNTS if comm.world_size == 1 else RankCounts(comm)


def _vocabulary(encoded: EncodedCorpus, cfg: Any, base: Vocab | None, comm: Collectives) -> Vocab:
    """The vocabulary of all ranks' counts (merged into ``base``), or a one-line error when it cannot train."""
    vocab = merged_vocab(encoded, cfg.min_count, cfg.max_vocab, base, comm)
    if len(vocab) < 2:
        raise W2VError(f"the vocabulary has only {len(vocab)} word: word2vec needs at least 2; lower min_count or raise max_vocab")
    return vocab


def _shard_files(run_dir: Path, shard: Path, encoded: EncodedCorpus, comm: Collectives) -> tuple[list[Path], int]:
    """Every rank's shard file, each checked against the size its rank wrote, and the corpus tokens of all ranks.

    Every rank reads every shard: one this rank cannot see (a run directory that is not on a
    filesystem all ranks share) is a one-line error.
    """
    rank, world = comm.rank, comm.world_size
    mine = [0.0] * (1 + world)
    mine[0], mine[1 + rank] = encoded.n_tokens, shard.stat().st_size // 4
    totals = comm.all_reduce_sum(mine, "the shard sizes")
    files = [shard_path(run_dir, r) for r in range(world)]
    for path, n_ids in zip(files, totals[1:]):
        if not path.is_file() or path.stat().st_size // 4 != int(n_ids):
            raise W2VError(
                f"rank {rank} cannot read {path} as rank {files.index(path)} wrote it: every rank reads every shard, "
                f"so the run directory must be on a filesystem all ranks share (set hydra.run.dir to one)"
            )
    return files, int(totals[0])
