"""Analogies and word-pair similarity on small hand-made vector sets whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors
from scipy import stats

from w2v.errors import W2VError
from w2v.evaluation.analogy import answer, evaluate_analogies, read_questions
from w2v.evaluation.similarity import evaluate_pairs, read_pairs
from w2v.vectors import WordVectors


def unit(*xs: float) -> list[float]:
    v = np.asarray(xs + (0.0,) * (6 - len(xs)), dtype=np.float64)
    return list(v / np.linalg.norm(v))


def royal() -> WordVectors:
    """man, king, woman are orthonormal; the other words have chosen cosines with them.

    throne: cos 0.99 with king, 0.11 with woman -> 3CosAdd score 1.10, 3CosMul 1.104
    queen:  cos 0.52 with king, 0.52 with woman -> 3CosAdd score 1.04, 3CosMul 1.155
    so 3CosAdd answers man : king :: woman : throne and 3CosMul answers queen.
    """
    rows = {
        "man": unit(1),
        "king": unit(0, 1),
        "woman": unit(0, 0, 1),
        "throne": [0, 0.99, 0.11, np.sqrt(1 - 0.99**2 - 0.11**2), 0, 0],
        "queen": [0, 0.52, 0.52, 0, np.sqrt(1 - 2 * 0.52**2), 0],
        "pebble": unit(0, 0, 0, 0, 0, 1),
    }
    return WordVectors(list(rows), np.array(list(rows.values()), dtype=np.float32), name="royal")


def test_3cosadd_and_3cosmul_known_answers():
    vecs = royal()
    assert answer(vecs, "man", "king", "woman", "3cosadd") == "throne"
    assert answer(vecs, "man", "king", "woman", "3cosmul") == "queen"
    assert answer(vecs, "MAN", "King", "woman", "3cosmul") == "queen"  # case-insensitive


def test_known_answers_agree_with_gensim():
    vecs = royal()
    kv = KeyedVectors(vecs.dim)
    kv.add_vectors(vecs.words, vecs.matrix)
    assert kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "throne"
    assert kv.most_similar_cosmul(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"


def test_answer_needs_known_words():
    with pytest.raises(W2VError, match="unicorn not among the first 6 words"):
        answer(royal(), "man", "unicorn", "woman")


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


QUESTIONS = """\
: family
man king woman queen
MAN KING WOMAN THRONE
man king woman unicorn
this line is malformed with seven words
: gram3-comparative
king man queen woman
"""


def test_sections_semantic_syntactic_and_oov(tmp_path):
    questions = read_questions(write(tmp_path, "q.txt", QUESTIONS))
    assert questions.sections == ["family", "gram3-comparative"]
    assert questions.malformed == 1
    result = evaluate_analogies(royal(), questions, restrict_vocab=300000)
    assert result.restrict_vocab == 6
    assert (result.questions, result.oov) == (4, 1)
    assert result.oov_pct == pytest.approx(25.0)
    family, gram = result.sections
    assert (family.questions, family.evaluated) == (3, 2)
    assert family.correct == {"3cosadd": 1, "3cosmul": 1}  # throne by 3CosAdd, queen by 3CosMul
    # king : man :: queen : ? -> woman by both (3CosAdd: woman 0.52, pebble 0, throne -0.42)
    assert gram.correct == {"3cosadd": 1, "3cosmul": 1}
    assert result.accuracy("3cosadd", "semantic") == pytest.approx(0.5)
    assert result.counts("3cosadd", "syntactic") == (1, 1)
    assert result.counts("3cosmul") == (2, 3)
    assert result.accuracy("3cosadd") == pytest.approx(2 / 3)


def test_restrict_vocab_turns_rare_words_into_oov(tmp_path):
    questions = read_questions(write(tmp_path, "q.txt", ": family\nman king woman queen\nman king woman throne\n"))
    result = evaluate_analogies(royal(), questions, restrict_vocab=4)  # keeps man, king, woman, throne
    assert result.restrict_vocab == 4
    assert result.oov == 1  # the queen question
    assert result.counts("3cosmul") == (1, 1)  # throne is the only candidate left, and the answer


def test_case_variants_are_skipped_like_gensim(tmp_path):
    """A case variant of an input word is never the answer (gensim's walk over its top 5)."""
    base = royal()
    words = base.words + ["King"]  # "King" is king's vector: the best 3CosAdd score, but a variant of b
    vecs = WordVectors(words, np.vstack([base.matrix, base.matrix[1]]), name="v")
    path = write(tmp_path, "q.txt", ": family\nman king woman throne\nman king woman queen\n")
    ours = evaluate_analogies(vecs, read_questions(path), methods=["3cosadd"])
    kv = KeyedVectors(vecs.dim)
    kv.add_vectors(vecs.words, vecs.matrix)
    score, sections = kv.evaluate_word_analogies(str(path))
    assert ours.counts("3cosadd") == (len(sections[-1]["correct"]), 2)
    assert answer(vecs, "man", "king", "woman") == "throne"


def test_nothing_usable_is_an_error(tmp_path):
    with pytest.raises(W2VError, match="no usable analogy questions .2 malformed lines"):
        read_questions(write(tmp_path, "q.txt", "a b c d\n: sec\na b c\n"))
    with pytest.raises(W2VError, match="analogy file .*missing.txt not found"):
        read_questions(tmp_path / "missing.txt")


def test_unknown_method(tmp_path):
    questions = read_questions(write(tmp_path, "q.txt", QUESTIONS))
    with pytest.raises(W2VError, match="unknown analogy method '3coswhat'"):
        evaluate_analogies(royal(), questions, methods=["3coswhat"])


# ---- similarity --------------------------------------------------------------------------------------


def sim_vectors() -> WordVectors:
    angles = np.radians([0, 10, 30, 60, 90])  # cos(0, k) = 1, .985, .866, .5, 0
    words = ["a", "b", "c", "d", "e"]
    return WordVectors(words, np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32), name="sim")


PAIRS = """\
# a comment, then a header
word1\tword2\tscore
a\tb\t9.5
a\tc\t7
A  d  4.0
a e 1
a\tzebra\t5
this line is broken
a b
"""


def test_pairs_parsing_header_comments_and_malformed(tmp_path):
    data = read_pairs(write(tmp_path, "pairs.tsv", PAIRS))
    assert data.name == "pairs"
    assert data.pairs == [("A", "B"), ("A", "C"), ("A", "D"), ("A", "E"), ("A", "ZEBRA")]
    assert data.gold.tolist() == [9.5, 7.0, 4.0, 1.0, 5.0]
    assert data.malformed == 2


def test_similarity_known_correlations(tmp_path):
    result = evaluate_pairs(sim_vectors(), read_pairs(write(tmp_path, "pairs.tsv", PAIRS)))
    assert (result.pairs, result.oov, result.malformed) == (4, 1, 2)
    assert result.oov_pct == pytest.approx(20.0)
    assert result.spearman == pytest.approx(1.0)  # human order = cosine order
    cosines = np.cos(np.radians([10, 30, 60, 90]))
    assert result.pearson == pytest.approx(stats.pearsonr([9.5, 7, 4, 1], cosines)[0], abs=1e-6)


def test_similarity_restrict_vocab_and_too_few_pairs(tmp_path):
    result = evaluate_pairs(sim_vectors(), read_pairs(write(tmp_path, "p.txt", "a b 2\na c 1\na e 3\n")), restrict_vocab=2)
    assert (result.pairs, result.oov) == (1, 2)
    assert result.spearman is None and result.pearson is None  # undefined for one pair


def test_similarity_nothing_usable(tmp_path):
    with pytest.raises(W2VError, match="no usable word pairs .3 malformed lines"):
        read_pairs(write(tmp_path, "p.txt", "header line here\na b\nc d e f\na b c\n"))
    with pytest.raises(W2VError, match="similarity file .*none.txt not found"):
        read_pairs(tmp_path / "none.txt")
