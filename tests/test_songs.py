"""Song embeddings: playlist format, held-out split, HR@k/NDCG@k, downloads, training and recommend.py."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from w2v.cli import recommend_main
from w2v.config import register_configs
from w2v.errors import W2VError
from w2v.songs import data, evaluate, recommend, sweep
from w2v.vectors import WordVectors

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "playlists"

# Two "stations": songs 0-9 play together, songs 10-19 play together; song 20 is in the metadata only.
TITLES = {i: (f"Rock Song {i}", "The Rockers" if i < 10 else "Pop Star") for i in range(21)}
TITLES[3] = ("Billie Jean", "Michael Jackson")
TITLES[13] = ("Billie Jean", "Joey DeFrancesco")
TITLES[14] = ("Holiday", "Madonna")


def _playlists(n: int = 200, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    # Each step moves 1..9 songs on, so a song never follows itself.
    return [((np.cumsum(rng.integers(1, 10, 12)) % 10) + 10 * (i % 2)).tolist() for i in range(n)]


def write_fixture(folder: Path, playlists: list[list[int]], extra_lines: list[str] = (), gz: bool = False) -> Path:
    """A yes_complete-style directory: train.txt with its two header lines, song_hash, tags."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 21
    lines = [" ".join(str(17000000 + i) for i in range(n)), " ".join("1" for _ in range(n))]
    lines += [" ".join(map(str, p)) + " " for p in playlists] + list(extra_lines)
    text = "\n".join(lines) + "\n"
    train = folder / ("train.txt.gz" if gz else "train.txt")
    train.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    # The real file's id field has a trailing space; titles escape "/" as "\/".
    songs = "".join(f"{i} \t{t}\t{a}\n" for i, (t, a) in TITLES.items() if i != 7)  # song 7 lacks metadata
    (folder / "song_hash.txt").write_text(songs.replace("Rock Song 1\t", "Rock\\/Song 1\t"))
    (folder / "tags.txt").write_text("\n".join("0 1" if i < 10 else ("1" if i != 12 else "#") for i in range(n)) + "\n")
    (folder / "tag_hash.txt").write_text("0, rock\n1, pop\n")
    return folder


def ccfg(path: Path | None, **kw) -> SimpleNamespace:
    base = {"path": str(path) if path else None, "holdout": 0.1, "holdout_seed": 0, "max_sentence_length": 10000}
    base.update(metadata=None, url="http://127.0.0.1:9/nothing", cache_dir="/nonexistent", compare_gensim=False, gensim_sg=None)
    return SimpleNamespace(**{**base, **kw})


# --- format --------------------------------------------------------------------------------------


def test_parse_skips_header_drops_short_and_counts_bad_tokens(tmp_path):
    folder = write_fixture(tmp_path / "d", [[1, 2, 3], [4], [5, 6]], extra_lines=["", "7 x8 9 -1", "oops 10"], gz=True)
    parsed = data.parse_playlists(data.playlists_file(ccfg(folder)))
    assert [p.tolist() for p in parsed.playlists] == [[1, 2, 3], [5, 6], [7, 9]]  # header ids/counts never appear
    assert parsed.dropped_short == 2  # [4] and [10] once "oops" is skipped; blank lines are not playlists
    assert parsed.bad_tokens == 3 and "'x8'" in parsed.first_bad and ":7:" in parsed.first_bad
    assert parsed.n_songs == 10


def test_file_without_integer_playlists_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("header\ncounts\nhello world again\nmore words\n")
    with pytest.raises(W2VError, match="no playlist of 2 or more integer song ids.*non-integer"):
        data.parse_playlists(bad)
    with pytest.raises(W2VError, match="has no train.txt"):
        data.playlists_file(ccfg(tmp_path))


def test_catalog_trailing_space_ids_unescaped_titles_tags_and_missing_ids(tmp_path):
    folder = write_fixture(tmp_path, _playlists(4))
    catalog = data.load_catalog(data.metadata_file(ccfg(folder)), with_tags=True)
    assert catalog.describe(3) == ("Billie Jean", "Michael Jackson")
    assert catalog.describe(1) == ("Rock/Song 1", "The Rockers")
    assert catalog.describe(7) == ("?", "?")
    assert catalog.tags[0] == ["rock", "pop"] and 12 not in catalog.tags


# --- split ---------------------------------------------------------------------------------------


def test_holdout_split_is_seeded_and_removes_only_the_last_song(tmp_path):
    pls = data.Playlists(tmp_path, [np.arange(i, i + 3 + i % 4) for i in range(50)])
    split = data.make_split(pls, 0.1, seed=0)
    assert len(split.held) == 5 and list(split.held) == sorted(split.held)
    assert np.array_equal(split.held, data.make_split(pls, 0.1, seed=0).held)
    assert not np.array_equal(split.held, data.make_split(pls, 0.1, seed=1).held)
    for i, (orig, train) in enumerate(zip(pls.playlists, split.train)):
        expect = orig[:-1] if i in split.held else orig
        assert np.array_equal(train, expect)
    assert split.queries.tolist() == [pls.playlists[i][-2] for i in split.held]
    assert split.targets.tolist() == [pls.playlists[i][-1] for i in split.held]
    assert split.counts.sum() == sum(len(p) for p in pls.playlists) - 5
    with pytest.raises(W2VError, match="corpus.holdout"):
        data.make_split(pls, 1.0, 0)


def test_split_with_max_tokens_evaluates_only_the_trained_prefix(tmp_path):
    pls = data.Playlists(tmp_path, [np.arange(10 * i, 10 * i + 4) for i in range(40)])  # 4 songs each, ids distinct
    full = data.make_split(pls, 0.5, seed=0)
    cut = data.make_split(pls, 0.5, seed=0, max_tokens=30)
    lengths = np.cumsum([len(p) for p in full.train])
    assert list(cut.held) == [i for i in full.held if lengths[i] <= 30] and 0 < len(cut.held) < len(full.held)
    assert cut.counts.sum() == 30 and sum(len(s) for s in cut.train_sentences()) == 30
    assert sum(len(s) for s in full.train_sentences()) == 160 - 20


def test_iter_playlists_yields_training_sentences(tmp_path):
    folder = write_fixture(tmp_path, _playlists(40))
    sentences = list(data.iter_playlists(ccfg(folder)))
    split = data.corpus_split(ccfg(folder))
    assert len(sentences) == 40 and sum(len(s) for s in sentences) == 40 * 12 - 4
    assert sentences[int(split.held[0])] == [str(i) for i in split.train[int(split.held[0])]]
    assert all(isinstance(t, str) for t in sentences[0])
    assert sum(len(s) for s in data.iter_playlists(str(folder / "train.txt"))) == 40 * 12  # plain path: nothing held out
    cut = list(data.iter_playlists(ccfg(folder, holdout=0.0, max_sentence_length=5)))
    assert [len(s) for s in cut[:3]] == [5, 5, 2]


# --- metrics -------------------------------------------------------------------------------------


def test_hit_rate_and_ndcg_by_hand():
    ranks = np.array([1, 3, 11, np.inf])
    assert evaluate.hit_rate(ranks, 10) == 0.5
    assert evaluate.ndcg(ranks, 10) == pytest.approx((1 / math.log2(2) + 1 / math.log2(4)) / 4)  # 0.375
    assert evaluate.hit_rate(ranks, 1) == 0.25 and evaluate.ndcg(ranks, 1) == 0.25
    assert evaluate.hit_rate(np.array([]), 10) == 0.0


def test_similarity_ranks_exclude_the_query_and_count_misses():
    # Cosine to row 0 (1, 0): row 1 = 1.0 (same direction), row 2 ~ 0.71, row 3 = 0, row 4 = -1.
    vectors = np.array([[1, 0], [2, 0], [1, 1], [0, 1], [-1, 0]], dtype=np.float32)
    q = np.array([0, 0, 0, 0, -1, 3])
    t = np.array([1, 2, 4, 0, 1, 3])
    ranks = evaluate.similarity_ranks(vectors, q, t, chunk=2)
    # Targets 1, 2, 4 rank 1st, 2nd, 4th; the query itself, a missing query and query == target never hit.
    assert ranks.tolist() == [1, 2, 4, math.inf, math.inf, math.inf]


def test_popularity_ranks_by_hand():
    counts = np.array([5, 3, 10, 0])  # popularity order: 2, 0, 1, 3
    ranks = evaluate.popularity_ranks(counts, np.array([2, 0, 1, 0]), np.array([0, 1, 2, 3]))
    # query 2 removed -> 0 is 1st; query 0 removed -> 1 is 2nd; 2 is 1st; unseen song 3 never hits.
    assert ranks.tolist() == [1, 2, 1, math.inf]


def test_in_out_ranks_score_the_query_input_against_candidate_outputs():
    vectors = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)  # IN-IN: row 2 is nearest to row 0
    outputs = np.array([[0, 0], [1, 0], [-1, 1]], dtype=np.float32)  # IN-OUT: row 1's output points at row 0
    q, t = np.array([0, 0]), np.array([1, 2])
    assert evaluate.similarity_ranks(vectors, q, t).tolist() == [2, 1]
    assert evaluate.similarity_ranks(vectors, q, t, candidates=outputs).tolist() == [1, 2]


def test_follow_baseline_by_hand():
    train = [np.array([1, 2, 3]), np.array([1, 2, 4]), np.array([1, 5]), np.array([6, 1])]
    counts = np.bincount(np.concatenate(train), minlength=8)  # popularity: 1 (4), 2 (2), then 3 4 5 6, then 0 7
    split = data.Split(train, np.array([0, 1, 2]), np.array([1, 6, 1]), np.array([5, 3, 0]), counts)
    # Query 1 was followed by 2 twice and 5 once: 5 ranks 2nd. Query 6 was followed by 1 only; 3 never
    # followed it, so 1 comes first, then by popularity 2, then 3. Song 0 never played: a miss.
    assert evaluate.follow_ranks(split).tolist() == [2, 3, math.inf]


def test_nearest_matches_gensim_most_similar():
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    words, vectors = [str(i) for i in range(30)], rng.normal(size=(30, 8)).astype(np.float32)
    kv = KeyedVectors(8)
    kv.add_vectors(words, vectors)
    ours = WordVectors(words, vectors).most_similar(["3", "5"], ["7"], 5)  # what recommend() asks
    theirs = kv.most_similar(positive=["3", "5"], negative=["7"], topn=5)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)


# --- download ------------------------------------------------------------------------------------


def test_download_once_into_the_cache(tmp_path):
    source = write_fixture(tmp_path / "server", _playlists(10))
    cache = tmp_path / "cache"
    cfg = ccfg(None, url=source.as_uri(), cache_dir=str(cache))  # urllib reads file:// like http://
    assert data.playlists_file(cfg) == cache / "train.txt"
    assert (cache / "song_hash.txt").is_file() and not list(cache.glob(".*tmp"))
    (source / "train.txt").unlink()  # a second call must not download again
    assert len(list(data.iter_playlists(cfg))) == 10


def test_offline_download_fails_at_once_with_a_hint(tmp_path):
    cfg = ccfg(None, url="http://127.0.0.1:9/yes_complete", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(W2VError, match=r"cannot download http://127.0.0.1:9/yes_complete/train.txt .*corpus.path"):
        data.playlists_file(cfg)
    assert not list((tmp_path / "cache").glob("*"))


# --- training and recommend.py -------------------------------------------------------------------


def compose_cfg(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=overrides)


def test_corpus_playlists_brings_the_tutorial_defaults():
    cfg = compose_cfg(["corpus=playlists"])
    assert (cfg.dim, cfg.window, cfg.negatives, cfg.min_count) == (32, 20, 50, 1)
    assert cfg.corpus.lowercase is False and cfg.corpus.token_pattern is None and cfg.corpus.path is None
    assert compose_cfg(["corpus=playlists", "dim=8"]).dim == 8


# --- the kind's own config ----------------------------------------------------------------------

PLAYLISTS_KEYS = {"holdout", "holdout_seed", "metadata", "checksums", "compare_gensim", "gensim_sg"}


def test_the_playlists_keys_are_the_kinds_own_schema_not_the_cores():
    from dataclasses import fields

    from w2v import plugins
    from w2v.config import CorpusConfig
    from w2v.songs.config import PlaylistsCorpusConfig

    assert not PLAYLISTS_KEYS & {f.name for f in fields(CorpusConfig)}
    assert PLAYLISTS_KEYS <= {f.name for f in fields(PlaylistsCorpusConfig)}
    assert OmegaConf.get_type(compose_cfg(["corpus=playlists"]).corpus) is PlaylistsCorpusConfig
    assert not PLAYLISTS_KEYS & set(compose_cfg(["corpus=lee"]).corpus)
    # A saved config picks the schema by its reader (the older dotted spellings too), else its evaluator.
    for ccfg in ({"reader": "playlists"}, {"reader": "w2v.songs.data.iter_playlists"}, {"evaluator": "w2v.songs.evaluate.evaluate_songs"}):
        assert plugins.corpus_schema(ccfg) is PlaylistsCorpusConfig
    for ccfg in ({}, {"reader": None}, {"reader": "os.system"}, {"reader": ["not", "a", "name"]}):
        assert plugins.corpus_schema(ccfg) is None


def test_playlists_keys_keep_their_command_line_paths_and_are_checked_at_start():
    from hydra.errors import ConfigCompositionException

    cfg = compose_cfg(["corpus=playlists", "corpus.holdout=0.5", "corpus.compare_gensim=true", "corpus.gensim_sg=0", "corpus.metadata=x"])
    assert (cfg.corpus.holdout, cfg.corpus.compare_gensim, cfg.corpus.gensim_sg, cfg.corpus.metadata) == (0.5, True, 0, "x")
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["corpus=playlists", "corpus.holdout=most"])
    assert "Value 'most' of type 'str' could not be converted to Float" in str(err.value.__cause__)
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["corpus=playlists", "corpus.holdot=0.5"])
    assert "Key 'holdot' not in 'PlaylistsCorpusConfig'" in str(err.value.__cause__)
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["corpus=lee", "corpus.holdout=0.5"])  # another kind has no such key


def test_a_config_without_the_playlists_schema_fails_validation_in_one_line():
    from w2v.config import validate

    cfg = compose_cfg(["corpus=text", "corpus.kind=playlists", "corpus.reader=playlists", "corpus.path=x"])
    with pytest.raises(W2VError, match=r"^corpus.reader=playlists reads corpus.holdout, .*which this config lacks: .*corpus=<kind>"):
        validate(cfg, files=False)
    untyped = OmegaConf.create(OmegaConf.to_container(compose_cfg(["corpus=playlists"])))  # as a file holds it
    validate(untyped, files=False)
    untyped.corpus.holdout = "most"
    with pytest.raises(W2VError, match=r"^invalid value corpus.holdout: Value 'most' of type 'str' could not be converted to Float$"):
        validate(untyped, files=False)


@pytest.fixture(scope="module")
def song_run(tmp_path_factory):
    """One small playlists run (with the gensim comparison and a negative ns_exponent)."""
    from w2v.train.trainer import train

    root = tmp_path_factory.mktemp("songs")
    folder = write_fixture(root / "data", _playlists())
    overrides = ["corpus=playlists", f"corpus.path={folder}", "corpus.compare_gensim=true", "dim=16", "window=5", "negatives=5", "sample=0"]
    cfg = compose_cfg([*overrides, "epochs=3", "ns_exponent=-0.5", "threads=1", "eval.every_epoch=true"])
    metrics = train(cfg, root / "run")
    (root / "run" / ".hydra").mkdir()
    OmegaConf.save(cfg, root / "run" / ".hydra" / "config.yaml")  # as python train.py leaves it
    return root / "run", metrics, folder


def test_training_reports_next_song_metrics(song_run):
    run_dir, metrics, _ = song_run
    keys = ("hr@10", "ndcg@10", "pop_hr@10", "pop_ndcg@10", "inout_hr@10", "follow_hr@10", "gensim_hr@10", "gensim_ndcg@10", "songs_oov")
    for key in keys:
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["songs_heldout"] == 20
    # Two stations of 10 songs: the 9 other songs of the query's station fill the top 10.
    assert metrics["hr@10"] == 1.0 and metrics["ndcg@10"] > metrics["pop_ndcg@10"]
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["metrics"]["hr@10"] == metrics["hr@10"] and saved["split"]["holdout"] == 0.1
    report = (run_dir / "eval.md").read_text()
    assert "| popularity |" in report and "gensim" in report and "Billie Jean" in report and "IN-OUT" in report
    assert saved["split"]["gensim_settings"]["sg"] == 1 and saved["split"]["gensim_settings"]["negative"] == 5  # the run's own model
    assert json.loads((run_dir / "metrics.json").read_text())["hr@10"] == metrics["hr@10"]


def test_a_playlists_checkpoint_loads_typed_by_the_kind_and_a_damaged_key_is_one_line(song_run, tmp_path):
    import torch

    from w2v.config import train_schema, validate
    from w2v.songs.config import PlaylistsCorpusConfig
    from w2v.train.checkpoint import load_checkpoint

    state = load_checkpoint(song_run[0])
    saved = state["config"]
    assert PLAYLISTS_KEYS <= set(saved["corpus"]) and saved["corpus"]["compare_gensim"] is True  # the paths checkpoints always had
    typed = OmegaConf.merge(train_schema(saved), saved)  # as a resume types it
    assert OmegaConf.get_type(typed.corpus) is PlaylistsCorpusConfig and typed.corpus.holdout == 0.1
    validate(typed, files=False)
    for key, value in (("holdout", "most"), ("holdot", 0.5)):  # a wrong type, an unknown key
        damaged = {**state, "config": {**saved, "corpus": {**saved["corpus"], key: value}}}
        torch.save(damaged, tmp_path / "checkpoint.pt")
        with pytest.raises(W2VError) as err:
            load_checkpoint(tmp_path)
        assert f"config.corpus.{key} does not fit" in str(err.value) and "\n" not in str(err.value)


def test_an_interrupted_playlists_run_resumes_to_the_same_vectors(tmp_path, monkeypatch):
    """Ctrl-C during the first epoch's evaluation, then resume=: the tables equal an uninterrupted run's."""
    import os
    import signal

    import torch

    from w2v.train.trainer import train

    folder = write_fixture(tmp_path / "data", _playlists())
    args = ["corpus=playlists", f"corpus.path={folder}", "corpus.holdout=0.2", "corpus.holdout_seed=3", "dim=8", "window=3"]
    args += ["negatives=3", "epochs=3", "threads=1", "eval.every_epoch=true", "checkpoint_every_minutes=0"]
    straight = train(compose_cfg(args), tmp_path / "ref")
    original = evaluate.evaluate_songs

    def interrupt_after_the_first_epoch(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C: the trainer saves a checkpoint and stops
        return original(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(evaluate, "evaluate_songs", interrupt_after_the_first_epoch)  # the registry looks it up on each call
        with pytest.raises(KeyboardInterrupt):
            train(compose_cfg(args), tmp_path / "run")
    resumed = train(compose_cfg([f"resume={tmp_path / 'run'}"]), explicit=["resume"])
    tables = [torch.load(d / "checkpoint.pt", weights_only=True)["model"]["in_embed.weight"] for d in (tmp_path / "run", tmp_path / "ref")]
    assert torch.equal(*tables)
    assert resumed["hr@10"] == straight["hr@10"] and resumed["songs_heldout"] == straight["songs_heldout"] == 40


def run_recommend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "recommend.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_recommend_py_as_a_user(song_run):
    run_dir = song_run[0]
    done = run_recommend(f"run={run_dir}", "song=billie jean michael jackson", "topn=5", "tags=true")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Songs most similar to 3 Billie Jean - Michael Jackson"
    assert lines[1].split()[:5] == ["#", "id", "similarity", "title", "artist"] and len(lines) >= 7
    ids = [int(line.split()[1]) for line in lines[2:7]]
    assert all(i < 10 for i in ids) and 3 not in ids  # its own station, never itself
    assert "The Rockers" in done.stdout and "rock, pop" in done.stdout


def test_recommend_unknown_song_is_one_line_and_exit_2(song_run, capsys):
    assert recommend_main([f"run={song_run[0]}", "song=99999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unknown song id 99999")


def test_recommend_queries_and_errors(song_run, capsys):
    run_dir = song_run[0]
    run = recommend.load_run(run_dir)
    assert recommend.resolve_song(run, "3") == "3"
    assert recommend.resolve_song(run, "holiday") == "14"
    with pytest.raises(recommend.AmbiguousSong) as err:
        recommend.resolve_song(run, "billie jean")
    assert sorted(err.value.candidates) == ["13", "3"]
    assert recommend_main([f"run={run_dir}", "song=billie"]) == 2
    out = capsys.readouterr()
    assert "matches 2 songs" in out.err and "Michael Jackson" in out.out and "Joey DeFrancesco" in out.out
    with pytest.raises(W2VError, match="no song in this run matches"):
        recommend.resolve_song(run, "no such tune")
    with pytest.raises(W2VError, match="has no vector"):
        recommend.resolve_song(run, "20")  # in the metadata, never played
    mixed = recommend.recommend(run, ["3", "14"], ["13"], topn=4)
    assert len(mixed) == 4 and not {"3", "14", "13"} & {s for s, _ in mixed}
    # Song 7 has no metadata: shown as "?" and counted.
    assert recommend_main([f"run={run_dir}", "song=7", "topn=3"]) == 0
    assert "?" in capsys.readouterr().out
    assert recommend_main([f"run={run_dir}", "song=6", "topn=20"]) == 0
    assert "have no metadata" in capsys.readouterr().out


def test_run_config_falls_back_to_the_checkpoint(song_run, tmp_path):
    (tmp_path / "checkpoint.pt").symlink_to(song_run[0] / "checkpoint.pt")
    assert recommend.run_config(tmp_path).corpus.kind == "playlists"


def test_recommend_rejects_runs_that_are_not_playlists(tmp_path, capsys):
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"corpus": {"kind": "lee"}}), tmp_path / "run" / ".hydra" / "config.yaml")
    assert recommend_main([f"run={tmp_path / 'run'}", "song=3"]) == 2
    assert "not a playlists run: for its words use python similar.py" in capsys.readouterr().err
    assert recommend_main([f"run={tmp_path}", "song=3"]) == 2
    assert "not a w2v run directory" in capsys.readouterr().err
    assert recommend_main(["song=3"]) == 2 and "run is not set" in capsys.readouterr().err
    assert recommend_main([f"run={tmp_path}", "colour=3"]) == 2 and "unknown argument" in capsys.readouterr().err


def test_arguments_repeat_split_and_quote_into_the_config():
    recommend.register_recommend_config()
    argv = ["run=r", "song=[1,2]", "song=Hello, Goodbye", "neg=4,5", "topn=3", "song=Don't (Stop) ${x}"]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("recommend", overrides=recommend.ARGS.overrides(argv))
    assert list(cfg.song) == ["1", "2", "Hello, Goodbye", "Don't (Stop) ${x}"] and list(cfg.negative) == ["4", "5"]
    assert cfg.topn == 3 and cfg.run == "r" and cfg.tags is False


def test_sweep_summary_shows_the_effect_of_each_key(tmp_path):
    for window, ns, hr in [(5, 0.75, 0.1), (5, -0.5, 0.3), (20, 0.75, 0.2), (20, -0.5, 0.4)]:
        job = tmp_path / f"window={window},ns_exponent={ns}"
        (job / ".hydra").mkdir(parents=True)
        OmegaConf.save(OmegaConf.create([f"window={window}", f"ns_exponent={ns}", "epochs=5"]), job / ".hydra" / "overrides.yaml")
        (job / "metrics.json").write_text(json.dumps({"hr@10": hr, "ndcg@10": hr / 2, "pop_hr@10": 0.05}))
    sweep.summarize(tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "Sorted by hr@10" in text and "ndcg@10" in text  # the shared job table
    assert "**ns_exponent**: -0.5 → 0.3500 (2 jobs), 0.75 → 0.1500 (2 jobs)" in text
    assert "**window**: 20 → 0.3000 (2 jobs), 5 → 0.2000 (2 jobs)" in text and "**epochs**" not in text


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "train.txt.gz").is_file(), reason=f"needs the yes_complete playlists in {SHARED}")
def test_real_playlists_beat_popularity(tmp_path):
    """Window 3, 10 negatives, 15 epochs (~8 minutes on one core) beat the most-played songs clearly."""
    from w2v.train.trainer import train

    overrides = ["corpus=playlists", f"corpus.path={SHARED}", "window=3", "negatives=10", "ns_exponent=-0.5", "epochs=15", "threads=1"]
    metrics = train(compose_cfg(overrides), tmp_path)
    assert metrics["songs_heldout"] == 1109 and metrics["songs_oov"] < 0.05
    # Measured: HR@10 0.026 / NDCG@10 0.013 against popularity's 0.018 / 0.0084. Seeds move HR@10 by about
    # +-0.005 (5 epochs: 0.018-0.028 over four seeds), so the margin asked for is below the measured one.
    assert metrics["hr@10"] > 1.25 * metrics["pop_hr@10"], metrics
    assert metrics["ndcg@10"] > 1.3 * metrics["pop_ndcg@10"], metrics
