"""torchrun data side (w2v/train/dist.py, w2v/data/idshards.py): sharded reading, the global block
layout, and resume with another world size (2 -> 1, 1 -> 2), interrupted by a real SIGTERM.

The multi-process tests use tests/helpers/dist.py's ``spawn`` (explicit deadlines: a hang fails).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_train_cfg, make_quick_overrides, make_synthetic_text
from helpers.dist import all_ok, spawn

from w2v.data import sources
from w2v.data.corpus import iter_sentences
from w2v.data.idshards import IdShards, rewrite_as_vocab_ids, vocab_identity
from w2v.data.tokenizers import RegexTokenizer
from w2v.errors import W2VError
from w2v.train import dist as wdist
from w2v.train.resume import resume_id_files
from w2v.train.rounds import round_blocks

# ---------------------------------------------------------------- the global block layout


@pytest.mark.parametrize(("world", "per_rank", "start"), [(1, 1, (0, 0)), (2, 1, (0, 0)), (3, 2, (0, 0)), (2, 3, (5, 2)), (4, 1, (7, 0))])
def test_rounds_give_block_b_to_rank_b_mod_w_and_every_block_once(world, per_rank, start):
    heldout = np.zeros(23, dtype=bool)
    heldout[[3, 11, 12]] = True
    per_rank_rounds = [round_blocks(heldout, r, world, per_rank, start) for r in range(world)]
    assert len({len(r) for r in per_rank_rounds}) == 1  # every rank the same number of rounds: no collective needed
    seen = []
    for rank, rounds in enumerate(per_rank_rounds):
        for j, rnd in enumerate(rounds):
            lo = start[0] + j * per_rank * world
            assert rnd.next_block == min(lo + per_rank * world, 23)  # the prefix a checkpoint after this round has done
            for block, skip in rnd.blocks:
                assert block % world == rank and lo <= block < rnd.next_block
                assert skip == (start[1] if block == start[0] else 0)
                seen.append(block)
    assert sorted(seen) == [b for b in range(start[0], 23) if not heldout[b]]


# ---------------------------------------------------------------- shard files read as one corpus


def test_shard_files_read_as_their_concatenation_across_boundaries_and_empty_shards(tmp_path):
    parts = [np.arange(lo, hi, dtype=np.int32) for lo, hi in [(0, 7), (7, 7), (7, 12), (12, 13)]]  # the second shard is empty
    paths = []
    for i, part in enumerate(parts):
        paths.append(tmp_path / f"s{i}.ids")
        part.tofile(paths[-1])
    ids = IdShards(paths)
    whole = np.concatenate(parts)
    assert ids.n_ids == 13 and ids.sizes == [7, 0, 5, 1]
    for start in range(14):
        for count in (1, 3, 5, 20):
            assert np.array_equal(ids.read(start, count), whole[start : start + count]), (start, count)


def test_a_shard_is_rewritten_as_vocabulary_ids_keeping_dropped_words_in_place(tmp_path):
    src, dst = tmp_path / "raw.ids", tmp_path / "vocab.ids"
    np.array([0, 1, -1, 2, 0, -1], dtype=np.int32).tofile(src)
    remap = np.array([1, -1, 0], dtype=np.int32)  # provisional 1 dropped (below min_count)
    rewrite_as_vocab_ids(src, dst, remap, oov_id=2)
    out = np.fromfile(dst, dtype=np.int32)
    assert out.tolist() == [1, 2, -1, 0, 1, -1]
    assert vocab_identity(2)[out[out >= 0]].tolist() == [1, -1, 0, 1]  # the stream's mapping: 2 -> dropped


# ---------------------------------------------------------------- each rank reads only its share


def test_a_rank_tokenises_only_its_own_lines_and_pieces_of_long_lines(tmp_path, monkeypatch):
    lines = [f"Line{i} a{i} b{i}" for i in range(9)] + [" ".join(f"Long{j}" for j in range(60))]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(sources, "READ_CHUNK", 64)  # the long line comes in several pieces
    cfg = compose_train_cfg(["corpus=text", f"corpus.path={path}"]).corpus
    seen: list[str] = []
    call = RegexTokenizer.__call__
    monkeypatch.setattr(RegexTokenizer, "__call__", lambda self, text: seen.append(text) or call(self, text))
    whole = list(iter_sentences(cfg))
    assert list(iter_sentences(cfg, shard=(0, 1))) == whole  # one rank: the corpus itself
    shares = []
    for rank in range(3):
        seen.clear()
        shares.append(list(iter_sentences(cfg, shard=(rank, 3))))
        assert all(t.startswith(f"Line{i}") for t, i in zip(seen, range(rank, 9, 3)))  # its lines, never the others'
        assert sum("Line" in t for t in seen) == 3
    tokens = Counter(t for share in shares for s in share for t in s)
    assert tokens == Counter(t for s in whole for t in s)
    assert all(any(t.startswith("long") for s in share for t in s) for share in shares)  # the long line is shared out


@pytest.mark.parametrize("n_files", [2, 3])
def test_corpus_hf_streaming_rank_reads_whole_shards_or_every_wth_row(tmp_path, n_files):
    rows = [[f"r{f}x{i}", "w"] for f in range(n_files) for i in range(4)]
    (tmp_path / "d").mkdir()
    for f in range(n_files):
        (tmp_path / "d" / f"part{f}.txt").write_text("".join(" ".join(r) + "\n" for r in rows[4 * f : 4 * f + 4]))
    cfg = compose_train_cfg(["corpus=hf", f"corpus.path={tmp_path / 'd'}"]).corpus
    assert cfg.streaming and list(iter_sentences(cfg)) == rows
    shares = [list(iter_sentences(cfg, shard=(r, 2))) for r in range(2)]
    if n_files == 2:  # 2 shards (files) over 2 ranks: each rank reads one file only
        assert shares == [rows[:4], rows[4:]]
    else:  # 3 shards: datasets keeps every 2nd row
        assert shares == [rows[0::2], rows[1::2]]


# ---------------------------------------------------------------- the resume record


def test_resume_names_a_missing_or_changed_shard_and_an_old_torchrun_checkpoint(tmp_path):
    state = {"id_files": ["corpus.shard0.ids", "corpus.shard1.ids"], "id_sizes": [3, 2], "dist_world_size": 2}
    np.zeros(3, dtype=np.int32).tofile(tmp_path / "corpus.shard0.ids")
    with pytest.raises(W2VError, match="corpus.shard1.ids is missing"):
        resume_id_files(state, tmp_path)
    np.zeros(1, dtype=np.int32).tofile(tmp_path / "corpus.shard1.ids")
    with pytest.raises(W2VError, match="holds 1 ids, not the 2 the checkpoint recorded"):
        resume_id_files(state, tmp_path)
    np.zeros(2, dtype=np.int32).tofile(tmp_path / "corpus.shard1.ids")
    assert [p.name for p in resume_id_files(state, tmp_path)] == state["id_files"]
    with pytest.raises(W2VError, match="before resumable shards existed"):
        resume_id_files({"dist_world_size": 2}, tmp_path)
    np.zeros(2, dtype=np.int32).tofile(tmp_path / "corpus.ids")
    assert resume_id_files({}, tmp_path) == [tmp_path / "corpus.ids"]  # single-process checkpoints from before the record
    ctx = wdist.DistContext(rank=0, world=2, enabled=True)
    with pytest.raises(W2VError, match="workers=2, each DataLoader worker.*python train.py resume="):
        wdist.check_resumable({"config": {"workers": 2}, "progress": {"start": {"0": [4, 1]}}}, tmp_path, ctx)
    wdist.check_resumable({"config": {"workers": 2}}, tmp_path, wdist.SINGLE)  # a single process resumes it
    wdist.check_resumable({"config": {"workers": 0}, "progress": {"start": {"0": [4, 1]}}}, tmp_path, ctx)


# ---------------------------------------------------------------- SIGTERM, then resume with another world size


def _record_steps(cfg, kill_after: int | None = None, setattr=setattr) -> list[tuple[int, int, int]]:
    """Record the (epoch, block, batch) of every batch the engine trains; SIGTERM this process after ``kill_after``."""
    from w2v.engines import select_engine

    cls = select_engine(cfg, torch.device("cpu"))
    steps: list[tuple[int, int, int]] = []
    step = cls.step

    def recording_step(self, batch, lr, lr_end):
        steps.append((int(batch.epoch), int(batch.block), int(batch.batch)))
        if len(steps) == kill_after:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler or `kill` would: the handler sets the stop flag
        return step(self, batch, lr, lr_end)

    setattr(cls, "step", recording_step)
    return steps


def _steps_worker(rank: int, world: int, overrides: list[str], run_dir: str, kill_rank: int | None) -> dict:
    import numba

    from w2v.train import trainer as tr
    from w2v.train.callbacks import Callback

    cfg = compose_train_cfg(overrides)
    steps = _record_steps(cfg, kill_after=1 if rank == kill_rank else None)
    made = []

    class Keep(Callback):
        def on_fit_start(self, trainer):
            made.append(trainer)

    try:
        metrics, interrupted = tr.train(cfg, run_dir, explicit=[], callbacks=[Keep()]), False
    except KeyboardInterrupt:
        metrics, interrupted = None, True
    vocab = made[0].vocab
    return {"steps": steps, "interrupted": interrupted, "metrics": metrics, "vocab": (vocab.words, vocab.counts.tolist()),
            "threads": numba.get_num_threads()}  # fmt: skip


def _corpus_and_overrides(tmp_path: Path) -> tuple[str, list[str]]:
    text = make_synthetic_text(n_sentences=100, n_words=40, length=20, seed=8)
    corpus = tmp_path / "c.txt"
    corpus.write_text(text)
    # engine=numba: the single-process reference then trains the same block rounds as the ranks (auto would pick hogwild)
    return text, make_quick_overrides(corpus, block_tokens=256, batch_size=64, epochs=2, engine="numba", **{"dist.timeout_s": 30})


def _plain_steps(tmp_path: Path, overrides: list[str], monkeypatch) -> tuple[list, dict]:
    from w2v.train.trainer import train

    cfg = compose_train_cfg(overrides)
    steps = _record_steps(cfg, setattr=monkeypatch.setattr)
    metrics = train(cfg, tmp_path / "plain", explicit=[])
    return steps, metrics


def _check_every_batch_once(before: list, after: list, plain: list) -> None:
    """The interrupted and the resumed run together trained every block of every epoch exactly once, in whole."""
    counts = Counter(before + after)
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1][:5]
    blocks = {(e, b) for e, b, _ in counts}
    assert blocks == {(e, b) for e, b, _ in plain}  # the plain run's blocks, no more, no fewer
    for e, b in blocks:
        batches = sorted(k for ee, bb, k in counts if (ee, bb) == (e, b))
        assert batches == list(range(len(batches))), (e, b)


def test_sigterm_on_one_rank_stops_both_after_one_checkpoint_and_the_run_resumes_in_one_process(tmp_path, monkeypatch):
    from w2v.train.trainer import train

    text, overrides = _corpus_and_overrides(tmp_path)
    run = tmp_path / "run"
    results = all_ok(spawn(_steps_worker, 2, [*overrides, "threads=0"], str(run), 1), 2)
    assert [r["interrupted"] for r in results] == [True, True]  # rank 1 got SIGTERM; both stopped
    # Sharded counting: both ranks hold the identical vocabulary, the whole corpus's counts.
    assert results[0]["vocab"] == results[1]["vocab"]
    assert dict(zip(*results[0]["vocab"])) == Counter(text.split())
    assert [r["threads"] for r in results] == [max(1, (os.cpu_count() or 1) // 2)] * 2  # threads=0: cores / local ranks, set for numba
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert not state["progress"]["done"] and state["dist_world_size"] == 2
    assert state["progress"]["start"] == {"0": [2, 0]}  # stopped after round 0: global blocks 0 and 1 are done
    for rank, r in enumerate(results):
        assert {b for _, b, _ in r["steps"]} == {rank}  # block b on rank b mod 2
    for name in ("train.log", "train.rank1.log"):
        assert "interrupted: all ranks stopped after the same round" in (run / name).read_text()
    n_blocks = -(-sum(state["id_sizes"]) // 256)
    # 2 -> 1: a single process continues at global block 2 of epoch 1 over the same shard files.
    cfg = compose_train_cfg([*overrides, f"resume={run}"])
    after = _record_steps(cfg, setattr=monkeypatch.setattr)
    metrics = train(cfg, explicit=[])
    # The plain run's blocks (the 1 -> 2 test trains one to compare; here the shards' length gives them).
    plain = [(e, b, 0) for e in range(2) for b in range(n_blocks)]
    _check_every_batch_once(results[0]["steps"] + results[1]["steps"], after, plain)
    assert min(b for e, b, _ in after if e == 0) == 2
    assert metrics["words_done"] == 2 * len(text.split())
    assert not any(p.name.startswith("corpus.") for p in run.iterdir())  # the finished run removed every shard


@pytest.mark.slow
def test_a_single_process_run_interrupted_mid_block_resumes_on_two_ranks(tmp_path, monkeypatch):
    from w2v.train.trainer import train

    text, overrides = _corpus_and_overrides(tmp_path)
    run = tmp_path / "run"
    plain, plain_metrics = _plain_steps(tmp_path, overrides, monkeypatch)
    monkeypatch.undo()
    # Stop after a batch that is not its block's last: a mid-block position, which the owning rank resumes.
    kill_after = next(i + 1 for i in range(len(plain) - 1) if plain[i + 1][1:] == (plain[i][1], plain[i][2] + 1) and plain[i][1] > 0)
    cfg = compose_train_cfg(overrides)
    before = _record_steps(cfg, kill_after=kill_after, setattr=monkeypatch.setattr)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run, explicit=[])
    block, batch = torch.load(run / "checkpoint.pt", weights_only=True)["progress"]["start"]["0"]
    assert batch > 0 and block > 0
    results = all_ok(spawn(_steps_worker, 2, [*overrides, f"resume={run}"], str(run), None), 2)
    after = results[0]["steps"] + results[1]["steps"]
    _check_every_batch_once(before, after, plain)
    assert (0, block, batch) in after and (0, block, batch - 1) not in after
    assert results[0]["metrics"]["words_done"] == plain_metrics["words_done"] == 2 * len(text.split())
