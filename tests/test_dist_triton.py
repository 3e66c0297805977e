"""The Triton engine under torchrun (w2v/train/dist_chunks.py), on CPU: gloo, and Triton's interpreter.

Ranks are spawned with tests/helpers/dist.py's ``spawn`` (explicit deadlines: a hang fails). Each spawned
process inherits ``TRITON_INTERPRET=1`` from this module, which sets it before triton is imported. The
interpreter trains a few dozen pairs per second, so the corpus is 64 tokens in 9 blocks of 8 ids, and a
chunk is 2 blocks (``chunk_tokens=16``): a round is 2 blocks per rank, 3 rounds an epoch on 2 ranks.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, load_bench, make_quick_overrides, make_synthetic_text

# Triton decides at definition time whether a jit function is interpreted (see tests/test_triton.py).
if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("triton was imported before TRITON_INTERPRET=1 could be set; run this file alone", allow_module_level=True)
os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton", reason="triton is not installed (pip install triton)")
from helpers.dist import DEADLINE, all_ok, spawn  # noqa: E402

from w2v.data.stream import StreamConfig, Word2VecStream  # noqa: E402
from w2v.train import dist as wdist  # noqa: E402
from w2v.train.dist_chunks import blocks_per_round, chunk_groups, round_chunks  # noqa: E402
from w2v.train.rounds import RoundEnd, round_blocks  # noqa: E402

N_SENTENCES, LENGTH, BLOCK, CHUNK = 8, 8, 8, 16  # 64 tokens + 8 separators = 72 ids: 9 blocks, 2 blocks a chunk


def _overrides(tmp_path: Path, epochs: int = 2) -> list[str]:
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_synthetic_text(n_sentences=N_SENTENCES, n_words=10, length=LENGTH, seed=3))
    return make_quick_overrides(
        corpus, engine="triton", device="cpu", dim=8, window=1, negatives=1, sample=0, grid=2, epochs=epochs,
        block_tokens=BLOCK, chunk_tokens=CHUNK, **{"dist.timeout_s": 60},
    )  # fmt: skip


# ---------------------------------------------------------------- rounds of whole chunks (no interpreter)


def test_a_round_is_sync_blocks_rounded_up_to_whole_chunks():
    assert blocks_per_round(1, 64) == 64  # the defaults: one 4M-token chunk per rank, not one 65k-token block
    assert [blocks_per_round(s, 4) for s in (1, 4, 5, 8, 9)] == [4, 4, 8, 8, 12]
    assert blocks_per_round(3, 0) == 3  # an example engine: dist.sync_blocks itself


def test_chunk_groups_cut_by_the_blocks_index_among_the_ranks_blocks():
    assert chunk_groups([0, 1, 2, 3, 5], 0, 1, 2) == [[0, 1], [2, 3], [5]]  # block 4 held out: its chunk has one block
    assert chunk_groups([1, 3, 5, 7, 9], 1, 2, 2) == [[1, 3], [5, 7], [9]]
    # Counted from the rank's first block of the round (index 3 here), not from the epoch's block 1: [7, 9], not [7].
    assert chunk_groups([7, 9, 11], 1, 2, 2, first_block=6) == chunk_groups([7, 9, 11], 1, 2, 2, first_block=7) == [[7, 9], [11]]
    assert chunk_groups([8, 10], 0, 2, 2, first_block=7) == [[8, 10]]
    assert chunk_groups([], 0, 2, 3) == []


def _stream(tmp_path: Path, heldout: tuple[int, ...]) -> Word2VecStream:
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 30, 3000).astype(np.int32)
    raw[rng.random(3000) < 0.05] = -1
    path = tmp_path / "corpus.ids"
    raw.tofile(path)
    remap = np.where(np.arange(30) % 7 == 0, -1, np.arange(30) // 2).astype(np.int32)
    cfg = StreamConfig(window=2, negatives=2, batch_size=64, block_tokens=100, token_chunks=3)
    stream = Word2VecStream(path, remap, np.ones(15, np.float32), np.ones(15), cfg)
    stream.heldout[list(heldout)] = True  # held-out blocks where they matter, not where a draw puts them
    return stream


@pytest.mark.parametrize("heldout", [(), (8, 17)])
def test_one_ranks_rounds_are_the_single_process_chunks_and_two_ranks_cover_each_block_once(tmp_path, heldout):
    stream = _stream(tmp_path, heldout)
    stream.set_epoch(1)
    plain = list(stream)
    per_round = blocks_per_round(4, 3)  # dist.sync_blocks=4: two chunks of 3 blocks per rank and round
    assert per_round == 6
    one = [c for c in round_chunks(stream, round_blocks(stream.heldout, 0, 1, per_round), 0, 1, 0) if not isinstance(c, RoundEnd)]
    # The single process's chunks, cut at the round ends (a held-out block in a chunk's last place joins
    # that chunk to the next one there, and a round must end at its last block).
    cut = [(c.first_block, c.block) for c in plain if c.first_block // per_round == c.block // per_round]
    assert [(c.first_block, c.block) for c in one if (c.first_block, c.block) in cut] == cut
    assert len(cut) == len(plain) - (17 in heldout)  # 8 ends a chunk (6-11 then), 17 a chunk and round 2 (15-20 is cut)
    same = [c for c in one if (c.first_block, c.block) in cut]
    assert all(torch.equal(a.tokens, b.tokens) for a, b in zip(same, [c for c in plain if (c.first_block, c.block) in cut]))
    assert np.array_equal(np.concatenate([c.tokens for c in one]), np.concatenate([c.tokens for c in plain]))
    # Two ranks: every trained block once, in chunks of the rank's blocks, each round closed by a marker.
    seen, ends = [], []
    for rank in range(2):
        items = list(round_chunks(stream, round_blocks(stream.heldout, rank, 2, per_round), rank, 2, 0))
        ends.append([c.start[0][0] for c in items if isinstance(c, RoundEnd)])
        for c in items:
            if not isinstance(c, RoundEnd):
                blocks = [b for b in range(c.first_block, c.block + 1, 2) if not stream.heldout[b]]
                assert len(blocks) <= 2 * 3 - 1 and all(b % 2 == rank for b in blocks)  # two chunks joined at most
                seen += blocks
    assert ends[0] == ends[1] == list(range(2 * per_round, stream.n_blocks, 2 * per_round)) + [stream.n_blocks]  # same rounds on both ranks
    assert sorted(seen) == [b for b in range(stream.n_blocks) if not stream.heldout[b]]


def test_a_resume_off_the_chunk_grid_still_trains_whole_chunks(tmp_path):
    # A single process stopped after block 2 (chunks of 3 blocks); 2 ranks take it up at block 3, where rank 1's
    # block index is 1: counted from the round's start, every round is still 2 whole chunks of 3 blocks per rank.
    stream = _stream(tmp_path, ())
    stream.set_epoch(0)
    per_round = blocks_per_round(4, 3)
    for rank in range(2):
        rounds = round_blocks(stream.heldout, rank, 2, per_round, (3, 0))
        chunks = [c for c in round_chunks(stream, rounds, rank, 2, 3) if not isinstance(c, RoundEnd)]
        sizes = [len(range(c.first_block, c.block + 1, 2)) for c in chunks]
        assert sizes[:-2] == [3] * (len(sizes) - 2) and chunks[0].first_block == 3 + (rank == 0)
        assert sum(sizes) == len(range(3 + (rank == 0), stream.n_blocks, 2))


# ---------------------------------------------------------------- training in the interpreter


def _chunk_worker(rank: int, world: int, overrides: list[str], run_dir: str, kill_rank: int | None = None) -> dict:
    """Train (SIGTERM rank ``kill_rank`` after its first chunk); return each chunk's (epoch, blocks, loss, examples)
    as this rank trained it, the final tables and the metrics."""
    from w2v.engines.triton_engine import TritonEngine
    from w2v.train import trainer as tr

    steps: list[tuple[int, list[int], float, int]] = []
    step = TritonEngine.step

    def recording_step(self, chunk, lr, lr_end):
        out = step(self, chunk, lr, lr_end)
        loss, examples = out.tolist()
        steps.append((int(chunk.epoch), list(range(chunk.first_block, chunk.block + 1, world)), loss, int(examples)))
        if rank == kill_rank and len(steps) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler would: the handler sets the stop flag
        return out

    tables: dict = {}
    finish = tr.Trainer.finish

    def keep_tables(self):
        tables.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return finish(self)

    TritonEngine.step, tr.Trainer.finish = recording_step, keep_tables
    try:
        metrics, interrupted = tr.train(compose_train_cfg(overrides), run_dir, explicit=[]), False
    except KeyboardInterrupt:
        metrics, interrupted = None, True
    return {"steps": steps, "tables": tables, "metrics": metrics, "interrupted": interrupted}


def test_two_ranks_train_average_and_rank_0_writes_the_vectors(tmp_path):
    from gensim.models import KeyedVectors

    overrides = _overrides(tmp_path, epochs=1)
    run = tmp_path / "run"
    results = all_ok(spawn(_chunk_worker, 2, overrides, str(run), deadline=3 * DEADLINE), 2)
    for key in results[0]["tables"]:  # the epoch-end full average leaves identical replicas
        assert np.array_equal(results[0]["tables"][key], results[1]["tables"][key]), key
    m = results[0]["metrics"]
    assert m["engine"] == "triton" and m["world_size"] == 2 and m["words_done"] == N_SENTENCES * LENGTH
    assert m["sync_rounds"] == 3  # 9 blocks in rounds of 2 x 2: blocks 0-3, 4-7, 8 (rank 1 has none in the last)
    n_rows = len((run / "vocab.tsv").read_text().splitlines())
    assert m["sync_bytes"] == 3 * 2 * n_rows * 8 * 4  # every round averages both tables in full (fewer rows than dist.hot_rows)
    # The rounds' all-reduce summed the device-side (loss, examples) of every chunk on both ranks.
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    steps = results[0]["steps"] + results[1]["steps"]
    assert state["progress"]["pairs_total"] == sum(s[3] for s in steps) > 0
    loss, examples = (sum(s[k] for s in steps) for k in (2, 3))
    assert m["epoch_loss"] == [pytest.approx(loss / examples, rel=1e-9)]
    assert m["epoch_loss"][0] < 2 * np.log(2)  # trained: below the loss of zero output vectors, (1 + negatives) ln 2
    assert sorted(b for s in steps for b in s[1]) == list(range(9))  # each block once, on rank b mod 2
    assert all(b % 2 == rank for rank in range(2) for s in results[rank]["steps"] for b in s[1])
    assert load_bench("gpu").log_backend((run / "train.log").read_text()) == "gloo"  # what bench/gpu.py's torchrun row reads
    kv = KeyedVectors.load_word2vec_format(str(run / "vectors.bin"), binary=True)
    assert len(kv) == n_rows and np.allclose(kv[kv.index_to_key[0]], results[0]["tables"]["in_embed.weight"][0])
    assert not any(p.name.startswith("corpus.") for p in run.iterdir())


def test_world_size_one_is_bit_for_bit_the_single_process_triton_run(tmp_path):
    """One rank's rounds are whole chunks at the single process's chunk boundaries, with the same seeds
    (first block) and the same rate at both ends of each chunk (lr_scale is 1 for one rank), and the
    interpreter runs a launch's programs one after another: the tables are equal bit for bit."""
    from w2v.train.trainer import train

    overrides = _overrides(tmp_path, epochs=1)
    plain = train(compose_train_cfg(overrides), tmp_path / "plain", explicit=[])
    plain_tables = torch.load(tmp_path / "plain" / "checkpoint.pt", weights_only=True)["model"]
    (one,) = all_ok(spawn(_chunk_worker, 1, overrides, str(tmp_path / "one"), deadline=2 * DEADLINE), 1)
    assert one["metrics"]["world_size"] == 1 and one["metrics"]["sync_rounds"] == 5  # 9 blocks in rounds of 2
    for key, value in plain_tables.items():
        assert np.array_equal(one["tables"][key], value.numpy()), key
    assert one["metrics"]["words_done"] == plain["words_done"]
    assert one["metrics"]["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-9)


# In the slow set to hold the default run near 5 minutes: the stop-after-a-round and any-world-size resume logic is
# the engine-independent round loop's (tests/test_dist_shards.py, SIGTERM then 2 -> 1 with numba), and a chunk
# resume's cutting is checked by test_a_resume_off_the_chunk_grid_still_trains_whole_chunks above.
@pytest.mark.slow
def test_sigterm_on_one_rank_then_a_single_process_resume_trains_every_block_once(tmp_path, monkeypatch):
    from w2v.engines.triton_engine import TritonEngine
    from w2v.train.trainer import Trainer

    overrides = _overrides(tmp_path)
    run = tmp_path / "run"
    results = all_ok(spawn(_chunk_worker, 2, overrides, str(run), 1, deadline=3 * DEADLINE), 2)
    assert [r["interrupted"] for r in results] == [True, True]  # rank 1 got SIGTERM after its first chunk; both stopped
    before = [(e, b) for r in results for e, blocks, _, _ in r["steps"] for b in blocks]
    assert sorted(before) == [(0, b) for b in range(4)]  # round 1: blocks 0, 2 on rank 0 and 1, 3 on rank 1
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["progress"]["start"] == {"0": [4, 0]} and state["dist_world_size"] == 2
    assert state["progress"]["words_done"] == 4 * BLOCK - 4 * BLOCK // (LENGTH + 1)  # 4 blocks of ids, less the sentence separators
    for name in ("train.log", "train.rank1.log"):
        assert "interrupted: all ranks stopped after the same round" in (run / name).read_text()
    # 2 -> 1: a single process (no torchrun) continues at block 4 over the same shard files.
    monkeypatch.setattr(TritonEngine, "step", TritonEngine.step)  # restored after the test: _chunk_worker patches both
    monkeypatch.setattr(Trainer, "finish", Trainer.finish)
    after = _chunk_worker(0, 1, [*overrides, f"resume={run}"], str(run))
    assert not after["interrupted"]
    done = before + [(e, b) for e, blocks, _, _ in after["steps"] for b in blocks]
    assert sorted(done) == [(e, b) for e in range(2) for b in range(9)]  # every block of both epochs, exactly once
    assert min(b for e, b in done[len(before) :] if e == 0) == 4
    assert after["metrics"]["words_done"] == 2 * N_SENTENCES * LENGTH


@pytest.mark.slow
def test_torchrun_train_py_with_the_triton_engine_writes_one_run_directory(tmp_path):
    """As a user runs it: ``torchrun --nproc_per_node=2 train.py engine=triton`` (gloo, the interpreter on CPU)."""
    import json
    import subprocess

    from gensim.models import KeyedVectors
    from helpers import TRAIN_PY

    run = tmp_path / "run"
    args = [*_overrides(tmp_path, epochs=1), f"hydra.run.dir={run}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV)}
    env["TRITON_INTERPRET"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TRAIN_PY), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["engine"] == "triton" and metrics["world_size"] == 2 and metrics["words_done"] == N_SENTENCES * LENGTH
    assert "backend gloo" in (run / "train.rank1.log").read_text()
    kv = KeyedVectors.load_word2vec_format(str(run / "vectors.bin"), binary=True)
    assert len(kv) == len((run / "vocab.tsv").read_text().splitlines())
