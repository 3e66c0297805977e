"""Agreement with gensim: our analogy counts equal ``KeyedVectors.evaluate_word_analogies`` (3CosAdd,
same ``restrict_vocab``) and our similarity scores equal ``evaluate_word_pairs`` within 1e-6, on GloVe
50d from ../shared/data (skipped without it) and on vectors trained in the test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from w2v.evaluation.analogy import evaluate_analogies, predict, read_questions
from w2v.evaluation.data import BUILTIN_SIMILARITY, default_analogies
from w2v.evaluation.similarity import evaluate_pairs, read_pairs
from w2v.vectors import WordVectors, load_vectors

GLOVE = "glove/glove.6B.50d.txt.gz"


def to_gensim(vecs: WordVectors) -> KeyedVectors:
    kv = KeyedVectors(vecs.dim)
    kv.add_vectors(vecs.words, vecs.matrix)
    return kv


def every_nth_question(path: Path, n: int, out: Path) -> Path:
    """A smaller questions file: every section header and every n-th question of each section."""
    lines, i = [], 0
    for line in path.read_text().splitlines():
        if line.startswith(":"):
            lines.append(line)
            i = 0
        else:
            if i % n == 0:
                lines.append(line)
            i += 1
    out.write_text("\n".join(lines) + "\n")
    return out


def assert_analogies_agree(vecs: WordVectors, questions_path: Path, restrict: int) -> None:
    ours = evaluate_analogies(vecs, read_questions(questions_path), restrict, ["3cosadd"])
    _, sections = to_gensim(vecs).evaluate_word_analogies(str(questions_path), restrict_vocab=restrict)
    theirs = [(s["section"], len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections[:-1]]
    assert [(s.name, s.correct["3cosadd"], s.evaluated) for s in ours.sections] == theirs
    total = sections[-1]
    assert ours.counts("3cosadd") == (len(total["correct"]), len(total["correct"]) + len(total["incorrect"]))
    assert ours.counts("3cosadd")[1] > 0


def similarity_files() -> list[tuple[str, Path]]:
    files = [(name, make()) for name, make in BUILTIN_SIMILARITY.items()]
    return [(name, path) for name, path in files if path.exists()]


def assert_similarity_agrees(vecs: WordVectors, restrict: int) -> None:
    kv = to_gensim(vecs)
    for name, path in similarity_files():
        ours = evaluate_pairs(vecs, read_pairs(path, name), restrict)
        pearson, spearman, oov = kv.evaluate_word_pairs(str(path), restrict_vocab=restrict)
        assert ours.spearman == pytest.approx(spearman[0], abs=1e-6), name
        assert ours.pearson == pytest.approx(pearson[0], abs=1e-6), name
        assert ours.oov_pct == pytest.approx(oov, abs=1e-9), name


# ---- GloVe 50d --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove(requires_data) -> WordVectors:
    return load_vectors(requires_data(GLOVE), limit=50000)


def test_glove_analogy_counts_equal_gensim(glove, tmp_path):
    subset = every_nth_question(default_analogies(), 50, tmp_path / "q.txt")  # ~400 questions, all sections
    assert_analogies_agree(glove, subset, restrict=20000)


def test_glove_similarity_equals_gensim(glove):
    assert_similarity_agrees(glove, restrict=30000)


@pytest.mark.slow
def test_glove_all_questions_equal_gensim(glove):
    assert_analogies_agree(glove, default_analogies(), restrict=50000)


def test_glove_neighbours_match_the_tutorial(glove):
    """glove-wiki-gigaword-50's neighbours of "king": prince 0.8236, queen 0.7839, ii 0.7746, ..."""
    from w2v.evaluation.neighbours import neighbours_of

    top = neighbours_of(glove, ["king"], 5)["king"]
    assert [w for w, _ in top] == ["prince", "queen", "ii", "emperor", "son"]
    assert top[0][1] == pytest.approx(0.8236, abs=1e-4)


# ---- vectors trained in the test session -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(lee_run) -> WordVectors:
    run_dir, _ = lee_run
    return load_vectors(run_dir)


def test_trained_analogy_counts_equal_gensim(trained):
    assert_analogies_agree(trained, default_analogies(), restrict=300000)
    assert_analogies_agree(trained, default_analogies(), restrict=800)


def test_trained_predictions_equal_gensim_question_by_question(trained):
    """Stronger than counts: the predicted word of every in-vocabulary question, for both methods."""
    kv = to_gensim(trained)
    ok = trained.upper_index(len(trained))
    questions = [q for q in read_questions(default_analogies()).words if all(w in ok for w in q)]
    assert len(questions) > 50
    abc = np.array([[ok[w] for w in q[:3]] for q in questions])
    for method, solve in (("3cosadd", kv.most_similar), ("3cosmul", kv.most_similar_cosmul)):
        ours = [trained.words[i] for i in predict(trained, abc, len(trained), method)]
        theirs = [solve(positive=[q[1].lower(), q[2].lower()], negative=[q[0].lower()], topn=1)[0][0] for q in questions]
        assert ours == theirs, method


def test_trained_similarity_equals_gensim(trained):
    assert_similarity_agrees(trained, restrict=300000)
    assert_similarity_agrees(trained, restrict=500)
