"""bench/: every script writes machine-readable results, imports its helpers from bench/common.py (no
sys.path edits of its own), and runs as ``python bench/x.py``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_script

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name != "common.py")


def _common():
    return load_script(BENCH / "common.py", "bench_common")


def _names(tree: ast.AST) -> set[str]:
    """Every string constant, called function name and attribute chain ``a.b`` in a module."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.add(node.value)
        elif isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            out.add(f"{node.value.id}.{node.attr}")
    return out


def test_there_are_bench_scripts():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_takes_json_and_imports_no_sibling_but_common(script):
    tree = ast.parse(script.read_text())
    names = _names(tree)
    assert "add_json_argument" in names or "--json" in names, f"{script.name} writes no machine-readable results"
    assert "sys.path" not in names, f"{script.name} edits sys.path: import what it shares from bench/common.py"
    siblings = {p.stem for p in SCRIPTS}
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not imported & siblings, f"{script.name} imports another script: move the helper to bench/common.py"


def test_results_are_json_with_the_command_and_settings(tmp_path):
    common = _common()
    settings = {"corpus": Path("/x.txt"), "epochs": 1}
    path = common.write_results(tmp_path / "sub" / "r.json", settings, [{"a": 1.5, "b": float("nan")}], extra=3)
    saved = json.loads(path.read_text())
    assert saved["settings"] == {"corpus": "/x.txt", "epochs": 1} and saved["extra"] == 3
    assert saved["rows"][0]["a"] == 1.5 and saved["rows"][0]["b"] != saved["rows"][0]["b"]  # nan stays nan
    assert {"script", "command"} <= set(saved)


def test_the_default_results_file_is_under_bench_results():
    import argparse

    parser = argparse.ArgumentParser()
    _common().add_json_argument(parser, "x")
    assert parser.parse_args([]).json == BENCH / "results" / "x.json"


def test_a_script_runs_from_any_directory(tmp_path):
    cmd = [sys.executable, str(BENCH / "heldout_plot.py"), "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0 and "--json" in out.stdout, out.stderr[-2000:]


def _round(wps, e2e, rss, analogy, vectors):
    return {"train_wps": wps, "e2e_wps": e2e, "seconds": 100.0 / wps, "peak_rss_mb": rss, "analogy@30k": analogy, "vectors": vectors}


def test_rounds_give_the_best_speed_the_median_beside_it_and_the_mean_score():
    common = _common()
    rows = [_round(500.0, 400.0, 10.0, 0.30, "a"), _round(900.0, 700.0, 12.0, 0.32, "b"), _round(800.0, 650.0, 11.0, 0.34, "c")]
    row = common.summarize_rounds(rows)
    assert row["train_wps"] == 900.0 and row["train_wps_median"] == 800.0 and row["train_wps_rounds"] == [500.0, 900.0, 800.0]
    assert row["e2e_wps"] == 700.0 and row["e2e_wps_median"] == 650.0
    assert row["vectors"] == "b" and row["seconds"] == 100.0 / 900.0  # the fastest round's run
    assert row["peak_rss_mb"] == 12.0 and row["rounds"] == 3
    assert row["analogy@30k"] == pytest.approx(0.32)
    even = common.summarize_rounds(rows[:2])
    assert even["train_wps_median"] == 700.0  # two rounds: the mean of the middle pair


def test_one_round_is_returned_as_it_is():
    common = _common()
    row = _round(500.0, 400.0, 10.0, 0.3, "a")
    assert common.summarize_rounds([row]) == row


def test_paired_ratios_divide_each_round_by_the_same_round_not_best_by_best():
    common = _common()
    runs = {"w2v": [{"train_wps": 900.0}, {"train_wps": 500.0}], "gensim_file": [{"train_wps": 600.0}, {"train_wps": 200.0}]}
    # Best against best would say 900/600 = 1.5x; the rounds say 1.5x and 2.5x.
    assert common.paired_ratios(runs["w2v"], runs["gensim_file"]) == pytest.approx([1.5, 2.5])


def test_kernel_ab_refuses_a_base_that_is_no_checkout_in_one_line(tmp_path):
    script = Path(__file__).resolve().parent.parent / "bench" / "kernel_ab.py"
    done = subprocess.run(
        [sys.executable, str(script), "--base", str(tmp_path), "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "is not a w2v checkout" in done.stderr
    assert "Traceback" not in done.stderr


def test_corpus_file_lines_are_the_longest_that_keep_a_job_under_gensims_cap():
    common = _common()
    assert common.corpus_file_line_tokens(0.6) == 3333  # half of 10,000 x 0.4 / 0.6
    assert common.corpus_file_line_tokens(1.0) == 100  # nothing dropped: the floor
    assert common.corpus_file_line_tokens(0.2) == common.GENSIM_MAX_WORDS  # most words dropped: whole sentences fit
    with pytest.raises(ValueError, match="kept_fraction"):
        common.corpus_file_line_tokens(0.0)
    sentence = [str(i) for i in range(2500)]
    lines = common.split_lines(sentence, 1000)
    assert [len(line) for line in lines] == [1000, 1000, 500] and [t for line in lines for t in line] == sentence


def _corpus_file_trained(tmp_path, sentences, line_tokens):
    """Words gensim's corpus_file mode trains on ``sentences`` written as lines of ``line_tokens``, and the words its
    vocabulary says an epoch holds (sample 0: every word at or above min_count)."""
    from gensim.models import Word2Vec

    common = _common()
    path = tmp_path / f"lines{line_tokens}.txt"
    path.write_text("".join(" ".join(line) + "\n" for s in sentences for line in common.split_lines(s, line_tokens)))
    model = Word2Vec(vector_size=8, window=2, min_count=2, sample=0, workers=1, seed=1, epochs=1)
    model.build_vocab(corpus_file=str(path))
    trained, _ = model.train(corpus_file=str(path), total_words=model.corpus_total_words, epochs=1)
    return trained, common.expected_kept_words(model.wv)


def test_gensim_corpus_file_trains_every_word_of_our_lines_and_drops_some_of_whole_sentences(tmp_path):
    # Three 10,000-token sentences, 3 of every 5 tokens from 50 frequent words and 2 seen once (dropped by
    # min_count): 6,000 kept words a sentence, so two sentences in one job hold 12,000, over gensim's 10,000.
    sentences = [[f"w{i % 50}" if i % 5 < 3 else f"once{s}_{i}" for i in range(10_000)] for s in range(3)]
    trained, expected = _corpus_file_trained(tmp_path, sentences, 10_000)
    assert expected == 18_000 and trained == 16_000  # the first job's last 2,000 kept words were never trained
    line = _common().corpus_file_line_tokens(0.6)
    trained, expected = _corpus_file_trained(tmp_path, sentences, line)
    assert trained == expected == 18_000
