"""What a w2v checkpoint holds, checked once when it is loaded.

A checkpoint is data: a key that is missing, of another type, or of a shape that does not fit the
vocabulary it records stops the run with one line naming the key, before anything uses it (instead of
a KeyError, TypeError or an index error in the middle of an epoch). The layout is the one
:meth:`w2v.train.trainer.Trainer._save` writes; keys that older versions did not write are optional.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from w2v.config import train_schema
from w2v.errors import W2VError
from w2v.models.word2vec import ModelSpec

Check = Callable[[Any], str | None]  # what is wrong with a value ("is a str, not a list"), or None


def _named(value: Any) -> str:
    return "a tensor" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _is(*types: type, name: str) -> Check:
    """A value of one of ``types`` (a bool is not an int here: ``epoch: true`` is damage, not epoch 1)."""

    def check(value: Any) -> str | None:
        if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
            return None
        return f"is {_named(value)}, not {name}"

    return check


def _count(value: Any) -> str | None:
    return _is(int, name="a count")(value) or (f"is {value}, not a count >= 0" if value < 0 else None)


def _numbers(value: Any) -> str | None:
    bad = _is(list, name="a list of numbers")(value)
    if bad is None and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        bad = "is not a list of numbers"
    return bad


def _strings(value: Any) -> str | None:
    bad = _is(list, name="a list of strings")(value)
    return bad if bad is not None or all(isinstance(v, str) for v in value) else "is not a list of strings"


def _start(value: Any) -> str | None:
    """progress.start: worker -> [block, batch], the worker as a decimal string."""
    bad = _is(dict, name="a dict")(value)
    if bad is None:
        for worker, where in value.items():
            ok = isinstance(worker, str) and worker.isdigit() and isinstance(where, (list, tuple)) and len(where) == 2
            if not ok or any(_count(v) for v in where):
                return f"holds {worker!r}: {where!r}, not worker: [block, batch]"
    return bad


def _table(value: Any) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"is {_named(value)}, not a tensor"
    return None if value.dim() == 2 and value.is_floating_point() else f"is a {value.dim()}-d {value.dtype} tensor, not a 2-d float table"


def _int_vector(value: Any) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"is {_named(value)}, not a tensor"
    ok = value.dim() == 1 and not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool
    return None if ok else f"is a {value.dim()}-d {value.dtype} tensor, not a 1-d integer tensor"


_DICT = _is(dict, name="a dict")
_REQUIRED: dict[str, Check] = {
    "model": _DICT,
    "vocab": _DICT,
    "remap": _int_vector,
    "config": _DICT,
    "progress": _DICT,
    "metrics": _DICT,
}
_OPTIONAL: dict[str, Check] = {  # absent from checkpoints of earlier versions
    "model_spec": _DICT,
    "optimizer": _DICT,
    "id_files": _strings,
    "id_sizes": lambda v: _is(list, name="a list of counts")(v) or next((f"holds {x!r}" for x in v if _count(x)), None),
    "dist_world_size": _count,
}
_PROGRESS_REQUIRED: dict[str, Check] = {
    "epoch": _count,
    "start": _start,
    "words_done": _count,
    "epoch_loss": _is(int, float, name="a number"),
    "epoch_pairs": _count,
    "epoch_losses": _numbers,
    "done": _is(bool, name="a bool"),
}
_PROGRESS_OPTIONAL: dict[str, Check] = {
    "val_losses": _numbers,
    "pairs_total": _count,
    "train_seconds": _is(int, float, name="a number"),
}
_SPEC: dict[str, Check] = {"sg": _is(bool, name="a bool"), "cbow_mean": _is(bool, name="a bool"), "hs": _is(bool, name="a bool"),
                           "negatives": _count}  # fmt: skip


def _problems(d: dict[str, Any], required: dict[str, Check], optional: dict[str, Check], prefix: str = "") -> Iterator[str]:
    """``key problem`` for each key of ``required`` missing from ``d`` and each present key whose value fails its check."""
    for key, check in {**required, **optional}.items():
        if key not in d:
            if key in required:
                yield f"{prefix}{key} is missing"
            continue
        bad = check(d[key])
        if bad:
            yield f"{prefix}{key} {bad}"


def validate_state(state: dict[str, Any], path: Path) -> None:
    """Check a loaded checkpoint's keys, types and table shapes; the first problem is one W2VError line."""
    for problem in _all_problems(state):
        raise W2VError(
            f"checkpoint {path}: {problem}; the file is damaged or was not written by this w2v: use an intact copy or start a new run"
        )


def _all_problems(state: dict[str, Any]) -> Iterator[str]:
    """Every problem, outer keys first, so a nested check only runs on a container of the right type."""
    outer = list(_problems(state, _REQUIRED, _OPTIONAL))
    yield from outer
    if outer:
        return
    yield from _problems(state["progress"], _PROGRESS_REQUIRED, _PROGRESS_OPTIONAL, "progress.")
    known = set(_PROGRESS_REQUIRED) | set(_PROGRESS_OPTIONAL)
    yield from (f"progress.{k} is not a key this version knows" for k in state["progress"] if k not in known)
    if "model_spec" in state:
        yield from _spec_problems(state["model_spec"])
    yield from _vocab_problems(state["vocab"], state["remap"])
    yield from _table_problems(state["model"], len(state["vocab"].get("words", [])))
    if "id_files" in state and "id_sizes" in state and len(state["id_files"]) != len(state["id_sizes"]):
        yield f"id_files names {len(state['id_files'])} files but id_sizes has {len(state['id_sizes'])} sizes"
    yield from _config_problems(state["config"])


def _spec_problems(spec: dict[str, Any]) -> Iterator[str]:
    known = {f.name for f in fields(ModelSpec)}
    yield from (f"model_spec.{k} is not a key this version knows" for k in spec if k not in known)
    yield from _problems(spec, {}, _SPEC, "model_spec.")


def _vocab_problems(vocab: dict[str, Any], remap: torch.Tensor) -> Iterator[str]:
    """vocab.words, vocab.counts (and corpus_counts) of one length; remap's ids inside the vocabulary."""
    problems = list(_problems(vocab, {"words": _strings, "counts": _int_vector}, {"corpus_counts": _int_vector}, "vocab."))
    yield from problems
    if problems:
        return
    n = len(vocab["words"])
    for key in ("counts", "corpus_counts"):
        if key in vocab and len(vocab[key]) != n:
            yield f"vocab.{key} has {len(vocab[key])} entries for {n} words"
    if len(remap) and (int(remap.min()) < -1 or int(remap.max()) >= n):
        yield f"remap maps to ids {int(remap.min())}..{int(remap.max())}, outside the {n} words of its vocabulary"


def _table_problems(model: dict[str, Any], n_words: int) -> Iterator[str]:
    """The model's tables: 2-d float tensors of one dim; rows that fit ``n_words`` (the input table also
    holds the character n-gram buckets of a subwords run, so it has at least that many)."""
    if "in_embed.weight" not in model:
        yield "model.in_embed.weight is missing"
        return
    for key, table in model.items():
        bad = _table(table)
        if bad:
            yield f"model.{key} {bad}"
            return
    dim = model["in_embed.weight"].shape[1]
    rows = {"in_embed.weight": lambda r: r >= n_words, "out_embed.weight": lambda r: r in (0, n_words),
            "hs_embed.weight": lambda r: r in (0, max(n_words - 1, 0))}  # fmt: skip
    for key, table in model.items():
        if key not in rows:
            yield f"model.{key} is not a table this version knows"
        elif table.shape[1] != dim or not rows[key](table.shape[0]):
            yield (
                f"model.{key} is {table.shape[0]}x{table.shape[1]}, which does not fit the {n_words} words of its vocabulary "
                f"and dim {dim} (tables of a different vocabulary or dim)"
            )


def _config_problems(config: dict[str, Any]) -> Iterator[str]:
    """The saved config against the schema: every key known and of its type. A checkpoint stores resolved
    values, so an interpolation (``${oc.env:...}``) in one is refused rather than resolved."""
    for key, value in _leaves(config):
        if isinstance(value, str) and "${" in value:
            yield f"config.{key} holds an interpolation ({value[:60]!r}) where a checkpoint stores plain values"
            return
    try:
        merged = OmegaConf.merge(train_schema(config), config)  # corpus typed by its kind's own schema (playlists)
        OmegaConf.to_container(merged, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        yield f"config.{key} does not fit this version's config ({first[:120]})"


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every value in nested dicts and lists."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield prefix.rstrip("."), node
        return
    for k, v in items:
        yield from _leaves(v, f"{prefix}{k}.")
