"""bench/scaling.py's rounds: the 1- and 2-thread cells taken in turn, summarised per cell, and w2v's scaling
paired round by round; its table with w2v alone (``--systems w2v``). The projection is tested in
tests/test_scaling_model.py."""

from __future__ import annotations

import pytest
from helpers import load_bench


def _row(wps: float, analogy: float = 0.1) -> dict:
    return {"train_wps": wps, "e2e_wps": wps / 2, "seconds": 1e6 / wps, "peak_rss_mb": 500.0, "analogy@30k": analogy, "ws353": 0.4}


def test_rounds_in_turn_give_each_cell_its_best_and_the_ratios_round_by_round():
    scaling = load_bench("scaling")
    per_round = {
        1: [{"w2v": _row(100.0, 0.1), "gensim": _row(50.0)}, {"w2v": _row(60.0, 0.2), "gensim": _row(40.0)}],
        2: [{"w2v": _row(190.0), "gensim": _row(90.0)}, {"w2v": _row(111.0), "gensim": _row(70.0)}],
    }
    cells, paired = scaling.combine_rounds(per_round)
    assert cells[1]["w2v"]["train_wps"] == 100.0 and cells[1]["w2v"]["train_wps_median"] == 80.0
    assert cells[1]["w2v"]["analogy@30k"] == pytest.approx(0.15)  # scores: the rounds' mean
    assert cells[2]["gensim"]["train_wps"] == 90.0
    # Round by round: 190/100 and 111/60 (the medians' ratio, 150.5/80, would say 1.88).
    assert paired == pytest.approx([1.9, 1.85])


def test_one_round_keeps_the_cell_as_it_is():
    scaling = load_bench("scaling")
    cells, paired = scaling.combine_rounds({1: [{"w2v": _row(100.0)}], 2: [{"w2v": _row(150.0)}]})
    assert cells[1]["w2v"] == _row(100.0) and paired == pytest.approx([1.5])


def test_the_table_prints_w2v_alone_with_its_paired_scaling(capsys):
    scaling = load_bench("scaling")
    cells = {1: {"w2v": _row(100.0)}, 2: {"w2v": _row(180.0)}}
    projection = {n: {"speedup_vs_1": 1.0} for n in ("8", "16", "64")}
    result = {"models": {"cbow-ns": {"cells": cells, "scaling_w2v": 1.8, "scaling_w2v_paired": 1.75, "projection": projection}}}
    scaling.print_table(result)
    out = capsys.readouterr().out
    assert "| cbow-ns | 1 | 100 | - | - | - | - |" in out
    assert "scaling 1->2: 1.80x (paired rounds: 1.75x)" in out
