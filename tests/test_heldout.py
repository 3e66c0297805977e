"""Held-out loss (``heldout=FRACTION``): which blocks are held out, that they are never trained on,
and that every model records ``val/loss`` in metrics.json and TensorBoard."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, make_quick_overrides, write_text_file

from w2v.config import validate
from w2v.data.stream import StreamConfig, Word2VecStream, heldout_mask
from w2v.data.vocab import SENTENCE_END
from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec, Word2VecModel
from w2v.train.trainer import train


def test_mask_holds_out_the_rounded_fraction_never_everything_and_depends_on_the_seed():
    assert heldout_mask(1000, 0.005, 1).sum() == 5
    assert heldout_mask(300, 0.005, 1).sum() == 2  # 1.5 rounds up
    assert heldout_mask(99, 0.005, 1).sum() == 0  # fewer blocks than 1/fraction: nothing held out
    assert heldout_mask(4, 0.99, 1).sum() == 3  # never every block
    assert heldout_mask(50, 0.0, 1).sum() == 0
    assert np.array_equal(heldout_mask(200, 0.1, 7), heldout_mask(200, 0.1, 7))
    assert not np.array_equal(heldout_mask(200, 0.1, 7), heldout_mask(200, 0.1, 8))


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1"])
def test_heldout_out_of_range_is_a_one_line_error(value):
    with pytest.raises(W2VError, match=re.escape(f"invalid value heldout={float(value)}: need 0 <= heldout < 1")):
        validate(compose_train_cfg([f"heldout={value}"]))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_no_worker_streams_a_heldout_block_in_any_epoch(tmp_path, monkeypatch, workers):
    ids = tmp_path / "ids"
    np.arange(100 * 50, dtype=np.int32).tofile(ids)  # 100 blocks of 50 ids
    vocab_size = 100 * 50
    cfg = StreamConfig(window=2, negatives=1, batch_size=64, block_tokens=50, seed=3, heldout=0.1)
    stream = Word2VecStream(ids, np.arange(vocab_size), np.ones(vocab_size, np.float32), np.ones(vocab_size), cfg)
    held = set(stream.heldout_blocks)
    assert len(held) == 10
    for epoch in range(2):
        stream.set_epoch(epoch)
        seen: list[int] = []
        for wid in range(workers):
            monkeypatch.setattr(Word2VecStream, "worker", staticmethod(lambda wid=wid: (wid, workers)))
            seen += list(stream.my_blocks())
        assert sorted(seen) == sorted(set(range(100)) - held)  # every other block exactly once
        assert stream.heldout_blocks == sorted(held)  # the same blocks every epoch


def _sentences_corpus(tmp_path):
    # Every sentence has its own words (each used twice), so a word lives in one block only.
    lines = [" ".join([f"s{i}w{j}" for j in range(6)] * 2) for i in range(300)]
    return write_text_file(tmp_path / "c.txt", "\n".join(lines) + "\n")


def test_heldout_blocks_are_never_trained_on(tmp_path):
    run_dir = tmp_path / "run"
    overrides = make_quick_overrides(_sentences_corpus(tmp_path), min_count=2, epochs=2, sample=0, block_tokens=650, heldout=0.2, seed=5)
    metrics = train(compose_train_cfg(overrides + ["keep_ids_cache=true"]), run_dir)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    vocab_words, counts = state["vocab"]["words"], state["vocab"]["counts"].numpy()
    remap = state["remap"].numpy()
    ids = np.fromfile(run_dir / "corpus.ids", dtype=np.int32)
    n_blocks = math.ceil(len(ids) / 650)
    held = heldout_mask(n_blocks, 0.2, 5)
    assert held.sum() == round(0.2 * n_blocks) > 0
    trained_words, held_words = set(), set()
    for b in range(n_blocks):
        chunk = ids[b * 650 : (b + 1) * 650]
        words = {int(remap[i]) for i in chunk[chunk != SENTENCE_END] if remap[i] >= 0}
        (held_words if held[b] else trained_words).update(words)
    only_held = held_words - trained_words
    assert len(only_held) >= 20
    # An input row changes only when its word is a context in a trained pair.
    init = Word2VecModel(ModelSpec(), counts, 16, generator=torch.Generator().manual_seed(5)).in_embed.weight.detach()
    unchanged = (state["model"]["in_embed.weight"] == init).all(1).nonzero().squeeze(1).tolist()
    assert set(unchanged) == only_held, [vocab_words[i] for i in set(unchanged) ^ only_held][:10]
    # The schedule counts trained words only, and every one of them once per epoch.
    assert metrics["heldout_words"] + metrics["train_words"] == int(counts.sum())
    assert metrics["words_done"] == 2 * metrics["train_words"]


# sg-hs in the slow set (default run time): cbow-hs covers the hs objective's held-out scoring.
@pytest.mark.parametrize("model", ["sg-ns", "cbow-ns", pytest.param("sg-hs", marks=pytest.mark.slow), "cbow-hs"])
def test_every_model_records_a_falling_heldout_loss(tmp_path, monkeypatch, model):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import w2v.train.heldout as heldout

    monkeypatch.setattr(heldout, "TIME_SHARE", 1.0)  # score at log steps as long as scoring takes less time than training

    sg, loss = model.split("-")
    extra = {"sg": sg == "sg", "hs": loss == "hs", "negatives": 0 if loss == "hs" else 5}
    overrides = ["eval=none", "epochs=3", "dim=16", "threads=1", "block_tokens=4000", "heldout=0.1", "checkpoint_every_minutes=0"]
    overrides += ["log_every=2", "batch_size=2048"] + [f"{k}={v}" for k, v in extra.items()]
    metrics = train(compose_train_cfg(overrides), tmp_path)
    val = metrics["val_loss"]
    assert len(val) == 3 and all(math.isfinite(v) for v in val)
    assert val[-1] < val[0], val
    assert metrics["final_val_loss"] == val[-1]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.value for e in events.Scalars("val/epoch_loss")] == pytest.approx(val)
    # Logged at log steps too, on the words axis of train/loss.
    assert len(events.Scalars("val/loss")) > 3


def test_heldout_zero_turns_it_off(tmp_path):
    overrides = ["eval=none", "epochs=1", "dim=8", "threads=1", "block_tokens=4000", "heldout=0", "checkpoint_every_minutes=0"]
    metrics = train(compose_train_cfg(overrides), tmp_path)
    assert metrics["val_loss"] == [] and metrics["final_val_loss"] is None and metrics["heldout_words"] == 0


def test_scored_examples_are_capped_and_taken_from_every_heldout_block(tmp_path, monkeypatch):
    import w2v.train.heldout as heldout

    ids = tmp_path / "ids"
    np.arange(100 * 50, dtype=np.int32).tofile(ids)
    n = 100 * 50
    stream = Word2VecStream(ids, np.arange(n), np.ones(n, np.float32), np.ones(n), StreamConfig(2, 3, 64, 50, seed=1, heldout=0.5))
    monkeypatch.setattr(heldout, "MAX_EXAMPLES", 100)
    scored = heldout.HeldOutLoss(stream, Word2VecModel(ModelSpec(negatives=3), np.ones(n), 8), torch.device("cpu"))
    assert scored.examples == 100 and len(scored.batches) == 50  # 2 examples from each of the 50 held-out blocks
    assert {int(b[2][0]) // 50 for b in scored.batches} == set(stream.heldout_blocks)
    assert scored.words == 50 * 50
    assert scored.loss() == pytest.approx(math.log(2) * 4, rel=1e-6)  # zero output vectors: every score is 0


def test_scoring_at_log_steps_keeps_to_its_share_of_the_training_time(tmp_path):
    import w2v.train.heldout as heldout

    ids = tmp_path / "ids"
    np.arange(40 * 50, dtype=np.int32).tofile(ids)
    n = 40 * 50
    stream = Word2VecStream(ids, np.arange(n), np.ones(n, np.float32), np.ones(n), StreamConfig(2, 3, 64, 50, seed=1, heldout=0.5))
    scored = heldout.HeldOutLoss(stream, Word2VecModel(ModelSpec(negatives=3), np.ones(n), 8), torch.device("cpu"))
    assert scored.estimate > 0 and scored.calls == 0
    per_call = scored.estimate
    assert not scored.due(0.5 * per_call / heldout.TIME_SHARE)  # not even the first pass before it fits
    assert scored.due(10 * per_call / heldout.TIME_SHARE)
    scored.loss()
    spent = scored.seconds
    assert not scored.due(spent / heldout.TIME_SHARE)  # one more pass would go over the share
    assert scored.due(3 * spent / heldout.TIME_SHARE)
