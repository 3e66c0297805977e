"""torchrun data-parallel training (w2v/train/dist.py), on CPU with gloo.

Ranks are spawned on localhost with ``torch.multiprocessing`` (spawn; tests/helpers/dist.py) and the torchrun environment
(RANK, WORLD_SIZE, MASTER_ADDR, a free MASTER_PORT); the end-to-end test runs ``torchrun`` itself.
Every multi-process test has an explicit deadline, so a hang fails instead of blocking CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TRAIN_PY, compose_train_cfg, free_port, make_quick_overrides, make_synthetic_text
from helpers.dist import all_ok, setup_gloo, spawn

from w2v.errors import W2VError
from w2v.train import dist as wdist
from w2v.train.sync_schedule import rows_at_round

# ---------------------------------------------------------------- the averaging math


def _collectives_worker(rank: int, world: int, sentences: list[list[str]], tmp: str, max_tokens: int) -> dict:
    """One process group for the averaging math and the vocabulary merge (a spawn costs seconds)."""
    ctx = setup_gloo()
    try:
        # Each rank's Hydra may resolve its own timestamped directory: all take rank 0's, rank 1 drops its own.
        own = Path(tmp) / f"run{rank}"
        (own / ".hydra").mkdir(parents=True)
        (own / ".hydra" / "config.yaml").write_text("x: 1\n")
        shared = str(wdist.shared_run_dir(ctx, own))
        return {"average": _average(ctx, rank), "vocab": _vocab(ctx, rank, sentences, tmp, max_tokens), "run_dir": (shared, own.exists())}
    finally:
        wdist.shutdown(ctx)


SENTENCES = [s.split() for s in make_synthetic_text(n_sentences=41, n_words=60, length=9, seed=4).splitlines()]
MAX_TOKENS = 300  # a prefix: cut once for the whole corpus, then shared out


@pytest.fixture(scope="module")
def collectives(tmp_path_factory) -> list[dict]:
    """Each rank's results of :func:`_collectives_worker` on 2 ranks."""
    return all_ok(spawn(_collectives_worker, 2, SENTENCES, str(tmp_path_factory.mktemp("ids")), MAX_TOKENS), 2)


def _average(ctx: wdist.DistContext, rank: int) -> dict:
    a = torch.arange(12, dtype=torch.float32).reshape(4, 3) * (rank + 1)  # (V, D)
    b = torch.full((4, 3), float(rank))
    view = a.numpy()  # what numba holds: a view of the same storage
    ptr = a.data_ptr()
    avg = wdist.TableAverager(ctx, [a, b, torch.zeros(0, 3)])
    sent = avg.average()
    full = (a.clone(), b.clone(), view.copy(), a.data_ptr() == ptr, sent)
    # A band: the 2 hottest rows of each table, the first rows of a word table and the last of an hs table.
    c = torch.full((4, 2), float(10 * (rank + 1)))
    h = torch.arange(6, dtype=torch.float32).reshape(3, 2) + 100 * rank  # (V-1, D) inner nodes, root last
    hot = wdist.TableAverager(ctx, [c], hot_last=[h])
    sent_hot = hot.average(rows=2)
    band = (c.clone(), h.clone(), sent_hot, hot.bytes(2), hot.bytes(), hot.n_rows)
    # Replicas that differ everywhere are identical after a full average, equal to the mean of the replicas.
    g = torch.Generator().manual_seed(rank)
    x, y = torch.randn(50, 7, generator=g), torch.randn(49, 7, generator=g)
    before = (x.clone(), y.clone())
    wdist.TableAverager(ctx, [x], hot_last=[y]).average(rows=None)
    sums = wdist.all_reduce_sum(ctx, [rank + 1.0, 2.5])
    return {"full": full, "hot": band, "replicas": (before, (x, y)), "sums": sums, "deltas": _deltas(ctx, rank)}


def _deltas(ctx: wdist.DistContext, rank: int) -> list[np.ndarray]:
    """dist.merge=deltas: replicas start at their mean, then each round adds every replica's change since the row's last merge."""
    t = torch.full((4, 2), float(rank))  # different on each rank until the averager equalises them: 0.5 everywhere
    h = torch.full((3, 2), float(rank))  # an hs inner-node table: its hottest rows are its last (the root's end)
    merger = wdist.TableAverager(ctx, [t], hot_last=[h], merge="deltas")
    seen = [t.numpy().copy(), h.numpy().copy()]
    t[rank] += rank + 1.0  # row 0 +1 on rank 0, row 1 +2 on rank 1
    t[2:] += 1.0  # rows 2-3 +1 on both ranks
    h[0] += 1.0  # far from the root: outside the band
    h[2] += rank + 1.0  # the root: in the band
    merger.average(rows=2)  # the 2 hottest rows only: rows 2-3 of t and row 0 of h keep each rank's own change
    seen += [t.numpy().copy(), h.numpy().copy()]
    t[3] += 10.0 * (rank + 1)  # more change in a row not merged since the start
    merger.average()
    seen += [t.numpy().copy(), h.numpy().copy()]
    return seen


def test_averaging_is_an_in_place_mean_of_both_tables_and_of_the_hot_prefix(collectives):
    results = [r["average"] for r in collectives]
    base = np.arange(12, dtype=np.float32).reshape(4, 3)
    want_a = (base * 1 + base * 2) / 2
    for r in results:
        a, b, view, same_storage, sent = r["full"]
        assert np.array_equal(a, want_a) and np.array_equal(b, np.full((4, 3), 0.5))
        assert np.array_equal(view, want_a) and same_storage  # numba's views see the average
        assert sent == 2 * 4 * 3 * 4  # both tables, float32; the empty table is skipped
        c, h, sent_hot, hot_bytes, full_bytes, n_rows = r["hot"]
        assert np.array_equal(c[:2], np.full((2, 2), 15.0))
        assert np.array_equal(h[1:], np.arange(2, 6, dtype=np.float32).reshape(2, 2) + 50)  # the last 2 rows: the mean
        assert sent_hot == hot_bytes == 2 * (2 * 2 * 4) and full_bytes == (4 + 3) * 2 * 4 and n_rows == 4
        assert r["sums"] == [3.0, 5.0]
    # The band touched only its rows: the rest keeps each rank's own values, bit for bit.
    for rank, value in enumerate((10.0, 20.0)):
        c, h = results[rank]["hot"][:2]
        assert np.array_equal(c[2:], np.full((2, 2), value))
        assert np.array_equal(h[0], np.array([0.0, 1.0]) + 100 * rank)


def test_merging_deltas_sums_every_replicas_change_since_each_rows_last_merge(collectives):
    start, start_h, banded, banded_h, full, full_h = zip(*(r["average"]["deltas"] for r in collectives))
    for rank in range(2):
        assert np.array_equal(start[rank], np.full((4, 2), 0.5)) and np.array_equal(start_h[rank], np.full((3, 2), 0.5))
        # hs rows: the root (last) gets both ranks' changes (+1 +2); row 0 keeps its own +1 until the full merge adds both.
        assert np.array_equal(banded_h[rank], np.array([[1.5] * 2, [0.5] * 2, [3.5] * 2], dtype=np.float32))
        assert np.array_equal(full_h[rank], np.array([[2.5] * 2, [0.5] * 2, [3.5] * 2], dtype=np.float32))
        # Rows 0-1: 0.5 + rank 0's +1 / rank 1's +2 (the other rank's delta there is 0); rows 2-3 not merged yet.
        assert np.array_equal(banded[rank], np.array([[1.5] * 2, [2.5] * 2, [1.5] * 2, [1.5 + 0] * 2], dtype=np.float32))
        # The full merge adds both ranks' changes since the start: row 2 +1 +1, row 3 +1+10 and +1+20.
        assert np.array_equal(full[rank], np.array([[1.5] * 2, [2.5] * 2, [2.5] * 2, [32.5] * 2], dtype=np.float32))


def test_a_full_average_leaves_identical_replicas_equal_to_the_mean(collectives):
    (before0, after0), (before1, after1) = (r["average"]["replicas"] for r in collectives)
    for k in range(2):
        assert not np.array_equal(before0[k], before1[k])
        assert np.array_equal(after0[k], after1[k])  # bit for bit: every rank divides the same sum
        np.testing.assert_allclose(after0[k], (before0[k] + before1[k]) / 2, rtol=1e-6, atol=1e-7)


def test_every_rank_takes_rank_0s_run_directory_and_drops_its_own_empty_one(collectives):
    (dir0, kept0), (dir1, kept1) = (r["run_dir"] for r in collectives)
    assert dir0 == dir1 and Path(dir0).name == "run0"
    assert kept0 and not kept1


# ---------------------------------------------------------------- the vocabulary


def _vocab(ctx: wdist.DistContext, rank: int, sentences: list[list[str]], tmp: str, max_tokens: int | None) -> tuple:
    from w2v.data.prepare import shard_sentences
    from w2v.data.rank_counts import merged_vocab
    from w2v.data.vocab import SENTENCE_END, encode_corpus
    from w2v.train.collectives import TorchCollectives

    encoded = encode_corpus(shard_sentences(sentences, ctx.rank, ctx.world, max_tokens), Path(tmp) / f"r{rank}.ids")
    vocab = merged_vocab(encoded, min_count=2, max_vocab=None, base=None, comm=TorchCollectives(ctx))
    ids = np.fromfile(encoded.path, dtype=np.int32)
    decoded = [vocab.words[vocab.remap[i]] if vocab.remap[i] >= 0 else None for i in ids[ids != SENTENCE_END]]
    return vocab.words, vocab.counts.tolist(), decoded, encoded.n_tokens


def test_every_rank_gets_the_identical_vocabulary_merged_by_word(collectives):
    sentences, max_tokens = SENTENCES, MAX_TOKENS
    results = [r["vocab"] for r in collectives]
    (words0, counts0, _, n0), (words1, counts1, _, n1) = results
    assert words0 == words1 and counts0 == counts1  # same words, same ids, same counts
    prefix = [w for s in sentences for w in s][:max_tokens]
    assert n0 + n1 == max_tokens
    want = {w: c for w, c in Counter(prefix).items() if c >= 2}
    assert dict(zip(words0, counts0)) == want
    assert counts0 == sorted(counts0, reverse=True)
    # Each rank's id file holds sentence i mod 2 == rank of the prefix, and its remap decodes it.
    cut, n = [], 0
    for s in sentences:
        take = s[: max(0, max_tokens - n)]
        n += len(take)
        if take:
            cut.append(take)
    for rank, (_, _, decoded, _) in enumerate(results):
        mine = [w for s in cut[rank::2] for w in s]
        assert decoded == [w if w in want else None for w in mine]


# ---------------------------------------------------------------- training: one rank, uneven shards, replicas


def _train_worker(rank: int, world: int, overrides: list[str], run_dir: str) -> dict:
    from w2v.train import trainer as tr
    from w2v.train.callbacks import Callback

    finish = tr.Trainer.finish
    tables: dict = {}

    def keep_tables(self):  # the final tables of this rank, after the last full average
        tables.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return finish(self)

    lrs: list[float] = []
    shards: list[int] = []

    class KeepLr(Callback):  # the learning rate the ranks trained at, logged on rank 0 after each round
        def on_log(self, trainer, scalars):
            lrs.append(scalars["train/lr"])

    def keep_shards(self):  # the shard sizes, before rank 0 removes the files
        shards.extend(self.stream.ids.sizes)
        return keep_tables(self)

    tr.Trainer.finish = keep_shards
    metrics = tr.train(compose_train_cfg(overrides), run_dir, callbacks=[KeepLr()])
    return {"metrics": metrics, "tables": tables, "lrs": lrs, "shards": shards}


def test_world_size_one_is_bit_for_bit_the_single_process_run(tmp_path):
    from w2v.train.trainer import train

    corpus = tmp_path / "c.txt"
    corpus.write_text(make_synthetic_text(n_sentences=120, n_words=50, length=20, seed=1))
    overrides = make_quick_overrides(corpus, block_tokens=512, epochs=2, engine="numba")  # the block rounds (engine=auto: hogwild alone)
    plain = train(compose_train_cfg(overrides), tmp_path / "plain")
    plain_tables = torch.load(tmp_path / "plain" / "checkpoint.pt", weights_only=True)["model"]
    (one,) = all_ok(spawn(_train_worker, 1, overrides, str(tmp_path / "one")), 1)
    assert one["metrics"]["world_size"] == 1 and one["metrics"]["sync_rounds"] > 2  # went through the rounds
    for key, value in plain_tables.items():
        assert np.array_equal(one["tables"][key], value.numpy()), key
    assert one["metrics"]["words_done"] == plain["words_done"]
    assert one["metrics"]["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-9)
    assert (tmp_path / "one" / "vocab.tsv").read_text() == (tmp_path / "plain" / "vocab.tsv").read_text()


# The default run keeps merge=deltas: the uneven rounds and the bands do not depend on the merge, and averaging is
# checked exactly above and end to end by the torchrun test below; merge=average and hs run in the slow set.
@pytest.mark.parametrize(
    ("objective", "merge"),
    [
        pytest.param("ns", "average", marks=pytest.mark.slow),
        ("ns", "deltas"),
        pytest.param("hs", "average", marks=pytest.mark.slow),
        pytest.param("hs", "deltas", marks=pytest.mark.slow),  # the inner-node table merges from its root's end
    ],
)
def test_uneven_shards_finish_with_identical_replicas(tmp_path, objective, merge):
    # Even lines are long, odd lines short: rank 0 gets ~10x the blocks of rank 1.
    lines = make_synthetic_text(n_sentences=80, n_words=30, length=40, seed=2).splitlines()
    text = "\n".join(line if i % 2 == 0 else " ".join(line.split()[:4]) for i, line in enumerate(lines)) + "\n"
    corpus = tmp_path / "c.txt"
    corpus.write_text(text)
    overrides = make_quick_overrides(corpus, block_tokens=128, epochs=2, **{"dist.hot_rows": 5, "dist.full_every": 3, "dist.merge": merge})
    if objective == "hs":  # the inner-node table's hot rows are its last (the root's end)
        overrides += ["hs=true", "negatives=0"]
    results = all_ok(spawn(_train_worker, 2, overrides, str(tmp_path / "run")), 2)
    for key in results[0]["tables"]:
        assert np.array_equal(results[0]["tables"][key], results[1]["tables"][key]), key
    m0, m1 = results[0]["metrics"], results[1]["metrics"]
    # Rank 0's shard is ~10x rank 1's, but global block b goes to rank b mod 2: each round is 2 blocks.
    shards = results[0]["shards"]
    assert shards[0] > 5 * shards[1] > 0
    n_blocks = -(-sum(shards) // 128)
    assert m0["sync_rounds"] == m1["sync_rounds"] == 2 * -(-n_blocks // 2)
    n_tokens = len(text.split())
    assert m0["words_done"] == m1["words_done"] == 2 * n_tokens  # global words, min_count=1, no held-out block
    # Trained: below the untrained loss, (1 + negatives) ln 2 with zero output vectors. (Not "epoch 2 below
    # epoch 1": averaging every 128-token block halves each rank's steps, and 1,800 tokens barely move then.)
    assert max(m0["epoch_loss"]) < 6 * np.log(2) - 0.1
    # dist.lr_scale=auto: with merge=average (linear) 2 ranks train at twice the schedule (lr 0.025 decaying
    # over both epochs); with merge=deltas (none) at the schedule itself.
    lrs, top = results[0]["lrs"], 0.05 if merge == "average" else 0.025
    assert 0.9 * top < lrs[0] <= top and lrs[-1] < lrs[0]
    # The rounds averaged the ruler schedule's rows (5, 10, 5, 20, ...; all every 3rd and at each epoch's end).
    n_rows = len((tmp_path / "run" / "vocab.tsv").read_text().splitlines())
    per_epoch = m0["sync_rounds"] // 2
    rows = [rows_at_round(r, 5, 3, n_rows) for r in range(1, per_epoch)] + [n_rows]
    second = (lambda r: r) if objective == "ns" else (lambda r: min(r, n_rows - 1))  # out (V rows) or hs (V-1 rows)
    assert m0["sync_bytes"] == 2 * sum((r + second(r)) * 16 * 4 for r in rows)  # 2 epochs x 2 tables x dim 16 x float32
    assert min(rows) < n_rows
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.startswith("corpus.")) == []


# ---------------------------------------------------------------- a rank that dies


def _dying_worker(rank: int, world: int, mode: str, timeout_s: float) -> str:
    ctx = setup_gloo(timeout_s=timeout_s)
    if rank == 1:
        if mode == "hang":  # alive but never joins the collective
            time.sleep(timeout_s + 6)
        os._exit(3)  # a crash: no goodbye to the process group
    t0 = time.monotonic()
    try:
        wdist.all_reduce_sum(ctx, [1.0])
    except W2VError as exc:
        return f"{time.monotonic() - t0:.1f}|{exc}"
    return "no error"


@pytest.mark.parametrize("mode", ["crash", pytest.param("hang", marks=pytest.mark.slow)])
def test_a_dead_rank_gives_the_others_a_one_line_error_within_the_timeout(mode):
    timeout_s = 4.0
    out = spawn(_dying_worker, 2, mode, timeout_s, deadline=45)
    ok, message = out[0]
    assert ok and message != "no error", message
    elapsed, text = message.split("|", 1)
    # A crash closes the sockets (seen at once); a hang is cut by the timeout.
    assert float(elapsed) < (2 if mode == "crash" else timeout_s + 3)
    assert "\n" not in text and "another rank stopped" in text and "dist.timeout_s=4s" in text


# ---------------------------------------------------------------- end to end: torchrun train.py


def test_torchrun_two_ranks_write_one_run_directory_with_gensim_loadable_vectors(tmp_path):
    from gensim.models import KeyedVectors

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(make_synthetic_text(n_sentences=150, n_words=40, length=20, seed=5))
    args = [f"corpus.path={corpus}" if a.startswith("corpus.path=") else a for a in make_quick_overrides(corpus, epochs=2)]
    args += ["block_tokens=512", "batch_size=1024"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TRAIN_PY), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs  # rank 1 wrote into rank 0's directory, not its own
    run = runs[0]
    names = {p.name for p in run.iterdir()}
    assert {"train.log", "train.rank1.log", "vectors.bin", "vectors.txt", "vocab.tsv", "metrics.json", "checkpoint.pt", "tb"} <= names
    assert not any(n.startswith("corpus.") for n in names)
    kv = KeyedVectors.load_word2vec_format(str(run / "vectors.bin"), binary=True)
    assert len(kv) == len((run / "vocab.tsv").read_text().splitlines()) == 40 and kv.vector_size == 16
    import json

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["words_done"] == 2 * metrics["train_words"] == 2 * 150 * 20
    assert metrics["sync_merge"] == "deltas"  # dist.merge=auto with 2 ranks and 1-block rounds
    assert "rank 1 of 2" in (run / "train.rank1.log").read_text() and "merging (deltas)" in (run / "train.log").read_text()
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["dist_world_size"] == 2 and state["id_files"] == ["corpus.shard0.ids", "corpus.shard1.ids"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [2, 15])  # Ctrl-C, and SIGTERM as a scheduler sends it
def test_ctrl_c_on_torchrun_stops_every_rank_after_the_same_round_with_one_checkpoint(tmp_path, sig):
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_synthetic_text(n_sentences=2000, n_words=200, length=50, seed=6))
    args = make_quick_overrides(corpus, epochs=50, block_tokens=512, batch_size=1024) + [f"hydra.run.dir={tmp_path / 'run'}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TRAIN_PY), *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log0 = tmp_path / "run" / "train.log"
    try:
        end = time.monotonic() + 90
        while not (log0.exists() and "round 1/" in log0.read_text()):
            assert proc.poll() is None and time.monotonic() < end, "training did not start"
            time.sleep(0.5)
        proc.send_signal(sig)  # to torchrun, which relays it to the ranks
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    for name in ("train.log", "train.rank1.log"):
        assert "interrupted: all ranks stopped after the same round" in (tmp_path / "run" / name).read_text(), name
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert not state["progress"]["done"] and 0 < state["progress"]["words_done"] < 50 * 2000 * 50
    assert len(state["progress"]["start"]) <= 1 and state["id_files"] == ["corpus.shard0.ids", "corpus.shard1.ids"]  # resumable
    assert not (tmp_path / "run" / "vectors.bin").exists()


@pytest.mark.slow
def test_two_simulated_nodes_each_its_own_torchrun_train_like_one_job(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(make_synthetic_text(n_sentences=150, n_words=40, length=20, seed=5))
    run = tmp_path / "run"
    args = make_quick_overrides(corpus, epochs=2, block_tokens=512, batch_size=1024) + [f"hydra.run.dir={run}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV)}
    endpoint = f"127.0.0.1:{free_port()}"
    node = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d"]
    procs = [
        subprocess.Popen(
            [*node, f"--rdzv_endpoint={endpoint}", "--rdzv_id=w2v-test", str(TRAIN_PY), *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=150)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    import json

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["words_done"] == 2 * 150 * 20
    assert "rank 1 of 2 (local rank 0 of 1)" in (run / "train.rank1.log").read_text()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("dist.timeout_s=0", "dist.timeout_s=0"), ("dist.sync_blocks=0", "dist.sync_blocks=0"), ("dist.hot_rows=-1", "dist.hot_rows=-1"),
     ("dist.full_every=-1", "dist.full_every=-1"), ("dist.lr_scale=cubic", "dist.lr_scale"), ("dist.merge=median", "dist.merge")],
)  # fmt: skip
def test_bad_dist_values_fail_at_start_in_one_line(override, fragment):
    from w2v.config import validate

    with pytest.raises(W2VError, match=fragment):
        validate(compose_train_cfg([override]))


def test_what_torchrun_does_not_run_yet_is_refused_in_one_line():
    ctx = wdist.DistContext(rank=0, world=2, enabled=True)
    with pytest.raises(W2VError, match="workers>0.*not supported under torchrun yet"):
        wdist.check_supported(compose_train_cfg(["workers=1"]), ctx)
    wdist.check_supported(compose_train_cfg(["workers=1"]), wdist.SINGLE)  # a single process: no objection
    with pytest.raises(W2VError, match="dist.merge=deltas .* diverged"):  # before any counting (the rule: test_sync_schedule)
        wdist.check_supported(compose_train_cfg(["dist.merge=deltas"]), wdist.DistContext(rank=0, world=3, enabled=True))
    # The GPU engine (tests/test_dist_triton.py), phrases and init= (tests/test_dist_phrases.py) run under torchrun.
    wdist.check_supported(compose_train_cfg(["engine=triton", "phrases.enabled=true", "init=/x"]), ctx)
