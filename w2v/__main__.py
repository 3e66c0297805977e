"""``python -m w2v <command> [key=value ...]``: the console scripts without installing them.

Commands: train, evaluate, similar, recommend (see :mod:`w2v.cli`); ``python -m w2v similar --help``
explains a command's keys.
"""

import sys

from w2v.cli import COMMANDS


def main(argv: list[str]) -> int:
    """Dispatch to the named command with the remaining arguments; usage and status 2 for anything else."""
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m w2v {{{','.join(COMMANDS)}}} [key=value ...]   (python -m w2v <command> --help)", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
