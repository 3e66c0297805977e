"""The data pipeline through its one entry point, :func:`w2v.data.prepare.prepare_corpus`.

One process passes ``LOCAL``; the ranks of a job are simulated here by threads of this process that
exchange objects through :class:`ThreadCollectives`, so the merge over ranks runs without torchrun
(tests/test_dist_phrases.py runs the same cases on real torchrun ranks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import compose_train_cfg, id_sentences, make_quick_overrides, make_synthetic_text

from w2v.data.collectives import LOCAL
from w2v.data.idshards import vocab_identity
from w2v.data.prepare import PreparedData, prepare_corpus, shard_path, shard_sentences
from w2v.data.vocab import SENTENCE_END, Vocab
from w2v.errors import W2VError

TEXT = "the cat sat on the mat\nthe dog sat\nthe cat ran\n"  # line i goes to rank i mod 2


class _Group:
    """What the threads of one simulated job share: a slot per rank and a barrier."""

    def __init__(self, world: int):
        self.world = world
        self.slots: list[Any] = [None] * world
        self.barrier = threading.Barrier(world, timeout=60)


class ThreadCollectives:
    """:class:`w2v.data.collectives.Collectives` between threads of this process, one thread per rank."""

    distributed = True

    def __init__(self, group: _Group, rank: int):
        self.group, self.rank, self.world_size = group, rank, group.world

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _exchange(self, obj: Any) -> list[Any]:
        self.group.slots[self.rank] = obj
        self.group.barrier.wait()
        out = list(self.group.slots)
        self.group.barrier.wait()  # nobody overwrites a slot before every rank has read them all
        return out

    def all_gather_object(self, obj: Any, what: str) -> list[Any]:
        return self._exchange(obj)

    def gather_object(self, obj: Any, dst: int, what: str) -> list[Any] | None:
        out = self._exchange(obj)
        return out if self.rank == dst else None

    def all_reduce_sum(self, values: list[float], what: str) -> list[float]:
        return [float(sum(col)) for col in zip(*self._exchange([float(v) for v in values]))]

    def barrier(self, what: str) -> None:
        self.group.barrier.wait()


def run_ranks(world: int, fn: Callable[[ThreadCollectives], Any]) -> list[Any]:
    """``fn(comm)`` on ``world`` threads, one per rank: each rank's result, or the exception it raised."""
    group = _Group(world)
    results: list[Any] = [None] * world

    def entry(rank: int) -> None:
        try:
            results[rank] = fn(ThreadCollectives(group, rank))
        except BaseException as exc:  # returned to the test
            results[rank] = exc

    threads = [threading.Thread(target=entry, args=(r,), name=f"rank{r}") for r in range(world)]
    for t in threads:
        t.start()
    deadline, failed_at = time.monotonic() + 120, None
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
        if failed_at is None and any(isinstance(r, BaseException) for r in results):
            failed_at = time.monotonic()
        # A rank that failed never joins the next collective: after a grace period (long enough for the
        # others to raise their own error from the same step, even on a loaded machine) free the waiters.
        # Aborting at once raced with a rank just leaving the last barrier and broke it there.
        if failed_at is not None and time.monotonic() - failed_at > 10:
            group.barrier.abort()
    assert not any(t.is_alive() for t in threads), "a simulated rank hung"
    return results


def _cfg(corpus: Path, *overrides: str, **keys: Any) -> Any:
    """The run config (composed outside the rank threads: Hydra's compose is not thread-safe)."""
    return compose_train_cfg([*make_quick_overrides(corpus, **keys), *overrides])


def _vocab_ids(data: PreparedData) -> np.ndarray:
    """The concatenated id files as vocabulary ids (``len(vocab)`` for a dropped word), as a shard holds them."""
    ids = np.concatenate([np.fromfile(p, dtype=np.int32) for p in data.id_files])
    mapped = data.vocab.remap[np.maximum(ids, 0)]
    return np.where(ids == SENTENCE_END, SENTENCE_END, np.where(mapped < 0, len(data.vocab), mapped))


# ---------------------------------------------------------------- one process


def test_one_process_keeps_provisional_ids_in_corpus_ids_and_writes_vocab_tsv(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    run = tmp_path / "run"
    run.mkdir()
    data = prepare_corpus(_cfg(corpus, min_count=2), run)
    assert data.id_files == [run / "corpus.ids"] and data.n_tokens == 12 and data.seconds >= 0
    assert data.vocab.words == ["the", "cat", "sat"] and data.vocab.counts.tolist() == [4, 2, 2]  # a tie keeps first occurrence
    # Provisional ids in first-occurrence order (the cat sat on mat dog ran), -1 after each sentence.
    assert np.fromfile(run / "corpus.ids", dtype=np.int32).tolist() == [0, 1, 2, 3, 0, 4, -1, 0, 5, 2, -1, 0, 1, 6, -1]
    assert data.vocab.remap.tolist() == [0, 1, 2, -1, -1, -1, -1]
    assert (run / "vocab.tsv").read_text() == "the\t4\ncat\t2\nsat\t2\n"
    assert data.vocab.corpus_counts is None


def test_an_earlier_vocabulary_is_merged_by_word(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    base = Vocab(["dog", "zebra"], np.array([5, 3], dtype=np.int64))
    data = prepare_corpus(_cfg(corpus, min_count=2), tmp_path, base)
    # Every base word stays; new words join at min_count; counts add up (dog 5+1); the new text's counts apart.
    assert data.vocab.words == ["dog", "the", "zebra", "cat", "sat"]
    assert data.vocab.counts.tolist() == [6, 4, 3, 2, 2] and data.vocab.corpus_counts.tolist() == [1, 4, 0, 2, 2]
    assert id_sentences(_vocab_ids(data), data.vocab.words) == [
        ["the", "cat", "sat", None, "the", None], ["the", "dog", "sat"], ["the", "cat", None]
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "min_count", "message"),
    [
        (TEXT, 9, "no word occurs at least min_count=9 times"),
        ("a a a\n", 1, "the vocabulary has only 1 word: word2vec needs at least 2"),
        ("\n\n", 1, "the corpus has no tokens"),
    ],
)
def test_a_vocabulary_that_cannot_train_is_one_line_and_leaves_no_id_file(tmp_path, text, min_count, message):
    corpus = tmp_path / "c.txt"
    corpus.write_text(text)
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(W2VError, match=message):
        prepare_corpus(_cfg(corpus, min_count=min_count), run)
    assert not list(run.iterdir())


def test_shard_sentences_cut_the_prefix_then_deal_sentence_i_to_rank_i_mod_w():
    sentences = [["a", "b"], [], ["c", "d", "e"], ["f"], ["g", "h"]]
    shares = [list(shard_sentences(sentences, r, 2, max_tokens=5)) for r in range(2)]
    assert shares == [[["a", "b"]], [["c", "d", "e"]]]
    assert list(shard_sentences(sentences, 1, 2, max_tokens=None)) == [["c", "d", "e"], ["g", "h"]]


# ---------------------------------------------------------------- ranks, simulated by threads


def test_two_ranks_merge_to_the_one_process_vocabulary_and_each_writes_its_shard(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    single, shared = tmp_path / "single", tmp_path / "shared"
    single.mkdir(), shared.mkdir()
    one = prepare_corpus(_cfg(corpus, min_count=2), single)
    cfg = _cfg(corpus, min_count=2)
    ranks = run_ranks(2, lambda comm: prepare_corpus(cfg, shared, None, comm))
    for data in ranks:
        assert isinstance(data, PreparedData), data
        assert data.vocab.words == one.vocab.words and data.vocab.counts.tolist() == one.vocab.counts.tolist()
        assert data.id_files == [shard_path(shared, 0), shard_path(shared, 1)] and data.n_tokens == 12
        assert data.vocab.remap.tolist() == vocab_identity(3).tolist()  # the shards hold vocabulary ids
    # Rank 0 has lines 0 and 2, rank 1 line 1; a dropped word keeps its place as id len(vocab) = 3.
    assert np.fromfile(shard_path(shared, 0), dtype=np.int32).tolist() == [0, 1, 2, 3, 0, 3, -1, 0, 1, 3, -1]
    assert np.fromfile(shard_path(shared, 1), dtype=np.int32).tolist() == [0, 3, 2, -1]
    assert sorted(p.name for p in shared.iterdir()) == ["corpus.shard0.ids", "corpus.shard1.ids", "vocab.tsv"]
    assert (shared / "vocab.tsv").read_text() == (single / "vocab.tsv").read_text()


def test_first_occurrence_over_ranks_orders_words_of_equal_count(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one = prepare_corpus(_cfg(corpus), tmp_path / "a")  # min_count=1
    cfg = _cfg(corpus)
    two = run_ranks(2, lambda comm: prepare_corpus(cfg, tmp_path / "b", None, comm))
    assert one.vocab.words == ["the", "cat", "sat", "on", "mat", "dog", "ran"]
    assert two[0].vocab.words == two[1].vocab.words == ["the", "cat", "sat", "on", "mat", "ran", "dog"]  # rank 0's ran first


_PHRASE_TEXT = (
    "\n".join(
        line + (" new york times" if i % 3 == 0 else "") + (" san francisco" if i % 10 == 0 else "")
        for i, line in enumerate(make_synthetic_text(n_sentences=80, n_words=40, length=10, seed=5).splitlines())
    )
    + "\n"
)
CASES = {  # name -> (overrides, merge an earlier vocabulary)
    "plain": ((), {"min_count": 2}, False),
    "phrases": (("phrases.enabled=true", "phrases.passes=2"), {"min_count": 1}, False),
    "prefix": (("phrases.enabled=true",), {"min_count": 1, "corpus.max_tokens": 500}, False),
    "init+phrases": (("phrases.enabled=true",), {"min_count": 2}, True),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("world", [1, 2])
def test_ranks_give_the_one_process_words_counts_sentences_and_phrase_log(tmp_path, name, world, caplog):
    overrides, keys, with_base = CASES[name]
    corpus = tmp_path / "c.txt"
    corpus.write_text(_PHRASE_TEXT)
    base = Vocab(["new_york", "w0", "unseen"], np.array([7, 4, 2], dtype=np.int64)) if with_base else None
    (tmp_path / "one").mkdir(), (tmp_path / "ranks").mkdir()
    caplog.set_level(logging.INFO, logger="w2v.data.phrases")
    cfg = _cfg(corpus, *overrides, **keys)
    one = prepare_corpus(cfg, tmp_path / "one", base)
    want_log = [r.getMessage() for r in caplog.records if r.getMessage().startswith("phrases pass")]
    caplog.clear()
    ranks = run_ranks(world, lambda comm: prepare_corpus(cfg, tmp_path / "ranks", base, comm))
    got = ranks[0]
    assert all(isinstance(r, PreparedData) for r in ranks), ranks
    assert all(r.vocab.words == got.vocab.words and r.vocab.counts.tolist() == got.vocab.counts.tolist() for r in ranks)
    assert got.n_tokens == one.n_tokens
    if world == 1:  # one torchrun rank: the one-process data exactly, in corpus.shard0.ids
        assert got.id_files == [shard_path(tmp_path / "ranks", 0)]
        assert got.vocab.words == one.vocab.words and np.array_equal(_vocab_ids(got), _vocab_ids(one))
    # The same words and counts; the order differs at most among equal counts.
    assert got.vocab.counts.tolist() == one.vocab.counts.tolist()
    assert dict(zip(got.vocab.words, got.vocab.counts.tolist())) == dict(zip(one.vocab.words, one.vocab.counts.tolist()))
    if with_base:
        by_word = dict(zip(one.vocab.words, one.vocab.corpus_counts.tolist()))
        assert dict(zip(got.vocab.words, got.vocab.corpus_counts.tolist())) == by_word
    # Sentence i of the corpus is sentence i // W of rank i mod W's shard, rewritten alike.
    single = id_sentences(_vocab_ids(one), one.vocab.words)
    shards = [id_sentences(np.fromfile(p, dtype=np.int32), got.vocab.words) for p in got.id_files]
    assert sum(map(len, shards)) == len(single) and all(s == shards[i % world][i // world] for i, s in enumerate(single))
    # The phrase log counts the whole corpus, on every rank (each rank's thread logs its own lines).
    for rank in range(world):
        logged = [r.getMessage() for r in caplog.records if r.threadName == f"rank{rank}" and r.getMessage().startswith("phrases pass")]
        assert logged == want_log
    if overrides:
        assert want_log and any("_" in w for w in got.vocab.words)


def test_errors_are_raised_on_every_rank_and_leave_no_id_file(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a a a\nb\n")
    (tmp_path / "run").mkdir()
    cfg = _cfg(corpus, min_count=2)
    ranks = run_ranks(2, lambda comm: prepare_corpus(cfg, tmp_path / "run", None, comm))
    for exc in ranks:
        assert isinstance(exc, W2VError) and "the vocabulary has only 1 word" in str(exc)
    assert not list((tmp_path / "run").iterdir())


def test_a_shard_another_rank_cannot_see_is_a_one_line_error(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    dirs = [tmp_path / "node0", tmp_path / "node1"]  # run directories on filesystems the ranks do not share
    for d in dirs:
        d.mkdir()
    cfg = _cfg(corpus)
    ranks = run_ranks(2, lambda comm: prepare_corpus(cfg, dirs[comm.rank], None, comm))
    for rank, exc in enumerate(ranks):
        other = 1 - rank
        assert isinstance(exc, W2VError), exc
        assert f"rank {rank} cannot read {shard_path(dirs[rank], other)} as rank {other} wrote it" in str(exc)


def test_local_collectives_are_the_identity():
    assert (LOCAL.rank, LOCAL.world_size, LOCAL.is_main, LOCAL.distributed) == (0, 1, True, False)
    assert LOCAL.all_gather_object("x", "w") == ["x"] and LOCAL.gather_object("x", 0, "w") == ["x"]
    assert LOCAL.all_reduce_sum([1, 2.5], "w") == [1.0, 2.5]
    LOCAL.barrier("w")
