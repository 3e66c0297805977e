"""The counting pass (tokenize, count, write corpus.ids) under each ``corpus.tokenizer``, timed.

    python bench/tokenizer_count.py ../shared/data/wiki8/wiki8.txt.gz /tmp/tokcount
    python bench/tokenizer_count.py ../shared/data/wiki8/wiki8.txt.gz /tmp/tokcount regex json-bpe

Reads the file as ``corpus=text8`` does. Rows: ``text8`` (today's text8 config: a whitespace split),
``regex`` (the default token pattern), ``whitespace``, ``bpe`` (trains a 30,000-token BPE first and
saves OUT/bpe/tokenizer.json), ``json-bpe`` (that file as a tokenizer.json; run ``bpe`` first) and
``json-bytelevel`` (a GPT-2-style byte-level BPE of 30,000 tokens, trained here on the file's first
10 MB). Prints one JSON line per row: seconds to prepare (train) the tokenizer, wall and CPU seconds
of the counting pass (CPU includes the tokenizers library's threads), tokens and distinct tokens;
all rows also go to ``--json`` (default ``bench/results/tokenizer_count.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from common import add_json_argument, compose_train, write_results

from w2v.data.corpus import open_text
from w2v.data.encode_ids import encode_text
from w2v.data.tokenizers import prepare_tokenizer


def _bytelevel(corpus: str, path: Path) -> None:
    """GPT-2's pipeline (byte-level pre-tokenizer and decoder, no normalizer), trained on 10 MB of ``corpus``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if path.is_file():
        return
    with open_text(corpus) as f:
        text = f.read(10_000_000)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=30000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text[i : i + 100_000] for i in range(0, len(text), 100_000)], trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="a text8-style file (plain or .gz)")
    parser.add_argument("out", type=Path, help="a scratch directory: one folder per row, trained tokenizers kept")
    parser.add_argument("names", nargs="*", help="rows to run, in this order (repeats allowed); default: every row")
    add_json_argument(parser, "tokenizer_count")
    args = parser.parse_args()
    corpus, out = args.corpus, args.out
    out.mkdir(parents=True, exist_ok=True)
    rows = {
        "text8": [],
        "regex": ["corpus.token_pattern='\\w+(?:[-\\']\\w+)*'"],
        "whitespace": ["corpus.tokenizer=whitespace"],
        "bpe": ["corpus.tokenizer=bpe", "corpus.tokenizer_vocab=30000"],
        "json-bpe": [f"corpus.tokenizer={out / 'bpe' / 'tokenizer.json'}"],
        "json-bytelevel": [f"corpus.tokenizer={out / 'bytelevel' / 'tokenizer.json'}"],
    }
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if bad := [name for name in args.names if name not in rows]:
        raise SystemExit(f"error: unknown rows {bad}: choose from {', '.join(rows)}")
    results = []
    for name in args.names or list(rows):
        if name == "json-bytelevel":
            _bytelevel(corpus, out / "bytelevel" / "tokenizer.json")
        cfg = compose_train(["corpus=text8", f"corpus.path={corpus}", *rows[name]])
        run = out / name
        run.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        tok = prepare_tokenizer(cfg.corpus, run)
        t1, c1 = time.perf_counter(), time.process_time()
        enc = encode_text(cfg.corpus, tok, run / "corpus.ids")  # what train.py runs: ids for a Hugging Face tokenizer
        t2, c2 = time.perf_counter(), time.process_time()
        (run / "corpus.ids").unlink()
        row = {"row": name, "prepare_s": round(t1 - t0, 1), "count_s": round(t2 - t1, 1), "count_cpu_s": round(c2 - c1, 1)}
        results.append({**row, "tokens": enc.n_tokens, "distinct": len(enc.words)})
        print(json.dumps(results[-1]), flush=True)
    write_results(args.json, {"corpus": corpus, "out": out, "names": args.names}, results)


if __name__ == "__main__":
    main()
