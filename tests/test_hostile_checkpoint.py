"""A checkpoint is data, never instructions (issue 19): hostile and damaged checkpoints and run directories.

- a path from a checkpoint stays in its run directory, and the end of a run deletes only the id files it owns;
- no module is imported because a config or a checkpoint names it (``corpus.reader`` / ``corpus.evaluator``
  are registered names, w2v/plugins.py);
- a missing key or one of the wrong type is one line naming the key;
- ``resume=`` leaves the run's ``.hydra/`` as the run wrote it and records itself in ``.hydra/resume-<n>/``;
  ``resume=DIR/checkpoint.pt`` works like ``resume=DIR``;
- a plain ``python train.py`` with stray RANK/WORLD_SIZE/MASTER_* variables stops in one line, quickly.

The end-to-end cases run ``train.py`` as a user would and check: the exit status, exactly one error line
and no traceback, no marker file, and nothing changed outside the test's directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TRAIN_PY, compose_train_cfg, free_port

from w2v import plugins
from w2v.config import hydra_subdir, resume_run_dir
from w2v.errors import W2VError
from w2v.train import dist as wdist
from w2v.train.checkpoint import load_checkpoint
from w2v.train.resume import remove_id_files, resume_id_files
from w2v.train.trainer import train

# Lee, small and short: one epoch of dim 8 takes a second or two once numba has compiled.
BASE_ARGS = ["eval=none", "epochs=1", "dim=8", "window=3", "negatives=3", "threads=1", "checkpoint_every_minutes=0", "heldout=0"]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A finished Lee run that kept its corpus.ids, made in-process (the source of every crafted checkpoint)."""
    run_dir = tmp_path_factory.mktemp("base")
    train(compose_train_cfg([*BASE_ARGS, "keep_ids_cache=true"]), run_dir)
    return run_dir


def _state(base_run: Path) -> dict:
    return torch.load(base_run / "checkpoint.pt", weights_only=True)


def unfinished(state: dict) -> dict:
    """``state`` as if its run had been interrupted before its first step: a resume trains the whole epoch."""
    state["progress"].update(epoch=0, start={}, words_done=0, epoch_loss=0.0, epoch_pairs=0, epoch_losses=[], val_losses=[])
    state["progress"].update(pairs_total=0, done=False)
    return state


def crafted_run(base_run: Path, run_dir: Path, edit: Callable[[dict], object] = lambda s: None) -> Path:
    """A copy of ``base_run``'s checkpoint (unfinished, then ``edit``-ed in place) and corpus.ids in ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state = unfinished(_state(base_run))
    edit(state)
    torch.save(state, run_dir / "checkpoint.pt")
    (run_dir / "corpus.ids").write_bytes((base_run / "corpus.ids").read_bytes())
    return run_dir


def run_train(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python train.py *args`` in ``cwd`` (so anything Hydra makes stays in the test's directory)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *wdist._ENV, "LOCAL_WORLD_SIZE")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(TRAIN_PY), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The run stopped with exit status 2 and exactly one error line, without a traceback: that line."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    errors = [line for line in out.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1, out[-3000:]
    return errors[0]


def sentinel(tmp_path: Path) -> tuple[Path, bytes]:
    """A file outside the run directory that no run may touch, and its content."""
    path = tmp_path / "outside" / "important.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 4 * 60305)  # as big as Lee's corpus.ids, in case a check compared sizes
    return path, path.read_bytes()


# ---------------------------------------------------------------- 1. paths from a checkpoint stay in its run directory


@pytest.mark.parametrize("name", ["../outside/important.txt", "/etc/passwd", "sub/corpus.ids", "..", "", "important.txt"])
def test_id_files_outside_the_run_or_not_a_run_s_are_refused(tmp_path, name):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(W2VError) as err:
        resume_id_files({"id_files": [name]}, run_dir)
    assert "\n" not in str(err.value) and "start a new run" in str(err.value) and repr(name) in str(err.value)


def test_an_id_file_that_links_out_of_the_run_is_refused(tmp_path):
    target, _ = sentinel(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "corpus.ids").symlink_to(target)
    with pytest.raises(W2VError, match="leads out of"):
        resume_id_files({"id_files": ["corpus.ids"]}, run_dir)


def test_an_id_outside_the_mapping_is_refused_before_training(tmp_path):
    np.array([0, 1, -1, 7, -1], dtype=np.int32).tofile(tmp_path / "corpus.ids")
    assert resume_id_files({}, tmp_path, n_remap=8) == [tmp_path / "corpus.ids"]
    with pytest.raises(W2VError, match="holds id 7, outside the checkpoint's 7 mapped ids"):
        resume_id_files({}, tmp_path, n_remap=7)


def test_the_end_of_a_run_deletes_only_the_id_files_it_owns(tmp_path):
    outside, content = sentinel(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    own = [run_dir / "corpus.ids", run_dir / "corpus.shard1.ids"]
    for path in own + [run_dir / "notes.txt"]:
        path.write_text("x")
    (run_dir / "corpus.shard2.ids").symlink_to(outside)
    other_run = outside.parent / "corpus.ids"  # an id file's name, in another directory
    other_run.write_text("x")
    remove_id_files(
        run_dir, [*own, outside, run_dir / "notes.txt", run_dir / "corpus.shard2.ids", run_dir / ".." / "outside" / "corpus.ids"]
    )
    assert not any(p.exists() for p in own)
    assert outside.read_bytes() == content and other_run.exists()
    assert (run_dir / "notes.txt").exists() and (run_dir / "corpus.shard2.ids").is_symlink()


def test_resume_with_id_files_escaping_the_run_stops_and_deletes_nothing(tmp_path, base_run):
    """The issue's example: id_files ``../outside/important.txt`` and no id_sizes. Before the fix the resume
    trained on that file and the end-of-run cleanup deleted it."""
    outside, content = sentinel(tmp_path)

    def escape(state: dict) -> None:
        state["id_files"] = ["../outside/important.txt"]
        del state["id_sizes"]

    run_dir = crafted_run(base_run, tmp_path / "run", escape)
    line = one_error_line(run_train([f"resume={run_dir}"], tmp_path))
    assert "'../outside/important.txt', which is not a plain file name" in line and "start a new run" in line
    assert outside.read_bytes() == content
    assert not (run_dir / "vectors.txt").exists()


def test_an_init_run_tokenizer_that_links_out_is_refused(tmp_path):
    from w2v.data.tokenizers import prepare_tokenizer

    secret = tmp_path / "outside" / "secret.json"
    secret.parent.mkdir()
    secret.write_text("{}")
    init_dir = tmp_path / "init"
    init_dir.mkdir()
    (init_dir / "tokenizer.json").symlink_to(secret)
    (tmp_path / "run").mkdir()
    ccfg = compose_train_cfg(["corpus.tokenizer=bpe"]).corpus
    with pytest.raises(W2VError, match="is a link that leads out of the init run directory"):
        prepare_tokenizer(ccfg, tmp_path / "run", init_dir=str(init_dir))
    assert not (tmp_path / "run" / "tokenizer.json").exists()


# ---------------------------------------------------------------- 2. no module is imported because a file names it


def evil_module(tmp_path: Path) -> tuple[Path, Path]:
    """A module on a PYTHONPATH folder that writes a marker file when imported: (folder, marker)."""
    folder, marker = tmp_path / "pypath", tmp_path / "imported-marker"
    folder.mkdir()
    (folder / "evilmod.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n\ndef run(*a, **k):\n    return {{}}\n"
    )
    return folder, marker


def test_an_unregistered_reader_or_evaluator_lists_the_names():
    for group, key in ((plugins.READERS, "corpus.reader"), (plugins.EVALUATORS, "corpus.evaluator")):
        with pytest.raises(W2VError) as err:
            plugins.load(group, "os.system")
        assert f"{key}='os.system' is not a registered" in str(err.value) and "use one of playlists" in str(err.value)
    assert "os" not in plugins.names(plugins.READERS)


def test_the_dotted_paths_of_older_configs_are_aliases_of_playlists():
    from w2v.songs.data import iter_playlists
    from w2v.songs.evaluate import evaluate_songs

    assert plugins.reader("w2v.songs.data.iter_playlists") is plugins.reader("playlists") is iter_playlists
    assert plugins.evaluator("w2v.songs.evaluate.evaluate_songs") is plugins.evaluator("playlists") is evaluate_songs
    with pytest.raises(W2VError):
        plugins.reader("w2v.songs.evaluate.evaluate_songs")  # an alias of the other group's entry is no reader


def test_a_plugin_package_registers_by_entry_point_and_is_imported_only_when_chosen(tmp_path, monkeypatch):
    folder, marker = evil_module(tmp_path)  # here a well-behaved plug-in, whose import we can see
    dist_info = folder / "mykind-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: mykind\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[w2v.evaluators]\nmykind = evilmod:run\nplaylists = evilmod:run\n")
    monkeypatch.syspath_prepend(str(folder))
    assert plugins.names(plugins.EVALUATORS) == ["playlists", "mykind"]
    assert plugins.resolve(plugins.EVALUATORS, "evilmod.run") == "mykind"  # its dotted spelling is an alias
    assert plugins.evaluator("playlists").__module__ == "w2v.songs.evaluate"  # a package cannot take a built-in name
    assert not marker.exists()  # listing and resolving import nothing
    assert plugins.evaluator("mykind")() == {} and marker.exists()
    sys.modules.pop("evilmod", None)


def test_train_py_never_imports_a_dotted_reader_from_the_command_line(tmp_path):
    folder, marker = evil_module(tmp_path)
    line = one_error_line(run_train(["corpus.reader=evilmod.run", "corpus.kind=mine", *BASE_ARGS], tmp_path, {"PYTHONPATH": str(folder)}))
    assert "corpus.reader='evilmod.run' is not a registered reader: use one of playlists" in line
    assert not marker.exists()


@pytest.mark.parametrize("key", ["evaluator", "reader"])
def test_resume_never_imports_a_dotted_path_its_checkpoint_names(tmp_path, base_run, key):
    folder, marker = evil_module(tmp_path)
    outside, content = sentinel(tmp_path)

    def name_code(state: dict) -> None:
        state["config"]["corpus"][key] = "evilmod.run"
        state["config"]["eval"]["enabled"] = True

    run_dir = crafted_run(base_run, tmp_path / "run", name_code)
    line = one_error_line(run_train([f"resume={run_dir}"], tmp_path, {"PYTHONPATH": str(folder)}))
    assert f"corpus.{key}='evilmod.run' is not a registered {key}" in line and "start a new run" in line
    assert not marker.exists()
    assert outside.read_bytes() == content and (run_dir / "corpus.ids").exists()


# ---------------------------------------------------------------- 3. a missing key or a wrong type is one line naming it

REQUIRED = ["model", "vocab", "remap", "config", "progress", "metrics"]
OPTIONAL = ["model_spec", "optimizer", "id_files", "id_sizes"]  # absent from checkpoints of earlier versions


def _load_edited(base_run: Path, tmp_path: Path, edit: Callable[[dict], object]) -> dict:
    state = _state(base_run)
    edit(state)
    torch.save(state, tmp_path / "checkpoint.pt")
    return load_checkpoint(tmp_path)


def _assert_names(err: pytest.ExceptionInfo, key: str) -> None:
    message = str(err.value)
    assert "\n" not in message and f" {key} " in message and "damaged" in message, message


@pytest.mark.parametrize("key", REQUIRED)
def test_a_missing_key_is_one_line_naming_it(tmp_path, base_run, key):
    with pytest.raises(W2VError) as err:
        _load_edited(base_run, tmp_path, lambda s: s.pop(key))
    _assert_names(err, key)


@pytest.mark.parametrize("key", REQUIRED + OPTIONAL)
@pytest.mark.parametrize("value", ["text", 3, [1.5], {"a": 1}, torch.zeros(2, 2)], ids=["str", "int", "list", "dict", "tensor"])
def test_a_key_of_another_type_is_one_line_naming_it(tmp_path, base_run, key, value):
    if isinstance(value, dict) and isinstance(_state(base_run)[key], dict):
        pytest.skip("a dict where a dict belongs: its keys are checked by the nested cases")
    with pytest.raises(W2VError) as err:
        _load_edited(base_run, tmp_path, lambda s: s.__setitem__(key, value))
    _assert_names(err, key)


@pytest.mark.parametrize("key", OPTIONAL)
def test_keys_earlier_versions_did_not_write_may_be_absent(tmp_path, base_run, key):
    assert key not in _load_edited(base_run, tmp_path, lambda s: s.pop(key))


NESTED = {  # key -> an edit that damages it
    "progress.epoch": lambda s: s["progress"].pop("epoch"),
    "progress.done": lambda s: s["progress"].__setitem__("done", "yes"),
    "progress.start": lambda s: s["progress"].__setitem__("start", {"0": [1]}),
    "progress.words_done": lambda s: s["progress"].__setitem__("words_done", -5),
    "progress.epoch_losses": lambda s: s["progress"].__setitem__("epoch_losses", ["x"]),
    "progress.surprise": lambda s: s["progress"].__setitem__("surprise", 1),
    "model.in_embed.weight": lambda s: s["model"].pop("in_embed.weight"),
    "model.out_embed.weight": lambda s: s["model"].__setitem__("out_embed.weight", torch.zeros(5, 8)),
    "model.hs_embed.weight": lambda s: s["model"].__setitem__("hs_embed.weight", torch.zeros(3)),
    "model_spec.negatives": lambda s: s["model_spec"].__setitem__("negatives", "5"),
    "model_spec.evil": lambda s: s["model_spec"].__setitem__("evil", 1),
    "vocab.words": lambda s: s["vocab"].__setitem__("words", "abc"),
    "vocab.counts": lambda s: s["vocab"].__setitem__("counts", s["vocab"]["counts"][:-1]),
    "remap": lambda s: s.__setitem__("remap", s["remap"] + 10**6),
    "id_sizes": lambda s: s.__setitem__("id_sizes", ["60305"]),
    "config.window": lambda s: s["config"].__setitem__("window", "wide"),
    "config.corpus.kind": lambda s: s["config"]["corpus"].pop("kind"),
    "config.surprise": lambda s: s["config"].__setitem__("surprise", 1),
    "config.corpus.path": lambda s: s["config"]["corpus"].__setitem__("path", "${oc.env:HOME}"),
}


@pytest.mark.parametrize("key", sorted(NESTED))
def test_a_damaged_nested_key_is_one_line_naming_it(tmp_path, base_run, key):
    with pytest.raises(W2VError) as err:
        _load_edited(base_run, tmp_path, NESTED[key])
    message = str(err.value)
    assert "\n" not in message and key in message, message


def test_a_missing_key_stops_train_py_in_one_line(tmp_path, base_run):
    run_dir = crafted_run(base_run, tmp_path / "run", lambda s: s.pop("progress"))
    line = one_error_line(run_train([f"resume={run_dir}"], tmp_path))
    assert f"checkpoint {run_dir / 'checkpoint.pt'}: progress is missing" in line


def test_a_config_value_no_run_can_use_is_refused_at_resume(tmp_path, base_run):
    run_dir = crafted_run(base_run, tmp_path / "run", lambda s: s["config"].__setitem__("window", 0))
    with pytest.raises(W2VError, match=r"holds a config no run can use \(invalid value window=0"):
        train(compose_train_cfg([f"resume={run_dir}"]), run_dir)


def test_optimizer_state_that_does_not_fit_is_one_line(tmp_path, base_run):
    def adam(state: dict) -> None:
        state["config"]["optim"], state["config"]["engine"] = "sparse_adam", "torch"
        state["optimizer"] = {"state": {0: {"step": "x"}}, "param_groups": "nonsense"}

    run_dir = crafted_run(base_run, tmp_path / "run", adam)
    with pytest.raises(W2VError, match="optimizer state that does not fit optim=sparse_adam"):
        train(compose_train_cfg([f"resume={run_dir}"]), run_dir)


# ---------------------------------------------------------------- 4. resume keeps the run's .hydra record


def test_hydra_subdir_and_run_dir_resolvers(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert hydra_subdir(None) == ".hydra" and hydra_subdir("") == ".hydra"
    assert hydra_subdir(str(tmp_path)) == ".hydra/resume-1"
    for n in (1, 3):
        (tmp_path / ".hydra" / f"resume-{n}").mkdir(parents=True)
    (tmp_path / ".hydra" / "resume-x").mkdir()
    assert hydra_subdir(str(tmp_path)) == hydra_subdir(str(tmp_path / "checkpoint.pt")) == ".hydra/resume-4"
    monkeypatch.setenv("RANK", "1")
    assert hydra_subdir(str(tmp_path)) is None  # under torchrun rank 0 alone records the resume
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert resume_run_dir(str(tmp_path / "checkpoint.pt"), "new") == resume_run_dir(str(tmp_path), "new") == str(tmp_path)
    assert resume_run_dir(None, "new") == "new"


def test_resume_keeps_the_run_s_hydra_record_and_takes_a_checkpoint_path(tmp_path):
    """A real ``python train.py`` run, then two resumes (``resume=DIR`` and ``resume=DIR/checkpoint.pt``) of
    its checkpoint made unfinished: the run's .hydra files stay byte for byte; each resume has its own."""
    run_dir = tmp_path / "run"
    first = run_train([*BASE_ARGS, "keep_ids_cache=true", f"hydra.run.dir={run_dir}"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    record = {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
    assert set(record) == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    for n, target in enumerate([run_dir, run_dir / "checkpoint.pt"], 1):
        torch.save(unfinished(torch.load(run_dir / "checkpoint.pt", weights_only=True)), run_dir / "checkpoint.pt")
        done = run_train([f"resume={target}", "keep_ids_cache=true"], tmp_path)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
        assert load_checkpoint(run_dir)["progress"]["done"]
        assert {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir() if p.is_file()} == record
        assert f"- resume={target}" in (run_dir / ".hydra" / f"resume-{n}" / "overrides.yaml").read_text()
    assert sorted(p.name for p in (run_dir / ".hydra").iterdir() if p.is_dir()) == ["resume-1", "resume-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no outputs/ beside it, no folder named checkpoint.pt


# ---------------------------------------------------------------- 5. stray launcher variables


@pytest.mark.parametrize(
    "env, fine",
    [
        ({}, False),
        ({"RANK": "0", "WORLD_SIZE": "1"}, False),  # one rank whatever else is set
        ({"LOCAL_RANK": "0"}, False),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, True),
        ({"RANK": "1", "WORLD_SIZE": "2"}, "are set but LOCAL_RANK MASTER_ADDR MASTER_PORT are not"),
        ({"WORLD_SIZE": "4", "MASTER_ADDR": "h"}, "are set but RANK LOCAL_RANK MASTER_PORT are not"),
        ({"RANK": "one", "WORLD_SIZE": "2"}, "not to numbers"),
        ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "is not below WORLD_SIZE=2"),
    ],
)
def test_launch_environments(env, fine):
    if isinstance(fine, bool):
        assert wdist.check_launch_env(env) is fine
        return
    with pytest.raises(W2VError) as err:
        wdist.check_launch_env(env)
    assert fine in str(err.value) and "unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT" in str(err.value)
    assert "torchrun --nproc_per_node=N train.py" in str(err.value)


@pytest.mark.parametrize("partial", [False, True], ids=["all-five", "rank-and-world"])
def test_train_py_with_stray_rank_variables_stops_quickly_in_one_line(tmp_path, partial):
    env = {"RANK": "0", "WORLD_SIZE": "2"}
    if not partial:
        env.update(LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    t0 = time.monotonic()
    line = one_error_line(run_train([*BASE_ARGS, "dist.join_timeout_s=3", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, env))
    assert time.monotonic() - t0 < 60  # dist.timeout_s is 300
    assert "RANK=0 WORLD_SIZE=2" in line and "unset RANK WORLD_SIZE" in line and "torchrun" in line
    assert ("did not all meet within dist.join_timeout_s=3s" in line) != partial
    assert not (tmp_path / "run" / "vectors.txt").exists()
