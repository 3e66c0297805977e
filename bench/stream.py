"""Throughput of the pair stream alone (counting pass, then pairs and negatives, no training).

    python bench/stream.py --max-tokens 2000000 --threads 1

Prints tokens/s of the counting pass and words/s and pairs/s of the stream; the same numbers go to
``--json`` (default ``bench/results/stream.json``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import WIKI8, add_json_argument, settings_of, write_results
from omegaconf import OmegaConf

from w2v.config import CorpusConfig
from w2v.data.corpus import iter_sentences
from w2v.data.stream import StreamConfig, Word2VecStream
from w2v.data.vocab import build_vocab, encode_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=WIKI8)
    parser.add_argument("--max-tokens", type=int, default=2_000_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the stream's tensor ops")
    parser.add_argument("--batch-size", type=int, default=4096)
    add_json_argument(parser, "stream")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ccfg = OmegaConf.structured(CorpusConfig(kind="text8", path=str(args.corpus), lowercase=False, token_pattern=None))
    ccfg.max_tokens = args.max_tokens
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        encoded = encode_corpus(iter_sentences(ccfg), Path(tmp) / "ids", ccfg.max_tokens)
        count_s = time.perf_counter() - t0
        vocab = build_vocab(encoded, 5)
        stream = Word2VecStream(Path(tmp) / "ids", vocab.remap, vocab.keep_probs(1e-3), vocab.noise_weights(0.75),
                                StreamConfig(5, 5, args.batch_size, 65536, shuffle=False))  # fmt: skip
        for _ in stream:  # warm-up: compiles the numba helpers once
            pass
        t0, pairs, words = time.perf_counter(), 0, 0
        for batch in stream:
            pairs += len(batch.inputs)
            words += batch.words
        dt = time.perf_counter() - t0
    print(f"counting pass: {encoded.n_tokens / count_s / 1e6:.2f}M tokens/s")
    print(f"stream: {words / dt / 1e6:.2f}M words/s, {pairs / dt / 1e6:.2f}M pairs/s ({pairs / max(words, 1):.2f} pairs/word)")
    row = {"tokens": encoded.n_tokens, "count_tokens_per_sec": encoded.n_tokens / count_s, "stream_words_per_sec": words / dt,
           "stream_pairs_per_sec": pairs / dt, "pairs_per_word": pairs / max(words, 1)}  # fmt: skip
    write_results(args.json, settings_of(args), [row])


if __name__ == "__main__":
    main()
