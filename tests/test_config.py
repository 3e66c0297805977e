"""Hydra configuration: every corpus option composes, defaults are gensim's, bad values are rejected."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path

import pytest
import torch
import yaml
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from w2v.config import CorpusConfig, validate
from w2v.engines.levers import window_levers
from w2v.errors import W2VError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


CORE_YAMLS = ["train.yaml", "corpus/lee.yaml", "corpus/text.yaml", "corpus/text8.yaml", "corpus/hf.yaml", "corpus/wikitext.yaml"]
CORE_YAMLS += ["eval/default.yaml", "eval/none.yaml"]


@pytest.fixture(scope="module")
def base_cfg(compose_cfg):
    return compose_cfg([])


def with_override(cfg, override: str):
    """A copy of ``cfg`` with one ``key=value`` override applied through the typed schema."""
    key, value = override.split("=", 1)
    out = copy.deepcopy(cfg)
    OmegaConf.update(out, key, yaml.safe_load(value), merge=False)
    return out


@pytest.mark.parametrize(
    "corpus, expected",
    [
        ("lee", {"kind": "lee", "path": None, "lowercase": True, "wikitext_markup": False}),
        ("text", {"kind": "text", "lowercase": True, "token_pattern": CorpusConfig.token_pattern}),
        ("text8", {"kind": "text8", "lowercase": False, "token_pattern": None}),
        (
            "wikitext",
            {"kind": "hf", "path": "Salesforce/wikitext", "name": "wikitext-103-raw-v1", "split": "train", "column": "text"},
        ),
        ("hf", {"kind": "hf", "split": "train", "column": "text", "streaming": True}),
    ],
)
def test_every_corpus_option_composes(compose_cfg, corpus, expected):
    cfg = compose_cfg([f"corpus={corpus}"])
    assert {k: cfg.corpus[k] for k in expected} == expected
    if corpus in ("text", "text8", "hf"):
        # The YAML says `path: ???`, but merging ??? onto the schema's None keeps None: the corpus
        # reader then stops with "corpus.path is not set" (tested end to end in test_train_e2e).
        assert OmegaConf.is_missing(cfg.corpus, "path") or cfg.corpus.path is None
        cfg.corpus.path = "/some/where"
    validate(cfg)
    assert cfg.corpus.max_sentence_length == 10000 and cfg.corpus.max_tokens is None


def test_defaults_are_gensims(compose_cfg):
    from gensim.models import Word2Vec, word2vec

    gensim_defaults = {k: p.default for k, p in inspect.signature(Word2Vec.__init__).parameters.items()}
    # The tiny Lee corpus (the default) documents one deviation: 20 epochs instead of 5.
    assert compose_cfg([]).epochs == 20 and compose_cfg(["epochs=5"]).epochs == 5
    cfg = compose_cfg(["corpus=text"])
    ours = {
        "window": cfg.window,
        "negative": cfg.negatives,
        "vector_size": cfg.dim,
        "min_count": cfg.min_count,
        "sample": cfg.sample,
        "ns_exponent": cfg.ns_exponent,
        "alpha": cfg.lr,
        "min_alpha": cfg.min_lr,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "shrink_windows": cfg.shrink_windows,
        "max_final_vocab": cfg.max_vocab,
    }
    assert ours == {k: gensim_defaults[k] for k in ours}
    assert ours["window"] == 5 and ours["negative"] == 5 and ours["vector_size"] == 100 and ours["min_count"] == 5
    assert ours["sample"] == 1e-3 and ours["ns_exponent"] == 0.75 and ours["alpha"] == 0.025 and ours["min_alpha"] == 1e-4
    assert cfg.corpus.max_sentence_length == word2vec.MAX_WORDS_IN_BATCH
    assert compose_cfg([]).corpus.kind == "lee" and cfg.eval.enabled is True


def test_eval_none_turns_evaluation_off(compose_cfg):
    assert compose_cfg(["eval=none"]).eval.enabled is False


@pytest.mark.parametrize("name", CORE_YAMLS)
def test_yaml_starts_with_the_command_that_runs_it(name):
    lines = (CONFIG_DIR / name).read_text(encoding="utf-8").splitlines()
    # Hydra needs a package directive on the very first line; the command comes right after it.
    first = lines[1] if lines[0].startswith("# @package") else lines[0]
    assert first.startswith("# python "), name


@pytest.mark.parametrize(
    "override, key",
    [
        ("window=0", "window"),
        ("negatives=0", "negatives"),
        ("dim=0", "dim"),
        ("epochs=0", "epochs"),
        ("min_count=0", "min_count"),
        ("batch_size=0", "batch_size"),
        ("sample=-1", "sample"),
        ("lr=0", "lr"),
        ("min_lr=1", "min_lr"),
        ("max_vocab=0", "max_vocab"),
        ("workers=-1", "workers"),
        ("device=tpu", "device"),
        ("optim=adam", "optim"),
        ("export=out", "export"),
        ("corpus.max_sentence_length=1", "max_sentence_length"),
        ("corpus.max_tokens=0", "max_tokens"),
        ("corpus.max_tokens=-3", "max_tokens"),  # was accepted, and trained on a slice cut from the first sentence's end
    ],
)
def test_invalid_values_are_one_line_errors_naming_the_key(base_cfg, override, key):
    cfg = with_override(base_cfg, override)  # the type is right, so the schema accepts it: validate() must not
    with pytest.raises(W2VError) as err:
        validate(cfg)
    message = str(err.value)
    assert key in message and "\n" not in message


@pytest.mark.parametrize("override", ["device=cpu", "device=cuda", "device=cuda:1", "device=auto", "sample=0", "max_vocab=10"])
def test_valid_edge_values_pass(base_cfg, override):
    validate(with_override(base_cfg, override))


@pytest.mark.parametrize(
    "overrides",
    [
        ["batch_windows=true", "shared_negatives=false"],  # negative sampling with a draw per pair: the pairs share no negatives
        ["batch_windows=true", "hs=true"],  # hs and negatives both
        ["batch_windows=true", "hs=true", "negatives=0", "sg=false"],  # CBOW: a window is one example already
        ["batch_windows=true", "shared_negatives=true", "subwords.enabled=true"],  # fastText: the center's bag is the input
        ["batch_windows=true", "hs=true", "negatives=0", "engine=numba"],  # the example engine does not batch windows
        ["batch_windows=true", "window=11"],  # auto draws per pair beyond the measured window: nothing shared to batch
        ["batch_windows=true", "negatives=16"],
    ],
)
def test_batch_windows_without_shared_output_rows_or_on_another_engine_is_a_one_line_error(base_cfg, overrides):
    cfg = base_cfg
    for override in overrides:
        cfg = with_override(cfg, override)
    with pytest.raises(W2VError) as err:
        validate(cfg)
    assert "batch_windows" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("engine", ["numba", "torch", "triton"])
def test_shared_negatives_on_an_engine_that_draws_per_pair_is_a_one_line_error(base_cfg, engine):
    cfg = with_override(with_override(base_cfg, "shared_negatives=true"), f"engine={engine}")
    with pytest.raises(W2VError) as err:
        validate(cfg)
    assert "shared_negatives=true is engine=hogwild's" in str(err.value) and "\n" not in str(err.value)
    validate(with_override(cfg, "shared_negatives=null"))  # the default: auto, which only hogwild resolves


def test_sigma_table_with_an_autograd_optimizer_is_a_one_line_error_and_triton_declines_it(base_cfg):
    from w2v.engines.triton_engine import TritonEngine

    cfg = with_override(with_override(base_cfg, "sigma_table=true"), "optim=adagrad")
    with pytest.raises(W2VError) as err:
        validate(cfg)
    assert "sigma_table=true" in str(err.value) and "optim=sgd" in str(err.value) and "\n" not in str(err.value)
    cfg = with_override(cfg, "optim=sgd")
    validate(cfg)
    reason = TritonEngine.unavailable(cfg, torch.device("cuda"))
    assert reason is not None and "sigma_table" in reason and "\n" not in reason


def test_ns_skip_saturated_with_an_autograd_optimizer_is_a_one_line_error(base_cfg):
    cfg = with_override(with_override(base_cfg, "ns_skip_saturated=true"), "optim=sparse_adam")
    with pytest.raises(W2VError) as err:
        validate(cfg)
    assert "ns_skip_saturated=true" in str(err.value) and "optim=sgd" in str(err.value) and "\n" not in str(err.value)
    validate(with_override(cfg, "optim=sgd"))


@pytest.mark.parametrize(
    "overrides, levers",
    [
        ([], (True, True)),  # skip-gram NS: shared negatives, batched
        (["hs=true", "negatives=0"], (False, False)),  # pure hierarchical softmax: batched windows missed the targets
        (["hs=true", "negatives=0", "batch_windows=true"], (False, True)),  # an explicit value always wins
        (["hs=true"], (False, False)),  # hs and negatives both: not measured, per pair
        (["sg=false"], (False, False)),  # CBOW: the shared draw cost 1-2 analogy points
        (["sg=false", "hs=true", "negatives=0"], (False, False)),
        (["subwords.enabled=true"], (False, False)),  # fastText: not measured
        (["shared_negatives=false"], (False, False)),  # per-pair draws share no rows to batch
        (["window=10", "negatives=15"], (True, True)),  # the widest window and most negatives measured
        (["window=11"], (False, False)),  # beyond them: not measured, per pair
        (["negatives=16"], (False, False)),
        (["window=20", "negatives=50", "shared_negatives=true"], (True, True)),  # explicit: the user's call
        (["batch_windows=false"], (True, False)),
        (["sg=false", "shared_negatives=true"], (True, False)),  # an explicit value always wins
    ],
)
def test_window_levers_left_null_are_on_only_where_measured(base_cfg, overrides, levers):
    cfg = base_cfg
    for override in overrides:
        cfg = with_override(cfg, override)
    assert (base_cfg.shared_negatives, base_cfg.batch_windows) == (None, None)  # the default: auto
    assert window_levers(cfg) == levers
    validate(cfg)


@pytest.mark.parametrize("overrides", [["hs=true", "negatives=0"], ["shared_negatives=true"], []])
def test_batch_windows_with_a_shared_path_or_shared_negatives_is_valid(base_cfg, overrides):
    cfg = with_override(base_cfg, "batch_windows=true")
    for override in overrides:
        cfg = with_override(cfg, override)
    validate(cfg)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("windw=3", "windw"),  # unknown key
        ("corpus.pth=/x", "pth"),  # unknown nested key
        ("window=abc", "window"),  # wrong type
        ("sample=lots", "sample"),
        ("corpus=nope", "nope"),  # unknown corpus option
    ],
)
def test_unknown_keys_wrong_types_and_options_fail_at_composition(compose_cfg, override, fragment):
    with pytest.raises((ConfigCompositionException, HydraException, OmegaConfBaseException)) as err:
        compose_cfg([override])
    assert fragment in str(err.value) or fragment in str(err.value.__cause__)


def test_resumed_run_reuses_its_directory(compose_cfg):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR), job_name="test"):
        fresh = compose("train", return_hydra_config=True)
        resumed = compose("train", overrides=["resume=outputs/2024-01-01/10-00-00"], return_hydra_config=True)
        assert OmegaConf.select(fresh, "hydra.run.dir").startswith("outputs/")
        assert OmegaConf.select(resumed, "hydra.run.dir") == "outputs/2024-01-01/10-00-00"


def test_multirun_dirs_are_named_by_overrides_without_paths_or_machine_settings(compose_cfg):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR), job_name="test"):
        cfg = compose("train", return_hydra_config=True)
    assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.override_dirname}"
    excluded = set(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert {"corpus.path", "resume", "device", "threads", "workers"} <= excluded
    assert cfg.hydra.job.chdir is False
