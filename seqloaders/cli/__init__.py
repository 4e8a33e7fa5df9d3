"""The ``seqloaders`` command line. One module per subcommand; the CLI only calls the public API.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). Register it in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "SUBCOMMANDS"]

#: subcommand name → module (relative to this package)
SUBCOMMANDS = {
    "convert": ".convert",
    "inspect": ".inspect",
    "bench": ".bench",
    "check": ".check",
    "preview": ".preview",
}


def _available(only: str | None = None):
    for name, module_name in SUBCOMMANDS.items():
        if only is not None and name != only:
            yield name, None
            continue
        try:
            yield name, importlib.import_module(module_name, __name__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__name__):
                continue  # subcommand not shipped in this version
            raise


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand's module is imported (the others, e.g.
    ``bench`` with Keras and TensorFlow behind it, cost seconds to import)."""
    parser = argparse.ArgumentParser(prog="seqloaders", description="Load, check and convert image datasets for Keras.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _available(command):
        if module is None:  # not the command being run: a name only
            sub.add_parser(name)
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first argument that is not an option), if it is one."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
