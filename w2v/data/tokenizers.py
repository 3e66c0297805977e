"""Which tokenizer turns corpus text into word2vec's words: ``corpus.tokenizer``.

- ``regex`` (the default): :class:`RegexTokenizer`, ``corpus.token_pattern`` matches after
  ``corpus.lowercase`` (a null pattern splits on whitespace);
- ``whitespace``: whitespace split after ``corpus.lowercase``;
- the path of a Hugging Face ``tokenizer.json`` (or a directory holding one): its tokens, by the
  ``tokenizers`` library, with the file's own normalizer (``corpus.lowercase`` does not apply);
- ``bpe`` / ``wordpiece`` / ``unigram``: such a tokenizer of ``corpus.tokenizer_vocab`` tokens, trained
  on the corpus first and saved as ``tokenizer.json`` in the run directory.

Every tokenizer has ``batch(texts) -> token lists``: the readers hand it text in batches, so the Hugging
Face path sends the library each distinct word once, many at a time (:class:`HFTokenizer`). Tokens are
then word2vec's words.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from w2v.atomic import atomic_open, atomic_write_text
from w2v.data.sources import iter_pieces
from w2v.errors import W2VError
from w2v.paths import stays_inside

log = logging.getLogger(__name__)

BUILTIN = ("regex", "whitespace")
TRAINED = ("bpe", "wordpiece", "unigram")
TOKENIZER_FILE = "tokenizer.json"  # the trained tokenizer, in the run directory
UNK = {"bpe": "[UNK]", "wordpiece": "[UNK]", "unigram": "<unk>"}
_WIKITEXT_JOINERS = re.compile(r" @([-.,])@ ")
_REWRITE = "write one with tokenizers' Tokenizer.save(path), or use corpus.tokenizer=bpe to train one"
_FEWER = "use a tokenizer of fewer tokens"
_CACHE_WORDS = 1 << 21  # the word -> tokens cache is cleared beyond this many words (bounds memory)
_WORDS_PER_INPUT = 8192  # new words per pre-tokenized input to the library
# What a tokenizer.json may hold before the Rust library reads it (it allocates by the largest token id,
# and aborts the process, not raises, when that fails). The largest public vocabularies have ~256k
# tokens in files of ~35 MB: both bounds leave room for 40x that, and json.load of a file at the cap
# stays within a few GB.
MAX_TOKENIZER_BYTES = 256 << 20
MAX_TOKENIZER_VOCAB = 10_000_000
_checked: set[tuple[str, int, int, int]] = set()  # (path, size, mtime_ns, inode) of files that passed the check


class TextTokenizer(Protocol):
    """What the corpus readers call: one token list per text."""

    def batch(self, texts: list[str]) -> list[list[str]]: ...


class RegexTokenizer:
    """Text -> tokens: optional lowercasing, then regex matches (or whitespace split if no pattern)."""

    def __init__(self, lowercase: bool = True, token_pattern: str | None = r"\w+", wikitext_markup: bool = False):
        self.lowercase = lowercase
        self.regex = re.compile(token_pattern) if token_pattern else None
        self.wikitext_markup = wikitext_markup

    def __call__(self, text: str) -> list[str]:
        if self.wikitext_markup:
            # WikiText spaces out joiners ("well @-@ known", "1 @,@ 000"); glue them back.
            text = _WIKITEXT_JOINERS.sub(r"\1", text)
        if self.lowercase:
            text = text.lower()
        return self.regex.findall(text) if self.regex else text.split()

    def batch(self, texts: list[str]) -> list[list[str]]:
        """One token list per text (the interface every tokenizer here shares)."""
        return [self(text) for text in texts]


def kind_of(spec: str) -> str:
    """``regex``, ``whitespace``, ``bpe``, ``wordpiece``, ``unigram``, or ``file`` for a tokenizer.json path."""
    return spec if spec in BUILTIN or spec in TRAINED else "file"


def check_config(ccfg: Any) -> None:
    """Reject a ``corpus.tokenizer`` / ``corpus.tokenizer_vocab`` no run can use, in one line."""
    spec = ccfg.get("tokenizer", "regex")
    vocab = ccfg.get("tokenizer_vocab", 30000)
    if vocab is None or vocab < 1:
        raise W2VError(f"invalid value corpus.tokenizer_vocab={vocab}: must be >= 1 (the trained tokenizer's vocabulary size, e.g. 30000)")
    if spec != "regex" and ccfg.get("reader"):
        raise W2VError(
            f"corpus.tokenizer={spec} applies to text corpora, but corpus.kind={ccfg.kind} reads its own tokens: drop corpus.tokenizer"
        )
    if kind_of(spec) == "file":
        load_tokenizer_file(spec)


def tokenizer_file(spec: str) -> Path:
    """The tokenizer.json a ``corpus.tokenizer`` path names (a directory holding one counts), or a one-line error."""
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise W2VError(
            f"corpus.tokenizer={spec!r}: no such file, and not one of {', '.join(BUILTIN + TRAINED)}; "
            "pass the path of a Hugging Face tokenizer.json or one of those names"
        )
    return path


class _BadTokenizerJson(ValueError):
    """What is wrong with a tokenizer.json (``reason``) and how to fix it (``fix``)."""

    def __init__(self, reason: str, fix: str = _REWRITE):
        super().__init__(reason)
        self.reason, self.fix = reason, fix


def _read_json(path: Path) -> dict:
    """The top-level object of ``path``, read within :data:`MAX_TOKENIZER_BYTES`, strictly UTF-8."""
    with open(path, "rb") as f:
        raw = f.read(MAX_TOKENIZER_BYTES + 1)  # never more than the cap, even if the file grows meanwhile
    if len(raw) > MAX_TOKENIZER_BYTES:
        raise _BadTokenizerJson(f"larger than {MAX_TOKENIZER_BYTES >> 20} MB", "check the path; real ones are a few MB")
    try:
        spec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _BadTokenizerJson(f"not UTF-8: byte {raw[exc.start]:#04x} at offset {exc.start}") from None
    except RecursionError:
        raise _BadTokenizerJson("JSON nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError: says where (a truncated file: at its end)
        raise _BadTokenizerJson(f"invalid JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise _BadTokenizerJson("no model object at the top level")
    return spec


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _model_ids(model: dict) -> dict[str, int]:
    """token -> id of ``model.vocab``: an object for WordLevel/BPE/WordPiece, a [piece, score] list for Unigram."""
    vocab = model.get("vocab", {})
    if isinstance(vocab, (dict, list)) and len(vocab) > MAX_TOKENIZER_VOCAB:
        raise _BadTokenizerJson(f"model.vocab holds {len(vocab)} tokens, more than {MAX_TOKENIZER_VOCAB}", _FEWER)
    if isinstance(vocab, dict):
        bad = next(((t, i) for t, i in vocab.items() if not _is_id(i)), None)
        if bad is not None:
            raise _BadTokenizerJson(f"model.vocab maps {bad[0][:40]!r} to {str(bad[1])[:40]!r}, not an integer id")
        return vocab
    if isinstance(vocab, list):
        for i, entry in enumerate(vocab):
            ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], (int, float))
            if not ok or isinstance(entry[1], bool):
                raise _BadTokenizerJson(f"model.vocab entry {i} is {str(entry)[:60]}, not a [piece, score] pair")
        unk = model.get("unk_id")
        if unk is not None and not (_is_id(unk) and 0 <= unk < len(vocab)):
            raise _BadTokenizerJson(f"model.unk_id={str(unk)[:40]} is not one of the {len(vocab)} pieces' ids")
        return {entry[0]: i for i, entry in enumerate(vocab)}
    raise _BadTokenizerJson("model.vocab is neither an object (token: id) nor a list of [piece, score]")


def _added_ids(spec: dict) -> dict[str, int]:
    """content -> id of ``added_tokens``."""
    added = spec.get("added_tokens") or []
    if not isinstance(added, list) or len(added) > MAX_TOKENIZER_VOCAB:
        raise _BadTokenizerJson(f"added_tokens is not a list of at most {MAX_TOKENIZER_VOCAB} tokens")
    out = {}
    for i, token in enumerate(added):
        if not (isinstance(token, dict) and _is_id(token.get("id")) and isinstance(token.get("content"), str)):
            raise _BadTokenizerJson(f"added_tokens entry {i} is not an object with an integer id and a string content")
        out[token["content"]] = token["id"]
    return out


def _check_merges(model: dict, vocab: dict[str, int]) -> None:
    """Each BPE merge is two tokens of ``vocab`` ("a b" or ["a", "b"])."""
    merges = model.get("merges") or []
    if not isinstance(merges, list):
        raise _BadTokenizerJson("model.merges is not a list")
    for i, merge in enumerate(merges):
        pair = merge.split(" ") if isinstance(merge, str) else merge
        ok = isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        if not ok or pair[0] not in vocab or pair[1] not in vocab:
            raise _BadTokenizerJson(f"model.merges entry {i} ({str(merge)[:60]}) is not a pair of model.vocab tokens")


def check_tokenizer_json(path: Path) -> None:
    """Raise :class:`_BadTokenizerJson` unless ``path`` is JSON the ``tokenizers`` library can load safely.

    The token ids (the model's and the added tokens') must number the distinct ids densely, 0..N-1,
    with N at most :data:`MAX_TOKENIZER_VOCAB`: the library (and :class:`HFTokenizer`'s id table)
    allocate by the largest id, so one id near 4e9 would take gigabytes and abort the process.
    """
    spec = _read_json(path)
    model = spec["model"]
    vocab, added = _model_ids(model), _added_ids(spec)
    ids = set(vocab.values()) | set(added.values())
    if len(ids) > MAX_TOKENIZER_VOCAB:
        raise _BadTokenizerJson(f"{len(ids)} token ids, more than {MAX_TOKENIZER_VOCAB}", _FEWER)
    if ids and (max(ids) >= len(ids) or min(ids) < 0):
        token, i = next((t, i) for t, i in chain(vocab.items(), added.items()) if not 0 <= i < len(ids))
        raise _BadTokenizerJson(
            f"token {token[:40]!r} has id {i}, outside 0..{len(ids) - 1}, the range its {len(ids)} distinct ids must fill",
            "renumber the tokens 0..N-1",
        )
    if model.get("type", "BPE" if "merges" in model else None) == "BPE":
        _check_merges(model, vocab)


def load_tokenizer_file(spec: str) -> Any:
    """A ``tokenizers.Tokenizer`` read from ``spec``, or a one-line error naming the file and the fix.

    :func:`check_tokenizer_json` reads the file first, so what the library would abort on (not raise)
    is a one-line error too.
    """
    from tokenizers import Tokenizer

    path = tokenizer_file(spec)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _checked:  # start-up, the trainer and prepare_tokenizer each load the file: parse it once
            check_tokenizer_json(path)
            _checked.add(key)
    except _BadTokenizerJson as exc:
        raise W2VError(f"corpus.tokenizer={spec!r}: {path} is not a Hugging Face tokenizer.json ({exc.reason}); {exc.fix}") from None
    except OSError as exc:
        raise W2VError(f"corpus.tokenizer={spec!r}: cannot read {path} ({exc.strerror or exc}); check its permissions") from None
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception for every parse error
        first = (str(exc).splitlines() or ["unreadable"])[0]
        raise W2VError(
            f"corpus.tokenizer={spec!r}: {path} is not a Hugging Face tokenizer.json ({first}); "
            "write one with tokenizers' Tokenizer.save(path), or use corpus.tokenizer=bpe to train one"
        ) from None
    # Files shipped with models may pad or truncate (BERT's cut at 512 tokens): word2vec wants every token.
    tok.no_truncation()
    tok.no_padding()
    return tok


def prepare_tokenizer(ccfg: Any, run_dir: Path | None = None, init_dir: str | None = None, train: bool = True) -> TextTokenizer:
    """The configured tokenizer, ready for :func:`w2v.data.corpus.iter_sentences`; logs which one runs.

    ``bpe``/``wordpiece``/``unigram`` train on the corpus and save ``run_dir/tokenizer.json``. With
    ``init_dir`` (``init=RUN_DIR``) the earlier run's trained tokenizer is reused (copied into
    ``run_dir``), so the new text is split into the same tokens as the vocabulary it extends.
    ``train=False`` loads ``run_dir/tokenizer.json`` instead of training (torchrun ranks other than 0).
    """
    spec = ccfg.get("tokenizer", "regex")
    kind = kind_of(spec)
    markup = bool(ccfg.get("wikitext_markup", False))
    if kind in BUILTIN:
        pattern = ccfg.token_pattern if kind == "regex" else None
        log.info("tokenizer: %s%s, lowercase=%s", kind, f" {pattern!r}" if pattern else " (whitespace split)", ccfg.lowercase)
        return RegexTokenizer(ccfg.lowercase, pattern, markup)
    if kind == "file":
        path = tokenizer_file(spec)
        hf = HFTokenizer(load_tokenizer_file(spec), markup)
        log.info("tokenizer: %s (%d tokens, %s mode), its own normalizer", path, hf.vocab_size, hf.mode)
        return hf
    if run_dir is None:
        raise W2VError(f"corpus.tokenizer={spec} trains a tokenizer into the run directory, which this call has none of: pass run_dir")
    target = Path(run_dir) / TOKENIZER_FILE
    init_path = Path(init_dir).expanduser() if init_dir else None
    earlier = (init_path if init_path.is_dir() else init_path.parent) / TOKENIZER_FILE if init_path else None
    if not train:
        if not target.is_file():
            raise W2VError(f"{target} is missing: rank 0 should have trained it; start the run again")
    elif earlier is not None and earlier.is_file():
        if not stays_inside(earlier, earlier.parent):  # a file of another run directory is data: its links lead nowhere else
            raise W2VError(
                f"init={init_dir}: {earlier} is a link that leads out of the init run directory (to {earlier.resolve()}); "
                "put the tokenizer.json itself there, or start without init="
            )
        if earlier.resolve() != target.resolve():
            with open(earlier, "rb") as src, atomic_open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        log.info("tokenizer: reusing %s of the init run (not retrained)", earlier)
    else:
        tok, seconds = train_tokenizer(ccfg, iter_training_texts(ccfg))
        atomic_write_text(target, tok.to_str(pretty=True))
        log.info("tokenizer: trained %s with %d tokens in %.1fs; saved %s", kind, tok.get_vocab_size(), seconds, target)
    hf = HFTokenizer(load_tokenizer_file(str(target)), markup)
    log.info("tokenizer: %s from %s (%d tokens, %s mode)", kind, target, hf.vocab_size, hf.mode)
    return hf


def describe(ccfg: Any, run_dir: Path | None = None) -> dict[str, Any]:
    """What metrics.json records about the tokenizer that made the run's words."""
    spec = ccfg.get("tokenizer", "regex")
    kind = kind_of(spec)
    if kind == "regex":
        return {"tokenizer": "regex", "token_pattern": ccfg.token_pattern, "lowercase": ccfg.lowercase}
    if kind == "whitespace":
        return {"tokenizer": "whitespace", "lowercase": ccfg.lowercase}
    if kind == "file":  # resolved, but never an error at the end of a run
        path = Path(os.path.expanduser(spec))
        return {"tokenizer": str((path / TOKENIZER_FILE if path.is_dir() else path).resolve())}
    out: dict[str, Any] = {"tokenizer": kind, "tokenizer_vocab": ccfg.tokenizer_vocab}
    if run_dir is not None and (Path(run_dir) / TOKENIZER_FILE).is_file():
        out["tokenizer_file"] = TOKENIZER_FILE
    return out


# ------------------------------------------------------------------ Hugging Face tokenizers


def _byte_level_chars() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte (``Ġ`` for a space, ``Ċ`` for a newline)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def visible(token: str) -> str:
    """``token`` with each whitespace character spelled as GPT-2's byte-level characters, so the word2vec
    formats (one space-separated word per line) can hold it; other tokens are returned unchanged."""
    if token and not any(ch.isspace() for ch in token):
        return token
    table = _byte_level_chars()
    return "".join("".join(table[b] for b in ch.encode("utf-8")) if ch.isspace() else ch for ch in token) or "<empty>"


# Normalizers that map characters one by one (or only add split points); pre-tokenizers that cut at
# every whitespace and drop it, and those that only cut further.
_LOCAL_NORMALIZERS = {"Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents", "BertNormalizer", "Nmt"}
_SPLITTERS = {"Whitespace", "WhitespaceSplit", "BertPreTokenizer"}
_SUBSPLITTERS = {"Punctuation", "Digits", "UnicodeScripts"}
# Where a text may be cut, by pre-tokenizer: before each whitespace run, which stays with the word after
# it. GPT-2's byte-level regex never joins a non-space to the whitespace after it; Metaspace turns
# only spaces into its ``▁`` and cuts before each.
_SEGMENTS = {"ByteLevel": r"\s*\S+|\s+$", "Metaspace": r" *[^ ]+| +$"}


def _parts(node: dict | None) -> list[dict]:
    if node is None:
        return []
    if node.get("type") == "Sequence":
        return [p for sub in node.get("normalizers", node.get("pretokenizers", [])) for p in _parts(sub)]
    return [node]


def _prepend_scheme(metaspace: dict) -> str:
    """Metaspace's ``prepend_scheme`` (files from tokenizers < 0.19 say ``add_prefix_space``)."""
    return metaspace.get("prepend_scheme") or ("always" if metaspace.get("add_prefix_space", True) else "never")


def word_mode(tok: Any) -> str:
    """How :class:`HFTokenizer` may cut text before the library sees it without changing its tokens.

    ``words``: at whitespace (the pre-tokenizer first cuts at whitespace and drops it; Python's
    whitespace is Rust's, but for the control characters 0x1c-0x1f); ``segments``: before each
    whitespace run (:data:`_SEGMENTS`); ``exact``: not at all (any other pipeline, such as a
    normalizer that rewrites or prepends text, or an added token holding a space).
    """
    spec = json.loads(tok.to_str())
    if any(any(ch.isspace() for ch in t.get("content", "")) for t in spec.get("added_tokens") or []):
        return "exact"
    if not all(n.get("type") in _LOCAL_NORMALIZERS for n in _parts(spec.get("normalizer"))):
        return "exact"
    pre = _parts(spec.get("pre_tokenizer"))
    types = [p.get("type") for p in pre]
    first_split = next((i for i, t in enumerate(types) if t in _SPLITTERS), None)
    # After a whitespace split a Metaspace sees each word alone; "first" would mark only the text's first word.
    metaspaces_per_word = all(_prepend_scheme(p) in ("always", "never") for p in pre if p.get("type") == "Metaspace")
    only_splits = set(types) <= _SPLITTERS | _SUBSPLITTERS | {"Metaspace"} and "Metaspace" not in types[:first_split]
    if first_split is not None and only_splits and metaspaces_per_word:
        return "words"
    # add_prefix_space would give every segment not starting with a space one (the text's start only, in context).
    if types == ["ByteLevel"] and pre[0].get("use_regex", True) and not pre[0].get("add_prefix_space", False):
        return "segments"
    if types == ["Metaspace"] and pre[0].get("split", True) and _prepend_scheme(pre[0]) in ("always", "first"):
        return "segments"
    return "exact"


_OTHER_SPACE = re.compile(r"[^\S ]")  # whitespace other than a space
_ASCII_OTHER_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f"  # the same, in ASCII


def _other_space(text: str) -> bool:
    """Whether ``text`` holds whitespace other than a space. ASCII text (O(1) to tell) takes nine memchr
    scans instead of the regex, which costs about 20 ns a character (a third of the byte-level path's time)."""
    if text.isascii():
        return any(ch in text for ch in _ASCII_OTHER_SPACE)
    return _OTHER_SPACE.search(text) is not None


class _WordIds(dict):
    """word -> id in ``owner``'s table; an unseen word takes the next id and is queued, with ``prefix``,
    for the library (``__missing__`` runs once per new word; known words are plain dict lookups in C)."""

    def __init__(self, owner: HFTokenizer, prefix: str):
        super().__init__()
        self.owner, self.prefix = owner, prefix

    def __missing__(self, key: str) -> int:
        i = self[key] = self.owner.n_words
        self.owner.n_words += 1
        self.owner.pending.append(self.prefix + key)
        return i


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` as word2vec's tokenizer: texts in, token strings out.

    Corpora repeat their words, so in ``words``/``segments`` mode (:func:`word_mode`) each distinct
    word goes through the library once, in batches, and its token ids are kept in a CSR table by
    word id; a text is then one dict lookup per word and numpy gathers per token. Otherwise whole
    texts go through ``encode_batch_fast`` (Rust, parallel). Token strings come from the ids through
    one table, where tokens holding whitespace are made :func:`visible`.
    """

    def __init__(self, tok: Any, wikitext_markup: bool = False):
        self.tok = tok
        self.wikitext_markup = wikitext_markup
        self.mode = word_mode(tok)
        vocab = tok.get_vocab(with_added_tokens=True)
        self.vocab_size = len(vocab)
        table = [""] * (max(vocab.values(), default=-1) + 1)
        for token, i in vocab.items():
            table[i] = visible(token)
        self.id_to_token = np.array(table, dtype=object)  # token id -> str (shared objects: no per-token allocation)
        if self.mode == "segments":
            self._split = re.compile(_SEGMENTS[_parts(json.loads(tok.to_str())["pre_tokenizer"])[0]["type"]]).findall
        else:
            self._split = str.split
        # encode_batch_fast (tokenizers >= 0.20) skips the character offsets, which word2vec never reads.
        self._encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
        # A pre-tokenized input runs each word through the pipeline on its own, as the word alone would,
        # except for Metaspace's "first" (the input's first word only), which only segments mode allows.
        self._pretokenized_ok = self.mode == "words" or "Metaspace" not in tok.to_str()
        self._reset_words()
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # the library's threads; also silences its fork warning

    def _reset_words(self) -> None:
        self.n_words = 0
        self.pending: list[str] = []  # new words (segments) since the last batch, in id order
        self._plain = _WordIds(self, "")  # word (segment) -> id
        self._spaced = _WordIds(self, " ")  # word -> id of the segment " " + word (segments mode)
        self._starts = np.zeros(0, dtype=np.int64)  # word id -> first of its tokens in _flat
        self._lengths = np.zeros(0, dtype=np.int64)  # word id -> its number of tokens
        self._flat = np.zeros(0, dtype=np.int64)  # token ids of every known word, one after another

    def _prepare(self, text: str) -> str:
        if self.wikitext_markup:
            text = _WIKITEXT_JOINERS.sub(r"\1", text)
        return text.rstrip("\r\n")  # a line's own end is not a token

    def _keys(self, text: str) -> list[tuple[dict, list[str]]]:
        """``text``'s words (segments) as (id table, keys) runs."""
        if self.mode == "words":
            return [(self._plain, text.split())]
        parts = text.split(" ")
        if all(parts) and not _other_space(text):  # single spaces only (most prose): no regex needed
            return [(self._plain, parts[:1]), (self._spaced, parts[1:])]
        return [(self._plain, self._split(text))]

    def batch(self, texts: list[str]) -> list[list[str]]:
        """Token lists of ``texts``, as the tokenizer would split each text on its own."""
        tokens, ends = self.batch_ids(texts)
        return [self.id_to_token[tokens[a:b]].tolist() for a, b in zip([0, *ends[:-1]], ends)]

    def batch_ids(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """The library's token ids of ``texts``, one text after another (int64), and where each text's
        tokens end: what :meth:`batch` gives, before the ids become strings (the counting pass of
        :mod:`w2v.data.encode_ids` works on the ids)."""
        texts = [self._prepare(t) for t in texts]
        if self.mode == "exact":
            encodings = self._encode(texts, add_special_tokens=False)
            ends = np.cumsum([len(e.ids) for e in encodings], dtype=np.int64).tolist()
            return np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=ends[-1] if ends else 0), ends
        if self.n_words > _CACHE_WORDS:  # bound memory on corpora of endless distinct words
            self._reset_words()
        runs = [self._keys(t) for t in texts]
        counts = [sum(len(keys) for _, keys in r) for r in runs]
        lookups = (map(table.__getitem__, keys) for r in runs for table, keys in r)
        wid = np.fromiter(chain.from_iterable(lookups), dtype=np.int64, count=sum(counts))  # (W,) one dict lookup per word
        if self.pending:
            self._add_words(self.pending)
            self.pending = []
        lengths = self._lengths[wid]  # (W,) tokens per word
        before = np.concatenate([[0], np.cumsum(lengths)])  # (W+1,) tokens before each word
        # Token k of the batch is token k - before[w] of its word w: one gather for the whole batch.
        tokens = self._flat[np.repeat(self._starts[wid] - before[:-1], lengths) + np.arange(before[-1])]
        return tokens, before[np.cumsum(counts, dtype=np.int64)].tolist()  # each text's last token

    @property
    def distinct_strings(self) -> bool:
        """Whether every token id has its own string (ids then stand for the strings when counting)."""
        used = self.id_to_token[sorted(self.tok.get_vocab(with_added_tokens=True).values())]
        return len(set(used.tolist())) == len(used)

    def _add_words(self, new: list[str]) -> None:
        """Append the token ids of ``new`` (the next word ids, in order) to the CSR table."""
        flat, lengths = self._encode_words(new)
        self._starts = np.concatenate([self._starts, len(self._flat) + np.cumsum(lengths) - lengths])
        self._lengths = np.concatenate([self._lengths, lengths])
        self._flat = np.concatenate([self._flat, flat])

    def _encode_words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of ``words``, one word after another, and each word's number of them, as the
        library gives for each word alone.

        Thousands of words go as one pre-tokenized input (one Encoding instead of one per word: a third
        less time, half for byte-level BPE), which the library splits exactly as it would each word
        alone; each token's word index then counts the tokens per word. With a Metaspace pre-tokenizer
        in segments mode each segment goes on its own.
        """
        if not self._pretokenized_ok:
            encodings = self._encode(words, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(words))
            return np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=int(lengths.sum())), lengths
        chunks = [words[i : i + _WORDS_PER_INPUT] for i in range(0, len(words), _WORDS_PER_INPUT)]
        encodings = self.tok.encode_batch(chunks, is_pretokenized=True, add_special_tokens=False)
        flat = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        lengths = [np.bincount(np.asarray(e.word_ids, dtype=np.int64), minlength=len(c)) for c, e in zip(chunks, encodings)]
        return np.concatenate([np.zeros(0, dtype=np.int64), *flat]), np.concatenate([np.zeros(0, dtype=np.int64), *lengths])

    def __call__(self, text: str) -> list[str]:
        return self.batch([text])[0]


# ------------------------------------------------------------------ training on the corpus


def iter_training_texts(ccfg: Any) -> Iterator[str]:
    """The corpus text a tokenizer trains on: the reader's pieces, up to ``corpus.max_tokens``
    whitespace-separated words when set (a tokenizer's tokens are at least as many as the words, so
    the run's token prefix lies inside this text)."""
    budget = ccfg.max_tokens
    for text, _ in iter_pieces(ccfg):
        if ccfg.wikitext_markup:
            text = _WIKITEXT_JOINERS.sub(r"\1", text)
        if budget is not None:
            words = text.split()
            if len(words) >= budget:
                yield " ".join(words[:budget])
                return
            budget -= len(words)
        yield text


def build_untrained(kind: str, lowercase: bool) -> tuple[Any, Any]:
    """An empty ``tokenizers`` pipeline of ``kind`` and its trainer's class and options.

    - ``wordpiece``: BERT's: BertNormalizer, BertPreTokenizer (whitespace and punctuation), ``##`` marks a
      piece that continues a word (``walking`` -> ``walk ##ing``);
    - ``bpe``: the same words (Whitespace pre-tokenizer: ``\\w+|[^\\w\\s]+``) and the same ``##`` marks,
      merges by pair frequency; whole words stay bare, so word benchmarks still find them;
    - ``unigram``: SentencePiece's: NFKC, Metaspace (``▁`` starts each word: ``▁walk ing``), after a
      whitespace split (so runs of spaces make no ``▁`` tokens of their own).
    ``lowercase`` adds lowercasing to the normalizer.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=UNK[kind], continuing_subword_prefix="##"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        return tok, (trainers.WordPieceTrainer, {"continuing_subword_prefix": "##", "limit_alphabet": 1000})
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK[kind], continuing_subword_prefix="##"))
        tok.normalizer = normalizers.Lowercase() if lowercase else None
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.decoder = decoders.WordPiece(prefix="##")
        return tok, (trainers.BpeTrainer, {"continuing_subword_prefix": "##", "limit_alphabet": 1000})
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]) if lowercase else normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    tok.decoder = decoders.Metaspace()
    return tok, (trainers.UnigramTrainer, {"unk_token": UNK[kind]})


def train_tokenizer(ccfg: Any, texts: Iterable[str]) -> tuple[Any, float]:
    """Train a ``corpus.tokenizer`` kind of ``corpus.tokenizer_vocab`` tokens on ``texts``: (tokenizer, seconds)."""
    kind = ccfg.tokenizer
    tok, (trainer_cls, options) = build_untrained(kind, ccfg.lowercase)
    trainer = trainer_cls(vocab_size=int(ccfg.tokenizer_vocab), special_tokens=[UNK[kind]], show_progress=False, **options)
    start = time.perf_counter()
    try:
        tok.train_from_iterator(texts, trainer)
    except W2VError:
        raise
    except Exception as exc:  # the Rust trainers raise plain Exception (e.g. a vocabulary too small for unigram)
        first = (str(exc).splitlines() or ["failed"])[0]
        raise W2VError(f"training the {kind} tokenizer failed ({first}): raise corpus.tokenizer_vocab or check the corpus") from None
    if tok.get_vocab_size() <= 1:
        raise W2VError(f"the {kind} tokenizer learned no tokens: the corpus has no text; check corpus.path")
    return tok, time.perf_counter() - start
