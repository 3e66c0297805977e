"""Typed configuration schemas (Hydra structured configs) and their validation.

The dataclasses give every key a type, so Hydra rejects an unknown key or a wrong type at
start-up. Value checks that a type cannot express (``window >= 1``...) live in :func:`validate`.
Defaults follow gensim's ``Word2Vec`` (sg=1, negative sampling) wherever gensim has one.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.utils import configure_log
from hydra.experimental.callback import Callback
from omegaconf import MISSING, DictConfig, OmegaConf

from w2v.errors import W2VError


@dataclass
class CorpusConfig:
    """Where tokens come from and how text becomes tokens."""

    kind: str = MISSING  # lee | text | text8 | hf, or any kind whose config names a `reader`
    # A corpus kind can plug in its own reader and evaluation by a name registered in w2v/plugins.py
    # (the songs application's is `playlists`; other packages add theirs as entry points), so the core
    # never imports the applications built on it, and a config or checkpoint never names code to import.
    # A kind's own keys live in its own schema, a subclass of this one registered beside its reader
    # (the playlists': w2v/songs/config.py), which its configs/corpus/ YAML names in its defaults list.
    # null = text reading / word benchmarks.
    reader: Optional[str] = None  # f(corpus_cfg) -> iterable of token lists
    evaluator: Optional[str] = None  # f(run_dir, words, vectors, cfg, tb, step, final=...) -> metrics
    path: Optional[str] = None  # file, directory, glob, or a datasets name / local path for kind=hf
    name: Optional[str] = None  # datasets configuration name (wikitext-103-raw-v1, ...)
    split: str = "train"
    column: str = "text"
    streaming: bool = True
    lowercase: bool = True
    # Tokens are regex matches; None splits on whitespace only (fast path for text8-style files).
    token_pattern: Optional[str] = r"\w+(?:[-']\w+)*"
    wikitext_markup: bool = False  # undo " @-@ " joiners and drop "= Heading =" lines
    # What makes the words (w2v/data/tokenizers.py): regex (token_pattern) | whitespace | the path of a
    # Hugging Face tokenizer.json | bpe | wordpiece | unigram, trained on the corpus with tokenizer_vocab
    # tokens and saved as tokenizer.json in the run directory.
    tokenizer: str = "regex"
    tokenizer_vocab: int = 30000
    max_sentence_length: int = 10000  # gensim's MAX_WORDS_IN_BATCH: longer lines are cut
    max_tokens: Optional[int] = None  # stop after this many tokens (quick runs on a prefix)
    # kind=text8 with path=None downloads `url` once into `cache_dir` and keeps it only if it matches
    # this checksum ("md5:<hex>" or "sha256:<hex>"; configs/corpus/text8.yaml sets all three).
    url: Optional[str] = None
    cache_dir: str = "~/.cache/w2v"
    checksum: Optional[str] = None


@dataclass
class EvalConfig:
    """Word-vector evaluation (w2v.evaluation): at the end of training, per epoch, and in evaluate.py."""

    enabled: bool = True
    every_epoch: bool = False
    analogies: Optional[str] = None  # questions-words format; None = gensim's bundled copy
    restrict_vocab: int = 300000  # only the first N (most frequent) words count, as gensim
    cosmul: bool = True  # score 3CosMul beside 3CosAdd (3CosAdd is the headline `analogy` metric)
    similarity: list[str] = field(default_factory=lambda: ["wordsim353", "simlex999", "men"])  # names or file paths
    # What train.py returns to a sweeper (Optuna maximises it): the mean of these metrics.json keys, e.g.
    # [analogy,wordsim353]; empty = hr@10 for song runs, analogy for word runs.
    objective: list[str] = field(default_factory=list)
    glove_path: Optional[str] = "${oc.env:W2V_GLOVE,../shared/data/glove/glove.6B.50d.txt.gz}"  # null: no GloVe comparison
    glove_limit: Optional[int] = None  # load only GloVe's first N words (None = all)
    queries: Optional[list[str]] = None  # neighbour query words; None = a built-in list
    topk: int = 10
    sample_words: int = 1000  # frequent shared words sampled for overlap@k
    sample_pairs: int = 10000  # shared word pairs sampled for the cosine Spearman
    frequent: int = 10000  # samples come from this many most frequent shared words
    seed: int = 0
    plot: bool = True
    plot_words: Optional[list[str]] = None  # None = the query words and their nearest neighbours
    projection: str = "pca"  # pca | tsne (needs scikit-learn)
    cache_dir: Optional[str] = "~/.cache/w2v"  # parsed copies of big text vector files (GloVe); null = none
    projector_words: int = 10000  # TensorBoard Projector: this many most frequent words (0 = off; eval=none sets 0)


@dataclass
class PhrasesConfig:
    """gensim's ``Phrases`` (same names and defaults), run over the encoded corpus (w2v/data/phrases.py)."""

    enabled: bool = False
    threshold: float = 10.0  # a pair is a phrase when its score is > threshold
    min_count: int = 5
    scoring: str = "default"  # default (Mikolov et al.'s original_scorer) | npmi
    delimiter: str = "_"
    passes: int = 1  # 2 = apply twice, as gensim users do for trigrams and 4-grams


@dataclass
class DistConfig:
    """Data-parallel training under torchrun (w2v/train/dist.py); ignored by a single process."""

    timeout_s: float = 300.0  # a collective waiting longer (a rank died or hangs) fails with an error
    # Every rank must reach the rendezvous within this (at most timeout_s): a plain `python train.py` that
    # inherited a launcher's RANK/WORLD_SIZE/MASTER_* variables finds no other ranks and stops in one line.
    join_timeout_s: float = 30.0
    sync_blocks: int = 1  # stream blocks each rank trains between two averages of the tables (a round)
    # > 0: pWord2Vec's frequency bands: round r averages the hot_rows * 2**z most frequent rows (2**z the
    # largest power of 2 dividing r), so band k = rows [hot*2**(k-1), hot*2**k) every 2**k rounds; all
    # rows every full_every rounds (0: only at each epoch end and before a checkpoint, as always; pWord2Vec's
    # default). hot_rows=0 = all rows every round. 4096 (pWord2Vec's is 1024): on all of wiki8 (67,903 rows) it cut
    # the merged bytes 5x and the time merging 4-6x at the same quality (README); tables of at most 4096 rows merge in full.
    hot_rows: int = 4096
    full_every: int = 0
    # How a round combines the replicas: average (pWord2Vec's mean), deltas (the last merged tables plus
    # the sum of every replica's change since; 2 ranks only; keeps a copy of the tables), or auto: deltas
    # for 2 ranks and 1-block rounds, else average (w2v/train/sync_schedule.py says why).
    merge: str = "auto"
    # The lr schedule's factor under W ranks: linear (x W), sqrt (x sqrt(W)), none, or auto (linear
    # for merge=average, whose mean divides each update by W; none for merge=deltas).
    lr_scale: str = "auto"


@dataclass
class SubwordsConfig:
    """fastText's character n-grams (gensim ``FastText``'s names and defaults; w2v/models/subwords.py).

    A word's input vector is the mean of its own row and the rows of its ``min_n``..``max_n``-character
    n-grams, hashed into ``bucket`` rows (bucket x dim floats: 2M x 100 is 800 MB, so lower it for small runs).
    """

    enabled: bool = False
    min_n: int = 3
    max_n: int = 6
    bucket: int = 2_000_000


@dataclass
class TrainConfig:
    """Everything one training run needs. Top-level names are gensim's where gensim has one."""

    corpus: CorpusConfig = MISSING
    eval: EvalConfig = field(default_factory=EvalConfig)
    phrases: PhrasesConfig = field(default_factory=PhrasesConfig)
    dist: DistConfig = field(default_factory=DistConfig)
    subwords: SubwordsConfig = field(default_factory=SubwordsConfig)
    # The model, in gensim's names (configs/model/: sg.yaml, cbow.yaml). sg: skip-gram (true) or
    # CBOW (false); cbow_mean: CBOW averages (true) or sums (false) the context vectors; hs:
    # hierarchical softmax over a Huffman tree. negatives=0 with hs=true is pure hierarchical
    # softmax; both on add their updates, as in gensim.
    sg: bool = True
    cbow_mean: bool = True
    hs: bool = False
    window: int = 5
    shrink_windows: bool = True  # effective window uniform in 1..window (word2vec.c, gensim)
    negatives: int = 5  # negative samples per example; 0 turns negative sampling off (needs hs=true)
    dim: int = 100
    epochs: int = 5
    min_count: int = 5
    max_vocab: Optional[int] = None  # keep only the most frequent N words (gensim's max_final_vocab)
    sample: float = 1e-3
    ns_exponent: float = 0.75
    # engine=hogwild: one draw of K negatives per skip-gram center, shared by its whole window (pWord2Vec,
    # Ji et al. 2016), or per `window` consecutive CBOW windows, so those output rows are read once;
    # false = word2vec.c's draw per pair; null = on where it was measured inside the quality targets (skip-gram
    # with negative sampling alone, no subwords: w2v.engines.levers).
    shared_negatives: Optional[bool] = None
    # engine=hogwild, skip-gram: a center's pairs share their output rows (its Huffman path with hs=true negatives=0;
    # its target and negatives with shared negatives), so they train as one batched step, each output row read
    # and written once per window; faster, but a pair no longer sees its window's earlier pairs' updates of those
    # rows (docs/benchmarks.md); false = word2vec.c's pair by pair; null = on with the shared negatives' auto above.
    batch_windows: Optional[bool] = None
    # engine=hogwild with hs=true and threads > 1: each thread trains the Huffman tree's top N rows (the nodes
    # every path starts with) in its own copy and adds its change to the shared rows after every 4N path walks,
    # so those rows stop moving between the cores' caches; 0 = every node shared (word2vec.c).
    hs_private_nodes: int = 255
    # engine=hogwild, 2+ threads, word models: each thread trains the N most frequent words' input rows (and output
    # rows with negative sampling) in a private copy merged into the shared rows every 16N examples; 0 = all shared.
    private_rows: int = 256
    # Negative sampling: no update from an output row whose score |u·h| reaches 6 (gensim's rule, which its
    # Word2Vec and FastText apply to negative sampling and hierarchical softmax alike); false updates every row with
    # the exact σ, as word2vec.c's clipped σ does. Hierarchical softmax skips saturated nodes either way (both do).
    ns_skip_saturated: bool = False
    # σ as word2vec.c and gensim look it up: a 1,000-entry table of σ(-6 + 0.012 i) read at the index
    # int((f + 6) * 83) (their 1000 / 6 / 2 in C integer arithmetic), which gives σ a little low, at about f - 0.03
    # near 0: each negative pushes a little less and each target pulls a little more. false: the exact σ.
    sigma_table: bool = False
    lr: float = 0.025
    min_lr: float = 1e-4
    optim: str = "sgd"  # sgd (word2vec's update, hand-written) | sparse_adam | adagrad
    # (center, context) pairs per update; null = per engine: 32768 for the per-pair CPU kernel
    # (fewer thread barriers; updates stay sequential), 4096 for the batched torch update, whose
    # summed updates diverge at lr 0.025 from about 16k pairs (bench/batch_quality.py).
    batch_size: Optional[int] = None
    # torch engine: cap on how many summed updates a row takes per batch (0 = no cap); for large
    # GPU batches, where a frequent word's thousands of summed updates would overshoot.
    max_row_updates: int = 0
    block_tokens: int = 65536  # tokens per stream block: the unit of sharding, shuffling, resume
    # Update engine (w2v/engines): numba = word2vec's per-example SGD compiled for CPU threads
    # (Hogwild); triton = the fused Hogwild GPU kernel (negative sampling, skip-gram or CBOW, CUDA);
    # torch = the batched tensor update (CPU or CUDA); auto = the first that can run the job: numba
    # on CPU with optim=sgd, triton on CUDA for negative sampling when triton is installed, else torch.
    engine: str = "auto"
    # triton engine: programs walking the corpus at once (the updates in flight, which bound the
    # staleness); null = 8 per SM. The corpus goes to the GPU in chunks of chunk_tokens words, one
    # kernel launch each.
    grid: Optional[int] = None
    chunk_tokens: int = 4_194_304
    # Shuffle pairs inside a block so a batch mixes many centers; null = only for the torch engine
    # (the per-pair kernel prefers word2vec's center-by-center order, which keeps rows in cache).
    shuffle_pairs: Optional[bool] = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch intra-op threads; 0 = all cores
    seed: int = 1
    workers: int = 0  # DataLoader worker processes making pairs
    export: str = "in"  # in | in+out (W+C, as GloVe) | in+out_norm (each row at unit length, then added)
    # What the run writes its vectors as (w2v/exports): word2vec (vectors.txt/.bin) | sentence_transformers |
    # model2vec | safetensors (the last three need the export extra: pip install -e ".[export]").
    export_formats: list[str] = field(default_factory=lambda: ["word2vec"])
    log_every: int = 50  # batches between progress/TensorBoard updates
    # Without a progress bar (stdout/stderr not a terminal: nohup, CI, `> log`), log a progress line
    # at the first log step after this many seconds; 0 = never.
    progress_every: float = 30.0
    # A seeded fraction of stream blocks kept out of training and scored without updates (val/loss);
    # 0 = off. The same blocks every epoch, whatever the number of workers.
    heldout: float = 0.005
    checkpoint_every_minutes: float = 10.0
    checkpoint_every_words: Optional[int] = None
    resume: Optional[str] = None
    # Continue training on new text from a finished run (w2v/train/warm_start.py): its model, vocabulary and
    # vectors; the LR schedule starts again at init_lr, or at lr when init_lr is null.
    init: Optional[str] = None
    init_lr: Optional[float] = None
    keep_ids_cache: bool = False  # keep the encoded corpus (corpus.ids) in the run dir


CORPUS_KINDS = ("lee", "text", "text8", "hf")  # built in; other kinds name a registered corpus.reader (w2v/plugins.py)
OPTIMIZERS = ("sgd", "sparse_adam", "adagrad")
EXPORTS = ("in", "in+out", "in+out_norm")
PHRASE_SCORINGS = ("default", "npmi")
LR_SCALES = ("auto", "linear", "sqrt", "none")  # dist.lr_scale (w2v/train/sync_schedule.py)
MERGES = ("auto", "average", "deltas")  # dist.merge (w2v/train/dist.py TableAverager)


def resume_run_dir(resume: Any, default: Any) -> Any:
    """``hydra.run.dir`` of a run: ``resume=``'s run directory (the folder of ``resume=DIR/checkpoint.pt``), else ``default``."""
    if not resume:
        return default
    path = Path(str(resume))  # as the trainer reads resume=: a checkpoint file's folder is the run
    return str(path.parent if path.is_file() or path.suffix == ".pt" else path)


def hydra_subdir(resume: Any) -> str | None:
    """``hydra.output_subdir``: ``.hydra`` for a new run; ``.hydra/resume-<n>`` for its n-th resume.

    A resume runs in the run's own directory, and Hydra would rewrite the run's ``.hydra/`` with the
    resume's command line, losing how the run was configured (recommend.py and sweep summaries read it).
    So each resume records its own beside it. Under torchrun only rank 0 records it: the ranks share the
    directory, and one resume is one record. Resolved with ``use_cache``, so Hydra's reads agree on ``n``.
    """
    if not resume:
        return ".hydra"
    if os.environ.get("RANK", "0") != "0":
        return None
    runs = Path(resume_run_dir(resume, "")) / ".hydra"
    taken = [int(p.name[len("resume-") :]) for p in runs.glob("resume-*") if p.name[len("resume-") :].isdigit()]
    return f".hydra/resume-{max(taken, default=0) + 1}"


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore so YAML files are checked against them, and the
    resolvers configs/train.yaml uses: ``w2v_or`` (first value unless empty), ``w2v_run_dir`` (a resumed
    run continues in its own directory) and ``w2v_hydra_subdir`` (where Hydra records a resume's command line).

    Each registered corpus kind's own schema (w2v/plugins.py) is stored as ``corpus/<name>_schema``, which
    that kind's YAML names in its defaults list (configs/corpus/playlists.yaml)."""
    if not OmegaConf.has_resolver("w2v_or"):
        OmegaConf.register_new_resolver("w2v_or", lambda first, second: first if first else second)
    if not OmegaConf.has_resolver("w2v_run_dir"):
        OmegaConf.register_new_resolver("w2v_run_dir", resume_run_dir)
    if not OmegaConf.has_resolver("w2v_hydra_subdir"):
        OmegaConf.register_new_resolver("w2v_hydra_subdir", hydra_subdir, use_cache=True)
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(group="corpus", name="corpus_schema", node=CorpusConfig)
    from w2v.plugins import schemas  # imported here to keep config import-light

    for name, node in schemas().items():
        cs.store(group="corpus", name=f"{name}_schema", node=node)


def train_schema(config: Any = None) -> DictConfig:
    """:class:`TrainConfig` as a structured config, its ``corpus`` typed by the schema of the plug-in kind
    that ``config``'s ``corpus.reader`` (else ``corpus.evaluator``) names, so a config saved by a run of
    that kind (a checkpoint's, on resume) merges into it with its own keys checked; the core schema otherwise."""
    from w2v.plugins import corpus_schema  # imported here to keep config import-light

    schema = OmegaConf.structured(TrainConfig)
    corpus = config.get("corpus") if isinstance(config, (dict, DictConfig)) else None
    kind = corpus_schema(corpus) if isinstance(corpus, (dict, DictConfig)) else None
    return schema if kind is None else OmegaConf.merge(schema, {"corpus": OmegaConf.structured(kind)})


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise W2VError(message)


def validate(cfg: Any, files: bool = True) -> None:
    """Reject values no run can use, with a one-line message naming the key and the fix.

    ``files=False`` skips what reads a file (a ``corpus.tokenizer`` path): a resumed run's config comes
    from its checkpoint, and the resume reads no corpus and no tokenizer.
    """
    _check(
        cfg.corpus.kind in CORPUS_KINDS or bool(cfg.corpus.reader),
        f"unknown corpus kind {cfg.corpus.kind!r}: use one of {', '.join(CORPUS_KINDS)}, or set corpus.reader",
    )
    from w2v.plugins import check_corpus  # imported here to keep config import-light

    check_corpus(cfg.corpus)  # reader / evaluator: registered names only
    _validate_kind_keys(cfg.corpus)
    for key in ("window", "dim", "epochs", "min_count", "block_tokens"):
        _check(cfg[key] >= 1, f"invalid value {key}={cfg[key]}: {key} must be >= 1")
    _check(cfg.negatives >= 0, f"invalid value negatives={cfg.negatives}: must be >= 0 (0 = no negative sampling, needs hs=true)")
    _check(
        cfg.hs or cfg.negatives > 0,
        "hs=false with negatives=0 leaves nothing to train: set negatives>=1 (negative sampling) or hs=true (hierarchical softmax)",
    )
    _check(
        not cfg.export.startswith("in+out") or cfg.negatives > 0,
        f"export={cfg.export} adds the negative-sampling output vectors, which negatives=0 does not train: use export=in",
    )
    _check(cfg.batch_size is None or cfg.batch_size >= 1, f"invalid value batch_size={cfg.batch_size}: must be >= 1 or null (auto)")
    _check(cfg.sample >= 0, f"invalid value sample={cfg.sample}: sample must be >= 0 (0 disables subsampling)")
    _check(cfg.lr > 0, f"invalid value lr={cfg.lr}: lr must be > 0")
    _check(0 <= cfg.min_lr <= cfg.lr, f"invalid value min_lr={cfg.min_lr}: need 0 <= min_lr <= lr")
    _check(cfg.max_vocab is None or cfg.max_vocab >= 1, f"invalid value max_vocab={cfg.max_vocab}: must be >= 1 or null")
    _check(cfg.max_row_updates >= 0, f"invalid value max_row_updates={cfg.max_row_updates}: must be >= 0 (0 = off)")
    _check(cfg.grid is None or cfg.grid >= 1, f"invalid value grid={cfg.grid}: must be >= 1 or null (8 programs per SM)")
    subwords = bool(cfg.get("subwords") and cfg.subwords.enabled)
    from w2v.engines.levers import window_levers  # imported here to keep config import-light

    shared, _ = window_levers(cfg)
    _check(
        not cfg.batch_windows or (cfg.sg and not subwords and ((cfg.hs and cfg.negatives == 0) or (not cfg.hs and shared))),
        "batch_windows=true needs a skip-gram window whose pairs share their output rows: "
        "use model=sg with hs=true negatives=0, or with shared negatives (no hs; shared_negatives=true, or null at "
        "window <= 10 and negatives <= 15), or drop it",
    )
    for lever in ("batch_windows", "shared_negatives"):  # the other engines draw and step per pair
        _check(
            not cfg[lever] or cfg.engine in ("auto", "hogwild"),
            f"{lever}=true is engine=hogwild's: use engine=hogwild (or auto on CPU), or drop it (engine={cfg.engine})",
        )
    _check(cfg.hs_private_nodes >= 0, f"invalid value hs_private_nodes={cfg.hs_private_nodes}: must be >= 0 (0 = off)")
    _check(cfg.private_rows >= 0, f"invalid value private_rows={cfg.private_rows}: must be >= 0 (0 = off)")
    _check(cfg.chunk_tokens >= 1, f"invalid value chunk_tokens={cfg.chunk_tokens}: must be >= 1")
    _check(cfg.eval.projector_words >= 0, f"invalid value eval.projector_words={cfg.eval.projector_words}: must be >= 0 (0 = off)")
    _check(0 <= cfg.heldout < 1, f"invalid value heldout={cfg.heldout}: need 0 <= heldout < 1 (a fraction of blocks; 0 = off)")
    _check(cfg.progress_every >= 0, f"invalid value progress_every={cfg.progress_every}: must be >= 0 seconds (0 = off)")
    _check(cfg.workers >= 0, f"invalid value workers={cfg.workers}: must be >= 0")
    _check(cfg.threads >= 0, f"invalid value threads={cfg.threads}: must be >= 0 (0 = all cores)")
    _check(cfg.optim in OPTIMIZERS, f"unknown optim {cfg.optim!r}: use one of {', '.join(OPTIMIZERS)}")
    _check(
        not cfg.ns_skip_saturated or cfg.optim == "sgd",
        f"ns_skip_saturated=true changes word2vec's SGD update, which optim={cfg.optim} does not use: use optim=sgd, or drop it",
    )
    _check(
        not cfg.sigma_table or cfg.optim == "sgd",
        f"sigma_table=true changes word2vec's SGD update, which optim={cfg.optim} does not use: use optim=sgd, or drop it",
    )
    from w2v.engines import ENGINES  # registered engines; imported here to keep config import-light

    # Whether the named engine can run this job (device, optimizer) is the engine's own rule, checked
    # by select_engine when the trainer starts, before any data is read.
    _check(cfg.engine == "auto" or cfg.engine in ENGINES, f"unknown engine {cfg.engine!r}: use auto or one of {', '.join(ENGINES)}")
    _check(cfg.export in EXPORTS, f"unknown export {cfg.export!r}: use one of {', '.join(EXPORTS)}")
    from w2v.exports import check_formats  # imported here to keep config import-light

    check_formats(cfg)
    _check(cfg.corpus.max_sentence_length >= 2, "invalid value corpus.max_sentence_length: must be >= 2")
    max_tokens = cfg.corpus.max_tokens
    _check(max_tokens is None or max_tokens >= 1, f"invalid value corpus.max_tokens={max_tokens}: must be >= 1 or null (all tokens)")
    if files:
        from w2v.data.tokenizers import check_config  # imported here to keep config import-light

        check_config(cfg.corpus)
    _validate_phrases(cfg.phrases)
    if "dist" in cfg:  # configs saved before the key lack it
        _validate_dist(cfg.dist)
    _validate_subwords(cfg)
    _check(not (cfg.init and cfg.resume), "init= and resume= are exclusive: resume continues an interrupted run, init starts a new one")
    init_lr = cfg.init_lr
    _check(init_lr is None or bool(cfg.init), "init_lr is set without init=RUN_DIR: set lr for a run from scratch")
    _check(init_lr is None or 0 <= cfg.min_lr <= init_lr, f"invalid value init_lr={init_lr}: need 0 <= min_lr <= init_lr")
    dev = str(cfg.device)
    ok_dev = dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())
    _check(ok_dev, f"unknown device {dev!r}: use auto, cpu, cuda or cuda:N")


def _validate_kind_keys(ccfg: Any) -> None:
    """A plug-in kind's reader and evaluator read its own keys: a corpus config must have them all, typed by
    the kind's schema (a config composed without the kind's YAML, ``corpus=text corpus.reader=playlists``, has none)."""
    from dataclasses import fields

    from omegaconf.errors import OmegaConfBaseException

    from w2v.plugins import corpus_schema  # imported here to keep config import-light

    schema = corpus_schema(ccfg)
    if schema is None:
        return
    missing = [f.name for f in fields(schema) if f.name not in ccfg]
    which = f"corpus.reader={ccfg.reader}" if ccfg.get("reader") else f"corpus.evaluator={ccfg.evaluator}"
    _check(
        not missing,
        f"{which} reads corpus.{', corpus.'.join(missing)}, which this config lacks: choose the corpus with its config group "
        f"(corpus=<kind>), whose YAML brings the {schema.__name__} schema",
    )
    try:
        OmegaConf.merge(OmegaConf.structured(schema), ccfg)
    except OmegaConfBaseException as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise W2VError(f"invalid value corpus.{getattr(exc, 'key', None) or '?'}: {first}") from None


def _validate_dist(d: Any) -> None:
    """The dist.* values torchrun training can use."""
    _check(d.timeout_s > 0, f"invalid value dist.timeout_s={d.timeout_s}: must be > 0 seconds")
    _check(d.get("join_timeout_s", 1.0) > 0, f"invalid value dist.join_timeout_s={d.get('join_timeout_s')}: must be > 0 seconds")
    _check(d.sync_blocks >= 1, f"invalid value dist.sync_blocks={d.sync_blocks}: must be >= 1")
    _check(d.hot_rows >= 0, f"invalid value dist.hot_rows={d.hot_rows}: must be >= 0 (0 = average all rows every round)")
    _check(d.full_every >= 0, f"invalid value dist.full_every={d.full_every}: must be >= 0 (0 = all rows only at epoch ends)")
    _check(d.merge in MERGES, f"unknown dist.merge {d.merge!r}: use one of {', '.join(MERGES)}")
    _check(d.lr_scale in LR_SCALES, f"unknown dist.lr_scale {d.lr_scale!r}: use one of {', '.join(LR_SCALES)}")


def _validate_phrases(p: Any) -> None:
    """The checks gensim's ``Phrases`` makes, as one-line errors naming the key."""
    _check(p.scoring in PHRASE_SCORINGS, f"unknown phrases.scoring {p.scoring!r}: use one of {', '.join(PHRASE_SCORINGS)}")
    _check(p.min_count >= 1, f"invalid value phrases.min_count={p.min_count}: must be >= 1")
    _check(p.passes >= 1, f"invalid value phrases.passes={p.passes}: must be >= 1")
    _check(bool(p.delimiter), "phrases.delimiter is empty: use a glue string such as _")
    if p.scoring == "default":
        _check(p.threshold > 0, f"invalid value phrases.threshold={p.threshold}: must be > 0 with phrases.scoring=default")
    else:
        _check(-1 <= p.threshold <= 1, f"invalid value phrases.threshold={p.threshold}: must be in [-1, 1] with phrases.scoring=npmi")


def _validate_subwords(cfg: Any) -> None:
    """n-gram settings a fastText model can use; gensim's FastText rejects the same."""
    sub = cfg.get("subwords")
    if sub is None or not sub.enabled:
        return
    _check(sub.min_n >= 1, f"invalid value subwords.min_n={sub.min_n}: must be >= 1")
    _check(sub.max_n >= sub.min_n, f"invalid value subwords.max_n={sub.max_n}: must be >= subwords.min_n={sub.min_n}")
    _check(sub.bucket >= 1, f"invalid value subwords.bucket={sub.bucket}: must be >= 1 (rows the n-grams are hashed into)")
    _check(not cfg.init, "init= does not continue a subwords run yet: train it from scratch (subwords.enabled=true) or drop subwords")


class StartupCheck(Callback):
    """Hydra callback (``hydra.callbacks`` in configs/train.yaml): :func:`validate` before the run starts.

    ``on_run_start`` runs before Hydra creates the run directory, so a config no run can use (a bad
    value, a tokenizer.json the library would abort on) exits 2 with one line and leaves no empty run
    directory behind. The trainer validates again, for callers that skip Hydra. Multiruns are checked
    per job, by the trainer, since each job has its own values.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            validate(config)
        except W2VError as exc:
            configure_log(config.hydra.job_logging, config.hydra.verbose)  # the format train.py's errors have
            logging.getLogger("w2v").error("%s", exc)
            sys.exit(2)
