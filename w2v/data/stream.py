"""The training stream: a streaming ``IterableDataset`` of skip-gram or CBOW example batches.

The encoded corpus is read in blocks of ``block_tokens`` ids. Each block is turned into examples
with whole-tensor operations (no per-pair Python): drop out-of-vocabulary words, subsample frequent
words, draw each center's effective window, emit the window pairs, shuffle, cut batches, and draw
negatives. Each block has its own RNG seeded from ``(seed, epoch, block)``, so the stream is
deterministic whatever the number of workers, and a run can resume at any (block, batch). A seeded
fraction of blocks (``heldout``) is never streamed: the trainer scores them without updates.

A batch is one layout for every model (an *input bag* per example, in CSR form, and a target):

- skip-gram: one example per (center, context) pair; the bag is the context word, the target the
  center (word2vec.c's and gensim's roles: in center order, consecutive examples share the target,
  whose output row and Huffman path then stay in cache);
- CBOW: one example per center; the bag is its context words, the target the center.

With character n-grams (``bags``) each input word of a batch is replaced by its bag of rows (the
word's own row, then its n-gram rows): a skip-gram example's bag is its center word's bag predicting
the context word (fastText's roles), a CBOW example's the concatenated bags of all its context words.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from w2v.data import compiled
from w2v.data.batches import ExampleBatch, SpanChunk, TokenChunk
from w2v.data.idshards import IdShards
from w2v.data.sampler import AliasSampler
from w2v.data.vocab import SENTENCE_END
from w2v.models.subwords import WordBags, expand_bags


def window_pairs(
    tokens: torch.Tensor, sentence: torch.Tensor, radius: torch.Tensor, window: int, center_order: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (center, context) pairs with 0 < |offset| <= radius[center], within one sentence.

    tokens, sentence, radius: (N,) tensors of word ids, sentence ids and per-center window sizes.
    Returns (centers, contexts, center_positions), each (P,), grouped by offset; with
    ``center_order`` sorted center by center and left to right within a center, as word2vec.c
    visits them (a center's row stays in cache for the per-pair CPU kernel).
    """
    center_pos, context_pos = [], []
    for offset in range(1, min(window, len(tokens) - 1) + 1):
        same = sentence[:-offset] == sentence[offset:]  # (N - offset,) pair stays in its sentence
        left = (same & (radius[:-offset] >= offset)).nonzero().squeeze(1)  # center left, context right
        right = (same & (radius[offset:] >= offset)).nonzero().squeeze(1)  # center right, context left
        center_pos += [left, right + offset]
        context_pos += [left + offset, right]
    if not center_pos:
        empty = tokens.new_empty(0)
        return empty, empty, empty
    centers, contexts = torch.cat(center_pos), torch.cat(context_pos)
    if center_order:
        order = torch.argsort(centers * (2 * window + 1) + (contexts - centers + window))
        centers, contexts = centers[order], contexts[order]
    return tokens[centers], tokens[contexts], centers


def skipgram_pairs(
    tokens: torch.Tensor, sentence: torch.Tensor, radius: torch.Tensor, window: int, center_order: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(centers, contexts) of :func:`window_pairs`, without the positions."""
    centers, contexts, _ = window_pairs(tokens, sentence, radius, window, center_order)
    return centers, contexts


def csr_take(inputs: torch.Tensor, offsets: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bags ``rows`` of a CSR (inputs, offsets), in that order, as a new CSR."""
    sizes = (offsets[1:] - offsets[:-1])[rows]
    new_offsets = torch.zeros(len(rows) + 1, dtype=offsets.dtype, device=offsets.device)
    torch.cumsum(sizes, 0, out=new_offsets[1:])
    # Position of every output element in `inputs`: its bag's old start + its rank inside the bag.
    starts = torch.repeat_interleave(offsets[:-1][rows] - new_offsets[:-1], sizes, output_size=int(new_offsets[-1]))
    return inputs[starts + torch.arange(len(starts), device=inputs.device)], new_offsets


# SeedSequence key of the draws that do not depend on the epoch: which blocks are held out, and the
# held-out blocks' own subsampling, windows and negatives (fixed once, so their loss is comparable).
HELDOUT_KEY = 0x68656C64  # "held"


def heldout_mask(n_blocks: int, fraction: float, seed: int) -> np.ndarray:
    """(n_blocks,) bool: ``round(fraction * n_blocks)`` blocks chosen by ``seed``, never all of them.

    Depends only on (n_blocks, fraction, seed), so every epoch, worker and resume agrees on it.
    """
    k = min(int(fraction * n_blocks + 0.5), n_blocks - 1)
    mask = np.zeros(n_blocks, dtype=bool)
    if k > 0:
        mask[np.random.default_rng(np.random.SeedSequence([seed, HELDOUT_KEY])).permutation(n_blocks)[:k]] = True
    return mask


def block_seed(seed: int, epoch: int, block: int, batch: int = -1) -> int:
    """A 63-bit seed for one block of one epoch (or one batch of it), independent of worker layout."""
    key = [seed, epoch, block] if batch < 0 else [seed, epoch, block, batch]
    return int(np.random.SeedSequence(key).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass
class StreamConfig:
    """What the stream needs from the run config."""

    window: int
    negatives: int
    batch_size: int  # examples per batch: pairs for skip-gram, windows for CBOW
    block_tokens: int
    shrink_windows: bool = True
    shuffle: bool = True
    seed: int = 1
    cbow: bool = False
    token_chunks: int = 0  # > 0: yield token chunks of this many blocks instead of examples (GPU engines)
    heldout: float = 0.0  # fraction of blocks kept out of training (see Word2VecStream.heldout_blocks)
    spans: bool = False  # with token_chunks: chunks are views of the id file (span chunks), not vocabulary ids


@dataclass
class Examples:
    """The examples of one block: input bags in CSR form (``offsets`` None = one input each) and targets."""

    inputs: torch.Tensor  # (N_in,) int64
    offsets: torch.Tensor | None  # (E+1,) int64, or None when every bag is one input (skip-gram)
    targets: torch.Tensor  # (E,) int64
    words: int  # in-vocabulary corpus words the block accounts for (the LR schedule's unit)

    def __len__(self) -> int:
        return len(self.targets)

    def slice(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(inputs, offsets, targets) of examples ``lo:hi``, offsets rebased to 0."""
        if self.offsets is None:
            return self.inputs[lo:hi], None, self.targets[lo:hi]
        a, b = int(self.offsets[lo]), int(self.offsets[hi])
        return self.inputs[a:b], self.offsets[lo : hi + 1] - a, self.targets[lo:hi]


class Word2VecStream(IterableDataset):
    """Batches of examples with negatives, streamed block by block from an encoded corpus.

    Each item is an :class:`~w2v.data.batches.ExampleBatch` (or, with ``token_chunks``, a
    :class:`~w2v.data.batches.TokenChunk` or :class:`~w2v.data.batches.SpanChunk`) that carries its
    words for the LR schedule and its position, so training can checkpoint and resume exactly.
    """

    def __init__(
        self,
        ids_path: Path | list[Path],
        remap: np.ndarray,
        keep_prob: np.ndarray,
        noise: np.ndarray,
        cfg: StreamConfig,
        device: str | torch.device = "cpu",
        bags: WordBags | None = None,
    ):
        super().__init__()
        # Character n-grams: each input word of a batch becomes its bag (the word's row and its n-gram rows).
        self.bags = bags.to(device) if bags is not None else None
        # One id file, or torchrun's shard files read as their concatenation (w2v/data/idshards.py).
        self.ids = IdShards(ids_path if isinstance(ids_path, list) else [ids_path])
        self.n_ids = self.ids.n_ids
        self.cfg = cfg
        self.device = torch.device(device)
        self.remap = torch.from_numpy(remap.astype(np.int64)).to(self.device)
        self.remap_np = np.asarray(remap, dtype=np.int32)
        self.keep_prob = torch.from_numpy(keep_prob).to(self.device)
        self.sampler = AliasSampler(noise, self.device)
        self.epoch = 0
        self.start: dict[int, tuple[int, int]] = {}  # worker -> (block, batch) to start from
        self.heldout = heldout_mask(self.n_blocks, cfg.heldout, cfg.seed)
        self._block_words: np.ndarray | None = None
        if cfg.spans:  # span chunks carry their blocks' words: count them now, at setup, not inside the first chunk
            self.words_per_block()

    @property
    def heldout_blocks(self) -> list[int]:
        """Blocks kept out of training (no worker ever streams them); see :func:`heldout_mask`."""
        return np.flatnonzero(self.heldout).tolist()

    @property
    def n_blocks(self) -> int:
        return max(1, math.ceil(self.n_ids / self.cfg.block_tokens))

    def set_epoch(self, epoch: int, start: dict[int, tuple[int, int]] | None = None) -> None:
        """Select the epoch (new subsampling, windows, negatives) and, per worker, the (block, batch)
        to start at when resuming."""
        self.epoch = epoch
        self.start = dict(start or {})

    @staticmethod
    def worker() -> tuple[int, int]:
        """(worker id, number of workers) of the calling DataLoader worker, (0, 1) in the main process."""
        info = get_worker_info()
        return (info.id, info.num_workers) if info else (0, 1)

    def my_blocks(self) -> range | list[int]:
        """Blocks this worker streams, in order, from the start position on (held-out blocks left out).

        (Under torchrun a rank's blocks come from :func:`w2v.train.rounds.round_blocks` instead.)
        """
        wid, stride = self.worker()
        first = wid
        start_block = self.start.get(wid, (0, 0))[0]
        # First block >= start_block congruent to `first` modulo stride.
        first += max(0, math.ceil((start_block - first) / stride)) * stride
        blocks = range(first, self.n_blocks, stride)
        # Held-out blocks keep their place in the sharding, so the trained blocks and their seeds are
        # the same whatever the fraction's draw and the number of workers.
        return [b for b in blocks if not self.heldout[b]] if self.heldout.any() else blocks

    def raw_block(self, block: int) -> np.ndarray:
        """Provisional ids of one block (int32, -1 at sentence ends), as stored in the id file."""
        return self.ids.read(block * self.cfg.block_tokens, self.cfg.block_tokens)

    def read_block(self, block: int) -> torch.Tensor:
        """Provisional ids of one block as an int64 tensor on the stream's device."""
        return torch.from_numpy(self.raw_block(block).astype(np.int64)).to(self.device)

    def block_words(self, block: int) -> int:
        """In-vocabulary corpus words of one block (what the LR schedule counts for it)."""
        raw = self.read_block(block)
        return int(((raw != SENTENCE_END) & (self.remap.take(raw.clamp(min=0)) >= 0)).sum())

    def words_per_block(self) -> np.ndarray:
        """(n_blocks,) in-vocabulary words of every block, counted in one pass over the id file on first use,
        so a span chunk knows its words without reading its ids."""
        if self._block_words is None:
            in_vocab = np.append(self.remap_np >= 0, False)  # index -1 (a separator) -> the appended False
            counts = np.zeros(self.n_blocks, dtype=np.int64)
            step = self.cfg.block_tokens * max(1, (1 << 22) // self.cfg.block_tokens)  # whole blocks, ~16 MB a read
            for lo in range(0, self.n_ids, step):
                hits = in_vocab.take(self.ids.read(lo, step)).astype(np.int64)
                first = lo // self.cfg.block_tokens
                sums = np.add.reduceat(hits, np.arange(0, len(hits), self.cfg.block_tokens)) if len(hits) else hits
                counts[first : first + len(sums)] = sums
            self._block_words = counts
        return self._block_words

    def block_windows(
        self, raw: torch.Tensor, gen: torch.Generator, grouped: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
        """(centers, contexts, offsets, words) of one block: the vectorised heart of the data pipeline.

        With ``grouped`` the pairs come in center order and ``offsets`` (E+1,) delimits each center's
        run of pairs; without it the tensor path skips that sort (the pairs are about to be
        shuffled) and ``offsets`` may be None. The compiled path is grouped for free.
        """
        is_end = raw == SENTENCE_END
        sentence = torch.cumsum(is_end, 0)  # sentence id of every position
        vocab_id = torch.where(is_end, -1, self.remap.take(raw.clamp(min=0)))  # take(): fast gather
        in_vocab = vocab_id >= 0  # drop separators and words below min_count before windowing
        tokens, sentence = vocab_id[in_vocab], sentence[in_vocab]
        words = len(tokens)
        if words:
            keep = torch.rand(words, generator=gen, device=self.device) < self.keep_prob.take(tokens)
            tokens, sentence = tokens[keep], sentence[keep]
        if self.cfg.shrink_windows:
            radius = torch.randint(1, self.cfg.window + 1, (len(tokens),), generator=gen, device=self.device)
        else:
            radius = torch.full((len(tokens),), self.cfg.window, device=self.device)
        if self.device.type == "cpu" and compiled.available():
            centers, contexts, offsets = compiled.window_pairs_cpu(tokens, sentence, radius)
        else:
            centers, contexts, positions = window_pairs(tokens, sentence, radius, self.cfg.window, center_order=grouped)
            offsets = None
            if grouped:
                sizes = torch.bincount(positions, minlength=len(tokens))
                offsets = torch.cat([sizes.new_zeros(1), torch.cumsum(sizes[sizes > 0], 0)])
        return centers, contexts, offsets, words

    def block_pairs(self, raw: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(centers, contexts, words) of one block: skip-gram pairs, shuffled if configured."""
        centers, contexts, _, words = self.block_windows(raw, gen, grouped=not self.cfg.shuffle)
        if self.cfg.shuffle and len(centers):
            perm = torch.randperm(len(centers), generator=gen, device=self.device)
            centers, contexts = centers[perm], contexts[perm]
        return centers, contexts, words

    def block_examples(self, raw: torch.Tensor, gen: torch.Generator) -> Examples:
        """The block's examples for the configured model (see the module docstring)."""
        if not self.cfg.cbow:
            centers, contexts, words = self.block_pairs(raw, gen)
            if self.bags is not None:
                # fastText's and gensim FastText's roles: the center's bag (its row and n-gram rows)
                # predicts each context word. In center order consecutive examples share that bag,
                # whose ~20 rows then stay in cache (with the context's bag, every pair misses).
                return Examples(centers, None, contexts, words)
            return Examples(contexts, None, centers, words)
        centers, contexts, offsets, words = self.block_windows(raw, gen)
        assert offsets is not None  # grouped=True always delimits the windows
        targets = centers[offsets[:-1]]  # (E,) the center of each window
        if self.cfg.shuffle and len(targets):
            perm = torch.randperm(len(targets), generator=gen, device=self.device)
            contexts, offsets = csr_take(contexts, offsets, perm)
            targets = targets[perm]
        return Examples(contexts, offsets, targets, words)

    def iter_block(self, block: int, skip_batches: int = 0, epoch: int | None = None) -> Iterator[ExampleBatch]:
        """Batches of one block, starting at batch ``skip_batches`` (same draws as a full pass).

        ``epoch`` overrides the epoch the draws are seeded with (held-out scoring fixes its own).
        """
        epoch = self.epoch if epoch is None else epoch
        gen = torch.Generator(device=self.device)
        gen.manual_seed(block_seed(self.cfg.seed, epoch, block))
        examples = self.block_examples(self.read_block(block), gen)
        bs = self.cfg.batch_size
        n_batches = max(1, math.ceil(len(examples) / bs))
        for b in range(skip_batches, n_batches):
            lo, hi = b * bs, min((b + 1) * bs, len(examples))
            inputs, offsets, targets = examples.slice(lo, hi)
            if self.bags is not None:  # per batch, so a block's expansion never sits in memory whole
                inputs, offsets = expand_bags(self.bags, inputs, offsets)
            # Each batch draws its negatives from its own seed: memory stays at one batch's worth
            # (negatives=50 would need GBs per block), and a resume that skips batches draws the same.
            batch_seed = block_seed(self.cfg.seed, epoch, block, b)
            gen.manual_seed(batch_seed)
            negatives = self.sampler.sample((hi - lo, self.cfg.negatives), gen, seed=batch_seed)
            # Spread the block's words over its batches for a smooth LR schedule.
            words = examples.words
            w = words * (b + 1) // n_batches - words * b // n_batches
            yield ExampleBatch(inputs, offsets, targets, negatives, w, epoch, block, b, last=b == n_batches - 1)

    def vocab_ids(self, block: int) -> np.ndarray:
        """One block as int32 vocabulary ids: out-of-vocabulary words dropped, -1 at sentence ends."""
        raw = self.raw_block(block)
        ids = np.where(raw == SENTENCE_END, SENTENCE_END, self.remap_np.take(np.maximum(raw, 0)))
        return ids[(raw == SENTENCE_END) | (ids >= 0)].astype(np.int32)

    def iter_chunks(self) -> Iterator[TokenChunk | SpanChunk]:
        """Token chunks of ``token_chunks`` consecutive blocks of this worker, for an engine that
        makes its own examples. A chunk is grouped by its blocks' absolute index, so a resume (which
        always restarts after a whole chunk) forms the same chunks as the uninterrupted run."""
        wid, nw = self.worker()
        group: list[int] = []
        blocks = list(self.my_blocks())
        for i, block in enumerate(blocks):
            group.append(block)
            if ((block - wid) // nw + 1) % self.cfg.token_chunks and i + 1 < len(blocks):
                continue
            yield self.token_chunk(group, wid)
            group = []

    def token_chunk(self, blocks: list[int], worker: int = 0) -> TokenChunk | SpanChunk:
        """One token chunk of ``blocks`` (this epoch): their vocabulary ids, each block followed by a separator.

        Keyed by its first block (the engine seeds the chunk's draws with it); ``block`` is its last,
        the position a resume continues after. With ``spans`` a :class:`SpanChunk` of the same blocks.
        torchrun's rounds (:mod:`w2v.train.dist_chunks`) make their chunks here too.
        """
        if self.cfg.spans:
            return self.span_chunk(blocks, worker)
        # A separator after each block: windows never cross blocks, as in the example stream.
        parts = [np.append(self.vocab_ids(b), np.int32(SENTENCE_END)) for b in blocks]
        tokens = np.concatenate(parts)
        return TokenChunk(torch.from_numpy(tokens), int(np.count_nonzero(tokens >= 0)), self.epoch, blocks[0], blocks[-1], worker)

    def span_chunk(self, blocks: list[int], worker: int = 0) -> SpanChunk:
        """A span chunk of ``blocks`` (ascending): one view of the id file from the first block to the end of
        the last, with each block's bounds in it and its words. Nothing is read here: the engine's threads
        read the ids (:mod:`w2v.engines.hogwild`), so the chunk costs the same for any corpus size."""
        bt, first = self.cfg.block_tokens, blocks[0]
        ids = self.ids.view(first * bt, (blocks[-1] + 1 - first) * bt)
        lo = np.array([(b - first) * bt for b in blocks], dtype=np.int64)
        hi = np.minimum(lo + bt, len(ids))
        return SpanChunk(ids, np.asarray(blocks, dtype=np.int64), lo, hi, self.words_per_block()[blocks], self.epoch, worker)

    def __iter__(self) -> Iterator[ExampleBatch | TokenChunk | SpanChunk]:
        if self.cfg.token_chunks:
            yield from self.iter_chunks()
            return
        wid, _ = self.worker()
        start_block, start_batch = self.start.get(wid, (0, 0))
        for block in self.my_blocks():
            for item in self.iter_block(block, start_batch if block == start_block else 0):
                item.worker = wid
                yield item
