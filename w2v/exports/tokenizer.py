"""The run's tokenizer as a Hugging Face ``tokenizers.Tokenizer``, for the static-embedding exports.

sentence-transformers' ``StaticEmbedding`` and model2vec's ``StaticModel`` both turn a sentence into
token ids with a ``tokenizer.json`` and average those ids' rows. For the mean to be word2vec's mean
(of the sentence's in-vocabulary words), the tokenizer must split text as training did and emit
nothing for a word outside the vocabulary: an UNK id would count in sentence-transformers' mean
(``nn.EmbeddingBag(mode="mean")`` divides by every id in the bag).

A word run (``corpus.tokenizer=regex|whitespace``) therefore gets, from :func:`word_tokenizer`:

- a normalizer doing what :class:`w2v.data.tokenizers.RegexTokenizer` does before matching: WikiText's joiners,
  then ``Lowercase`` (with Python's final-sigma rule, which the library's per-character lowercase lacks);
- a ``Split`` pre-tokenizer keeping the matches of ``corpus.token_pattern``, rewritten from Python's
  ``re`` into the library's Oniguruma (:func:`onig_pattern`: ``\\w`` is Python's letters, numbers and
  ``_``; Oniguruma's also takes combining marks), then ``Metaspace`` marking each word ``▁word``;
- a BPE model with no merges, ``ignore_merges`` and no UNK, over ``▁word`` for each vocabulary word:
  a known word is looked up whole; an unknown one falls back to its characters, none of which is a
  vocabulary entry (every entry is ``▁`` plus at least one character), and BPE drops characters it
  has no id for when there is no UNK token. So out-of-vocabulary words vanish, as in training.

A ``corpus.tokenizer`` run (a Hugging Face tokenizer) exports the tokenizer it trained on
(:func:`hf_tokenizer`); its tokens that the vocabulary dropped (under ``min_count``) keep zero rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from w2v.errors import W2VError

log = logging.getLogger(__name__)

MARK = "\u2581"  # SentencePiece's word-start mark: "▁word" is a vocabulary entry
# Python's \w is exactly [\p{L}\p{N}_] (str.isalnum() or "_"); Oniguruma's is [\p{L}\p{M}\p{Nd}\p{Pc}].
_WORD = r"\p{L}\p{N}_"
# Python's \s: the characters for which str.isspace() is true (tests/test_exports.py checks the list).
_SPACE = r"\t\n\x{0b}\x{0c}\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_WIKITEXT_JOINERS = (" @-@ ", " @.@ ", " @,@ ")  # w2v.data.tokenizers.RegexTokenizer glues them: " @-@ " -> "-"
_WORD_BOUNDARY = rf"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
# Escapes whose meaning differs between Python's re and Oniguruma, outside and inside a [...] class.
_OUTSIDE = {
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "b": _WORD_BOUNDARY,
    "B": f"(?!{_WORD_BOUNDARY})",
    "Z": r"\z",  # Python's \Z is the very end; Oniguruma's also matches before a final newline
}
_INSIDE = {"w": _WORD, "W": f"[^{_WORD}]", "s": _SPACE, "S": f"[^{_SPACE}]", "d": r"\p{Nd}", "D": r"\P{Nd}", "b": r"\x{08}"}
# Unescaped characters whose meaning differs: Oniguruma's ^ and $ are line anchors (Python's, without
# re.M, the string's); inside a class Oniguruma nests [ and intersects with &&, where Python takes them literally.
_ANCHORS = {"^": r"\A", "$": r"(?=\n?\z)"}
_LITERAL_IN_CLASS = {"[": r"\[", "&": r"\&"}


def onig_pattern(pattern: str) -> str:
    """``pattern`` (Python ``re`` syntax) rewritten so the ``tokenizers`` library (Oniguruma) finds the same matches.

    Covers what token patterns use: the ``\\w \\s \\d \\b`` families, anchors, classes. Python-only
    syntax (``(?P<name>...)``, ``(?a)``) is left as is, and :func:`word_tokenizer` reports it if the
    library cannot compile it.
    """
    out: list[str] = []
    i, in_class, class_start = 0, False, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append((_INSIDE if in_class else _OUTSIDE).get(nxt, c + nxt))
            i, class_start = i + 2, False
            continue
        if in_class:
            if c == "]" and not class_start:
                in_class = False
                out.append(c)
            elif c == "^" and class_start and out[-1] == "[":
                out.append(c)  # negation: a "]" right after it is still literal
                i += 1
                continue
            else:
                out.append(r"\]" if c == "]" else _LITERAL_IN_CLASS.get(c, c))
            class_start = False
        elif c == "[":
            in_class, class_start = True, True
            out.append(c)
        else:
            out.append(_ANCHORS.get(c, c))
        i += 1
    return "".join(out)


def _final_sigma() -> Any:
    """Python's lower() turns Σ into ς at a word's end (after a cased letter, before none); the
    library's Lowercase maps it to σ everywhere, so this rewrite runs first."""
    from tokenizers import Regex, normalizers

    # Python skips case-ignorable characters both ways and tests the first other one for "cased" (so
    # a character both cased and case-ignorable, such as ʰ, is skipped): hence [Cased && not Case_Ignorable].
    cased = r"[\p{Cased}&&\P{Case_Ignorable}]"
    return normalizers.Replace(Regex(rf"(?<={cased}\p{{Case_Ignorable}}*)Σ(?!\p{{Case_Ignorable}}*{cased})"), "ς")


def _joiners() -> list[Any]:
    from tokenizers import normalizers

    return [normalizers.Replace(j, j[2]) for j in _WIKITEXT_JOINERS]


def word_normalizer(lowercase: bool, wikitext_markup: bool) -> Any:
    """The library normalizer doing :class:`w2v.data.tokenizers.RegexTokenizer`'s steps before matching (None: nothing to do)."""
    from tokenizers import normalizers

    steps = [*(_joiners() if wikitext_markup else []), *([_final_sigma(), normalizers.Lowercase()] if lowercase else [])]
    return normalizers.Sequence(steps) if steps else None


def word_pre_tokenizer(token_pattern: str | None) -> Any:
    """The library pre-tokenizer giving :class:`w2v.data.tokenizers.RegexTokenizer`'s words, each marked ``▁word``.

    ``token_pattern=None`` is ``str.split()``: runs of Python's whitespace are the separators.
    """
    from tokenizers import Regex, pre_tokenizers

    if token_pattern:
        try:
            regex = Regex(onig_pattern(token_pattern))
        except Exception as exc:  # the library raises plain Exception for a pattern Oniguruma rejects
            first = (str(exc).splitlines() or ["invalid"])[0]
            raise W2VError(
                f"corpus.token_pattern={token_pattern!r} cannot be written as a tokenizer.json pattern for export_formats ({first}); "
                "use plain re syntax (no (?P<name>...) groups or (?a) flags), or export only word2vec and safetensors"
            ) from None
        split = pre_tokenizers.Split(regex, behavior="removed", invert=True)  # keep the matches, as re.findall
    else:
        split = pre_tokenizers.Split(Regex(f"[{_SPACE}]+"), behavior="removed")
    return pre_tokenizers.Sequence([split, pre_tokenizers.Metaspace(replacement=MARK, prepend_scheme="always", split=False)])


def word_tokenizer(words: list[str], lowercase: bool, token_pattern: str | None, wikitext_markup: bool = False) -> Any:
    """A ``tokenizers.Tokenizer`` whose id ``i`` is ``words[i]`` and that drops every other word (see the module doc)."""
    from tokenizers import Tokenizer, decoders, models

    vocab: dict[str, int] = {}
    for i, word in enumerate(words):
        vocab.setdefault(MARK + word, i)  # words are distinct; setdefault only guards a malformed vocabulary
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None, ignore_merges=True))
    tok.normalizer = word_normalizer(lowercase, wikitext_markup)
    tok.pre_tokenizer = word_pre_tokenizer(token_pattern)
    tok.decoder = decoders.Metaspace(replacement=MARK, prepend_scheme="always", split=False)
    return tok


def hf_tokenizer(ccfg: Any, run_dir: Path, words: list[str]) -> tuple[Any, np.ndarray]:
    """The Hugging Face tokenizer a ``corpus.tokenizer`` run trained on, and for each of its token ids
    the vocabulary row of that token (-1: the vocabulary dropped it; its exported row stays zero)."""
    from tokenizers import normalizers

    from w2v.data.tokenizers import TOKENIZER_FILE, HFTokenizer, kind_of, load_tokenizer_file

    spec = ccfg.get("tokenizer", "regex")
    tok = load_tokenizer_file(spec if kind_of(spec) == "file" else str(Path(run_dir) / TOKENIZER_FILE))
    if ccfg.get("wikitext_markup", False):  # training glued WikiText's joiners before the tokenizer saw the text
        tok.normalizer = normalizers.Sequence([*_joiners(), *([tok.normalizer] if tok.normalizer else [])])
    # Vocabulary words are the tokens' visible spellings (HFTokenizer.id_to_token), so map through those.
    row_of = {word: i for i, word in enumerate(words)}
    id_to_token = HFTokenizer(tok).id_to_token
    rows = np.array([row_of.get(token, -1) for token in id_to_token.tolist()], dtype=np.int64)
    return tok, rows


def run_tokenizer(ccfg: Any, run_dir: Path, words: list[str]) -> tuple[Any, np.ndarray]:
    """The tokenizer of a run and, per token id, the row of the run's vectors it takes (-1: a zero row).

    Corpus kinds with their own reader (``corpus.reader``: playlists) give token lists, not text: their
    tokenizer splits on whitespace and leaves case alone, so ``"song1 song2"`` is a two-token sentence.
    """
    from w2v.data.tokenizers import kind_of

    spec = ccfg.get("tokenizer", "regex")
    if ccfg.get("reader"):
        return word_tokenizer(words, lowercase=False, token_pattern=None), np.arange(len(words))
    if kind_of(spec) in ("regex", "whitespace"):
        pattern = ccfg.token_pattern if spec == "regex" else None
        tok = word_tokenizer(words, bool(ccfg.lowercase), pattern, bool(ccfg.get("wikitext_markup", False)))
        return tok, np.arange(len(words))
    return hf_tokenizer(ccfg, run_dir, words)


def check_token_pattern(ccfg: Any) -> None:
    """At start-up: a word run's token pattern must compile in the library (a one-line error otherwise)."""
    if not ccfg.get("reader") and ccfg.get("tokenizer", "regex") == "regex":
        word_pre_tokenizer(ccfg.token_pattern)
