"""Corpus kinds that bring their own reader or evaluation, chosen by name: a file never names code.

``corpus.reader`` and ``corpus.evaluator`` hold a registered name, such as ``playlists``. Whatever
config is in force (the command line's, a checkpoint's saved config on ``resume=``, an init run's),
its value only selects one of the functions registered here; no module is imported because a config
or a checkpoint names it.

Registered:

- w2v's own kinds, in :data:`BUILTIN`: ``playlists`` (:mod:`w2v.songs`: the playlists reader, the
  next-song evaluation, and the schema of the keys only they read). The dotted paths that configs
  and checkpoints written before this registry hold (``w2v.songs.data.iter_playlists``,
  ``w2v.songs.evaluate.evaluate_songs``) are aliases of it, compared as strings and never imported.
- Other packages' kinds, through entry points in their own ``pyproject.toml``::

      [project.entry-points."w2v.readers"]
      mykind = "mypackage.corpus:iter_mykind"        # f(corpus_cfg) -> iterable of token lists
      [project.entry-points."w2v.evaluators"]
      mykind = "mypackage.evaluate:evaluate_mykind"  # f(run_dir, words, vectors, cfg, tb, step, final=..., out_vectors=...) -> metrics
      [project.entry-points."w2v.corpus_schemas"]
      mykind = "mypackage.config:MyCorpusConfig"      # a dataclass subclassing w2v.config.CorpusConfig

  and their corpus config sets ``reader: mykind`` (and ``evaluator: mykind``). A kind with keys of its
  own registers their schema: :func:`w2v.config.register_configs` stores it in Hydra's ConfigStore as
  ``corpus/mykind_schema``, which the kind's corpus YAML puts first in its defaults list
  (``- /corpus/mykind_schema@corpus``), and a checkpoint's saved config is typed by the schema of the
  reader (else the evaluator) it names (:func:`corpus_schema`). Installing a package is the user's
  decision to run its code; a name in a file only picks among what is installed, and only the reader
  or evaluator picked is loaded (schemas, plain dataclasses, are all loaded when w2v registers its
  configs, since Hydra must know them before it reads a YAML that names one). A package cannot take a built-in name. A plug-in's
  ``module.function`` spelling (``mypackage.corpus.iter_mykind``) is accepted as an alias of its name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from w2v.errors import W2VError

READERS = "w2v.readers"
EVALUATORS = "w2v.evaluators"
SCHEMAS = "w2v.corpus_schemas"

# group -> name -> (module, function) inside w2v; constants of the code, never taken from a file.
BUILTIN: dict[str, dict[str, tuple[str, str]]] = {
    READERS: {"playlists": ("w2v.songs.data", "iter_playlists")},
    EVALUATORS: {"playlists": ("w2v.songs.evaluate", "evaluate_songs")},
    SCHEMAS: {"playlists": ("w2v.songs.config", "PlaylistsCorpusConfig")},
}
_KEY = {READERS: "corpus.reader", EVALUATORS: "corpus.evaluator", SCHEMAS: "corpus schema"}
_WHAT = {READERS: "reader", EVALUATORS: "evaluator", SCHEMAS: "corpus schema"}


def _plugins(group: str) -> dict[str, EntryPoint]:
    """Installed packages' entry points of ``group`` by name (built-in names win)."""
    return {ep.name: ep for ep in entry_points(group=group) if ep.name not in BUILTIN[group]}


def names(group: str) -> list[str]:
    """Every name ``group`` accepts: the built-in ones, then the installed plug-ins'."""
    return [*BUILTIN[group], *sorted(_plugins(group))]


def _alias(group: str, value: str) -> str | None:
    """The registered name a dotted ``module.function`` spelling stands for, or None."""
    for name, (module, function) in BUILTIN[group].items():
        if value == f"{module}.{function}":
            return name
    for name, ep in _plugins(group).items():
        if value == ep.value.replace(":", ".").replace(" ", ""):
            return name
    return None


def resolve(group: str, value: str) -> str:
    """The registered name ``value`` selects (itself, or the name of the alias it spells), or one line listing the names."""
    if value in BUILTIN[group] or value in _plugins(group):
        return value
    name = _alias(group, value)
    if name is None:
        raise W2VError(
            f"{_KEY[group]}={value!r} is not a registered {_WHAT[group]}: use one of {', '.join(names(group)) or 'none'} "
            f"(packages add theirs as {group!r} entry points; a dotted path is never imported)"
        )
    return name


def load(group: str, value: str) -> Callable[..., Any]:
    """The function registered under the name ``value`` selects; only that one is imported."""
    name = resolve(group, value)
    if name in BUILTIN[group]:
        module, function = BUILTIN[group][name]
        return getattr(importlib.import_module(module), function)
    return _plugins(group)[name].load()


def reader(value: str) -> Callable[..., Any]:
    """``corpus.reader``'s function: f(corpus_cfg) -> iterable of token lists."""
    return load(READERS, value)


def evaluator(value: str) -> Callable[..., Any]:
    """``corpus.evaluator``'s function: f(run_dir, words, vectors, cfg, tb, step, final=..., out_vectors=...) -> metrics."""
    return load(EVALUATORS, value)


def check_corpus(ccfg: Any) -> None:
    """Fail in one line, before any work, when ``corpus.reader`` or ``corpus.evaluator`` is not a registered name."""
    for group in (READERS, EVALUATORS):
        value = ccfg.get(_KEY[group].split(".")[1])
        if value:
            resolve(group, str(value))


def schemas() -> dict[str, type]:
    """Every registered corpus kind's config schema by name (built-in first), for Hydra's ConfigStore."""
    return {name: load(SCHEMAS, name) for name in names(SCHEMAS)}


def corpus_schema(ccfg: Any) -> type | None:
    """The schema of the kind whose reader (else evaluator) ``ccfg`` names; None for text corpora and
    unregistered names (which :func:`check_corpus` reports). Never raises on a damaged value, so a
    checkpoint's config can be typed before it is checked."""
    for group in (READERS, EVALUATORS):
        value = ccfg.get(_KEY[group].split(".")[1]) if hasattr(ccfg, "get") else None
        if not value or not isinstance(value, str):
            continue
        try:
            name = resolve(group, value)
        except W2VError:
            return None
        if name in BUILTIN[SCHEMAS] or name in _plugins(SCHEMAS):
            return load(SCHEMAS, name)
    return None
