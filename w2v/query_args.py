"""The query commands' ``key=value`` arguments (``similar.py``, ``recommend.py``), made into Hydra overrides.

The query commands take free text: words such as ``##ing``, song titles with commas, quotes and
brackets, and keys that repeat (``song=3822 song=1012``). Hydra's override grammar would read those
as sweeps, lists or syntax errors, and keeps only the last of a repeated key. So before Hydra sees
them, each of a command's own keys is parsed as these commands always parsed it (aliases, repeats,
lists) and handed to Hydra as one quoted value; a key the schema lacks, or a value of the wrong
type, is one line (exit 2) rather than Hydra's multi-line report. Hydra's own arguments
(``--help``, ``--cfg job``, ``hydra.*``) pass through untouched.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from w2v.errors import W2VError

HELP = ("-h", "--help", "help")
_FLAGS_WITH_VALUE = ("-c", "--cfg", "-p", "--package")  # Hydra flags whose value is the next argument
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class QueryArgs:
    """How one query command reads its arguments.

    ``schema``: the command's config dataclass; its fields are the keys, listed in this order in errors.
    ``lists``: for each list key, how one argument splits into values (a repeated key adds to the list).
    ``aliases``: other spellings of keys (``neg`` for ``negative``).
    """

    schema: type
    lists: Mapping[str, Callable[[str], list[str]]]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def overrides(self, argv: Sequence[str]) -> list[str]:
        """Hydra's command line for ``argv``; :class:`W2VError` for an unknown key or a mistyped value."""
        if any(arg in HELP for arg in argv):
            return ["--help"]  # as before Hydra: help wins over whatever else is on the line
        kinds = self._kinds()
        out: list[str] = []
        lists: dict[str, list[str]] = {}
        flag_value = False
        for arg in argv:
            if flag_value or arg.startswith("-"):
                out.append(arg)
                flag_value = arg in _FLAGS_WITH_VALUE
                continue
            key, sep, value = arg.partition("=")
            if key.lstrip("+~").split(".")[0].split("/")[0] == "hydra":
                out.append(arg)
                continue
            key = key.lstrip("+")
            key = self.aliases.get(key, key)
            kind = kinds.get(key)
            if not sep or kind is None:
                raise W2VError(f"unknown argument {arg!r}: use {', '.join(f'{k}=' for k in kinds)} (see --help)")
            if kind == "list":
                lists.setdefault(key, []).extend(self.lists[key](value))
            else:
                out.append(f"{key}={_typed(key, value, kind)}")
        out += [f"{key}=[{','.join(quote(v) for v in values)}]" for key, values in lists.items()]
        return out

    def _kinds(self) -> dict[str, str]:
        """Each key's kind (list, int, bool or str), from the schema's type hints, in field order."""
        hints = typing.get_type_hints(self.schema)
        kinds = {}
        for f in dataclasses.fields(self.schema):
            hint = hints[f.name]
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            base = typing.get_origin(hint) or hint
            if base is typing.Union and len(args) == 1:  # Optional[X] is X or null
                hint = args[0]
                base = typing.get_origin(hint) or hint
            kinds[f.name] = "list" if base is list else {int: "int", bool: "bool"}.get(base, "str")
        return kinds


def _typed(key: str, value: str, kind: str) -> Any:
    """The value as Hydra should read it: a checked integer or boolean, or a quoted string."""
    if kind == "int":
        if not value.isdigit():
            raise W2VError(f"invalid value {key}={value!r}: must be a positive integer")  # the query keys are counts
        return int(value)
    if kind == "bool":
        if value.lower() not in _TRUE + _FALSE:
            raise W2VError(f"invalid value {key}={value!r}: use true or false")
        return "true" if value.lower() in _TRUE else "false"
    return quote(value)


def quote(value: str) -> str:
    """``value`` as one quoted string in Hydra's override grammar: no interpolation, no list, no sweep."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${") + "'"
