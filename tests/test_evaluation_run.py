"""The evaluation recipe the trainer calls (reports, TensorBoard scalars, log lines), training with
evaluation on, the GloVe neighbour comparison and the projection picture."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from w2v.errors import W2VError
from w2v.evaluation import data
from w2v.evaluation.neighbours import compare_with_glove, format_side_by_side, neighbours_of
from w2v.evaluation.plot import plot_projection
from w2v.evaluation.run import evaluate_run
from w2v.train.trainer import train
from w2v.vectors import WordVectors, load_vectors

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PNG = b"\x89PNG\r\n\x1a\n"
GLOVE = SHARED_DATA / "glove" / "glove.6B.50d.txt.gz"
SUMMARY = re.compile(r"wordsim353: spearman -?\d\.\d{3} \(OOV \d+\.\d%\)")


class FakeTB:
    """Records what would go to TensorBoard."""

    def __init__(self) -> None:
        self.logged: list[tuple[str, float, int]] = []

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.logged += [(tag, value, step) for tag, value in values.items()]

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.logged.append((tag, value, step))


@pytest.fixture(scope="module")
def eval_cfg(compose_cfg):
    """``eval_cfg(*overrides)``: the composed ``eval`` node of the real train config, with a small GloVe prefix."""
    return lambda *overrides: compose_cfg(["eval.glove_limit=20000", "eval.cache_dir=null", *overrides]).eval


@pytest.fixture(scope="module")
def trained(lee_run) -> WordVectors:
    return load_vectors(lee_run[0])


def test_evaluate_run_writes_reports_scalars_and_log_lines(trained, eval_cfg, tmp_path, caplog):
    tb = FakeTB()
    with caplog.at_level(logging.INFO):
        metrics = evaluate_run(tmp_path, trained.words, trained.matrix, eval_cfg(), tb, step=3)
    assert isinstance(metrics["analogy"], float)
    for key in ("analogy_3cosmul", "analogy_semantic", "analogy_syntactic", "wordsim353", "simlex999"):
        assert key in metrics
    assert ("eval/analogy", metrics["analogy"], 3) in tb.logged
    assert ("eval/wordsim353", metrics["wordsim353"], 3) in tb.logged
    assert any(SUMMARY.fullmatch(r.getMessage()) for r in caplog.records), caplog.text
    assert "analogy: 3CosAdd" in caplog.text

    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["analogy"]["restrict_vocab_requested"] == 300000
    assert report["analogy"]["restrict_vocab"] == len(trained)
    assert report["analogy"]["questions"] == 19544
    assert report["metrics"] == pytest.approx(metrics)
    md = (tmp_path / "eval.md").read_text()
    assert "restrict_vocab 300000" in md and "| wordsim353 |" in md
    assert (tmp_path / "projection.png").read_bytes().startswith(PNG)
    if GLOVE.exists():
        assert 0.0 <= metrics["glove_overlap_frequent"] <= 1.0
        assert -1.0 <= metrics["glove_cosine_spearman"] <= 1.0
        assert "glove: overlap@10" in caplog.text and "Neighbours compared with GloVe" in md
    if (SHARED_DATA / "benchmarks" / "EN-MEN-TR-3k.txt").exists():
        assert "men" in metrics


def test_per_epoch_evaluation_only_logs(trained, eval_cfg, tmp_path, caplog):
    tb = FakeTB()
    with caplog.at_level(logging.INFO):
        metrics = evaluate_run(tmp_path, trained.words, trained.matrix, eval_cfg("eval.glove_path=null"), tb, step=1, final=False)
    assert not list(tmp_path.iterdir())
    assert ("eval/analogy", metrics["analogy"], 1) in tb.logged
    assert "epoch 1: wordsim353: spearman" in caplog.text


def test_missing_optional_data_is_skipped_with_a_log_line(trained, eval_cfg, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(data, "MEN_PATH", str(tmp_path / "no-men.txt"))
    with caplog.at_level(logging.INFO):
        metrics = evaluate_run(
            tmp_path, trained.words, trained.matrix, eval_cfg(f"eval.glove_path={tmp_path}/no-glove.txt"), FakeTB(), step=1
        )
    assert "GloVe comparison skipped" in caplog.text and "no-glove.txt not found" in caplog.text
    assert "men: skipped" in caplog.text
    assert "men" not in metrics and not any(k.startswith("glove_") for k in metrics)
    assert "skipped:" in (tmp_path / "eval.md").read_text()


@pytest.mark.parametrize(
    "override, message",
    [
        ("eval.topk=0", "eval.topk=0: must be >= 1"),
        ("eval.projection=umap", "unknown eval.projection 'umap'"),
        ("eval.similarity=[/nonexistent/pairs.txt]", "similarity file /nonexistent/pairs.txt not found"),
        ("eval.analogies=/nonexistent/q.txt", "analogy file /nonexistent/q.txt not found"),
    ],
)
def test_bad_eval_settings_are_one_line_errors(trained, eval_cfg, tmp_path, override, message):
    with pytest.raises(W2VError, match=re.escape(message)):
        evaluate_run(tmp_path, trained.words, trained.matrix, eval_cfg("eval.glove_path=null", override), FakeTB(), step=1)


def test_training_evaluates_every_epoch_and_at_the_end(compose_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_cfg(
        ["epochs=2", "corpus.max_tokens=20000", "dim=16", "eval.every_epoch=true", "eval.glove_path=null", "checkpoint_every_minutes=0"]
    )
    metrics = train(cfg, tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["analogy"] == metrics["analogy"] and "wordsim353" in saved
    assert (tmp_path / "eval.json").is_file() and (tmp_path / "projection.png").is_file()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("eval/analogy")] == [1, 2]
    assert "eval/wordsim353" in events.Tags()["scalars"]


def test_eval_none_turns_evaluation_off(compose_cfg, tmp_path):
    cfg = compose_cfg(["eval=none", "epochs=1", "corpus.max_tokens=5000", "dim=8", "min_count=2"])
    assert cfg.eval.enabled is False
    metrics = train(cfg, tmp_path)
    assert "analogy" not in metrics and not (tmp_path / "eval.json").exists()


# ---- neighbours and the GloVe comparison ------------------------------------------------------------


def random_vectors(n: int = 300, dim: int = 20, seed: int = 0, name: str = "r") -> WordVectors:
    rng = np.random.default_rng(seed)
    return WordVectors([f"w{i}" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32), name=name)


def test_identical_geometry_agrees_perfectly():
    ours = random_vectors()
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((20, 20)))
    rotated = WordVectors(ours.words, ours.matrix @ q.astype(np.float32), name="glove")  # same cosines, new coordinates
    result = compare_with_glove(ours, rotated, queries=["w1", "w2", "nope"], k=5, sample=100, pairs=2000, frequent=200)
    assert result.queries == ["w1", "w2"]
    assert result.overlap == pytest.approx(1.0)
    assert result.overlap_frequent == pytest.approx(1.0)
    assert result.cosine_spearman == pytest.approx(1.0, abs=1e-6)
    assert (result.sample, result.shared) == (100, 300)


def test_unrelated_vectors_agree_little():
    result = compare_with_glove(random_vectors(seed=0), random_vectors(seed=5), queries=["w1"], k=10, sample=200, pairs=5000)
    assert result.overlap_frequent < 0.2
    assert abs(result.cosine_spearman) < 0.1


def test_shared_vocabulary_is_case_insensitive():
    ours = WordVectors(["King", "queen", "zzz"], np.eye(3, dtype=np.float32), name="ours")
    glove = WordVectors(["king", "queen", "yyy"], np.eye(3, dtype=np.float32), name="glove")
    result = compare_with_glove(ours, glove, queries=["king"], k=1, sample=10, pairs=10)
    assert result.shared == 2 and result.queries == ["king"]


def test_side_by_side_table():
    ours = {"king": [("queen", 0.81234), ("prince", 0.7)], "jazz": [("blues", 0.5)]}
    glove = {"king": [("prince", 0.8236), ("queen", 0.7839)]}
    table = format_side_by_side(ours, glove, ("w2v", "glove"))
    lines = table.splitlines()
    assert lines[0].split() == ["w2v", "glove"]
    assert lines[1] == "king"
    assert lines[2].split() == ["1", "queen", "0.812", "prince", "0.824"]
    assert "(not in glove)" in table


def test_neighbours_exclude_the_word_itself():
    vecs = WordVectors(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32), name="v")
    assert [w for w, _ in neighbours_of(vecs, ["A", "missing"], 5)["A"]] == ["b", "c"]


def test_projection_png(tmp_path):
    vecs = random_vectors(30)
    path = plot_projection(vecs.words[:10], vecs.matrix[:10], tmp_path / "p.png", "pca", "test")
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(W2VError, match="at least 2 words"):
        plot_projection(["a"], vecs.matrix[:1], tmp_path / "q.png")


def test_tsne_projection_or_a_clear_error(tmp_path):
    vecs = random_vectors(30)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        with pytest.raises(W2VError, match="pip install scikit-learn"):
            plot_projection(vecs.words, vecs.matrix, tmp_path / "t.png", "tsne")
    else:
        assert plot_projection(vecs.words, vecs.matrix, tmp_path / "t.png", "tsne").read_bytes().startswith(PNG)


def test_eval_config_keys_exist_for_evaluate_py():
    from w2v.evaluation.config import EvaluateConfig

    cfg = OmegaConf.structured(EvaluateConfig)
    assert cfg.eval.restrict_vocab == 300000 and cfg.eval.cosmul is True and cfg.vectors is None
