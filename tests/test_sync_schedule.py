"""The torchrun averaging schedule and learning-rate factor (w2v/train/sync_schedule.py): pure functions."""

from __future__ import annotations

import math

import pytest

from w2v.train.sync_schedule import band_period, lr_factor, mean_rows_per_round, rows_at_round, ruler


def test_the_ruler_sequence_is_the_largest_power_of_two_dividing_the_round():
    assert [ruler(r) for r in range(1, 17)] == [1, 2, 1, 4, 1, 2, 1, 8, 1, 2, 1, 4, 1, 2, 1, 16]
    with pytest.raises(ValueError):
        ruler(0)


def test_round_r_averages_the_hot_rows_times_the_ruler_capped_at_the_table():
    # pWord2Vec: min(2**z * min_sync_words, vocab_size) rows at sync r = 2**z * odd.
    assert [rows_at_round(r, 10, 0, 100) for r in range(1, 17)] == [10, 20, 10, 40, 10, 20, 10, 80, 10, 20, 10, 40, 10, 20, 10, 100]
    assert [rows_at_round(r, 10, 3, 100) for r in range(1, 7)] == [10, 20, 100, 40, 10, 100]  # full_every=3 adds full rounds
    assert [rows_at_round(r, 0, 8, 100) for r in range(1, 5)] == [100] * 4  # hot_rows=0: all rows every round
    assert rows_at_round(1, 500, 0, 100) == 100  # a hot prefix larger than the table is the table


@pytest.mark.parametrize("hot", [1, 3, 10])
def test_band_k_is_averaged_exactly_every_2_to_the_k_rounds(hot):
    n_rows, rounds = 10 * hot + 1, 64
    for row in range(n_rows):
        averaged = [r for r in range(1, rounds + 1) if row < rows_at_round(r, hot, 0, n_rows)]
        band = 0 if row < hot else (row // hot).bit_length()  # rows [hot*2**(k-1), hot*2**k) form band k
        period = band_period(row, hot)
        assert period == 2**band
        if period <= 16:  # rows beyond the table's cap are averaged more often than their band says, never less
            assert averaged == list(range(period, rounds + 1, period)), (row, period)
        else:
            assert averaged[0] <= period


def test_mean_rows_per_round_counts_the_closing_full_average():
    assert mean_rows_per_round(0, 8, 100, 4) == 100
    assert mean_rows_per_round(10, 0, 1000, 4) == (10 + 20 + 10 + 1000) / 4
    # Large tables: about hot * log2(rounds) / 2 rows per round instead of all of them.
    assert mean_rows_per_round(100, 0, 10**6, 1024) < 100 * (math.log2(1024) / 2 + 1) + 10**6 / 1024


def test_lr_factor_by_mode_and_world():
    assert lr_factor("linear", 4) == 4.0 and lr_factor("sqrt", 4) == 2.0 and lr_factor("none", 4) == 1.0
    assert lr_factor("auto", 4) == 4.0 and lr_factor("auto", 4, "deltas") == 1.0 and lr_factor("linear", 4, "deltas") == 4.0
    assert all(lr_factor(m, 1) == 1.0 for m in ("auto", "linear", "sqrt", "none"))  # one rank: bit for bit the plain run
    with pytest.raises(ValueError, match="dist.lr_scale"):
        lr_factor("cubic", 2)


def test_merge_auto_is_deltas_for_two_ranks_and_one_block_rounds_only():
    from w2v.errors import W2VError
    from w2v.train.sync_schedule import merge_for

    assert merge_for("auto", 2, 1) == "deltas"
    assert [merge_for("auto", w, b) for w, b in ((1, 1), (2, 2), (2, 64), (3, 1), (4, 1), (64, 8))] == ["average"] * 6
    assert merge_for("average", 2, 1) == "average" and merge_for("deltas", 2, 8) == "deltas"  # asked for by name
    with pytest.raises(W2VError, match="dist.merge=deltas .* diverged at 3 and 4 ranks.*dist.merge=average"):
        merge_for("deltas", 3, 1)
