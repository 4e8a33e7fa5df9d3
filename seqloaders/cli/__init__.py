"""The ``seqloaders`` command line. One module per subcommand; the CLI only calls the public API.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). Register it in :data:`SUBCOMMANDS` with the same help
line: ``seqloaders --help`` lists the subcommands from there without importing any of them (the
``bench`` module alone pulls in Keras and TensorFlow, seconds of start-up), and only the module of
the subcommand being run is imported.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys
from typing import NamedTuple

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main"]


class Subcommand(NamedTuple):
    """One registered subcommand.

    Attributes:
        module: the module that implements it, relative to this package (``".check"``).
        help: its one-line help, the module's ``HELP`` (a test checks that they agree).
        loads_tensorflow: whether running it imports TensorFlow; the CLI then imports it first,
            quietly (see :func:`seqloaders.cli.common.import_tensorflow_quietly`).
    """

    module: str
    help: str
    loads_tensorflow: bool = False


#: subcommand name → where it lives and what it does
SUBCOMMANDS: dict[str, Subcommand] = {
    "convert": Subcommand(".convert", "convert an annotated dataset to TFRecord shards (TF Object Detection API "
                          "layout)"),
    "inspect": Subcommand(".inspect", "print image and box counts, the class histogram, box sizes and every problem "
                          "found"),
    "bench": Subcommand(".bench", "measure loading throughput (images/s) and peak memory on a dataset, against the "
                        "JPEG decode ceiling and tf.data", loads_tensorflow=True),
    "check": Subcommand(".check", "open every image and report unreadable images, bad boxes and masks, duplicates "
                        "and unmapped classes"),
    "preview": Subcommand(".preview", "save a PNG of augmented samples with their encoded targets decoded back and "
                          "drawn", loads_tensorflow=True),
}


def _version() -> str:
    from .. import __version__

    return f"seqloaders {__version__}"


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and the subcommand parsers.

    Args:
        command: the subcommand being run: only its module is imported and only its parser gets
            its arguments; the others are listed by name and help line.

    Returns:
        ``(parser, subparsers)``: the top-level parser and ``{name: subcommand parser}``.
    """
    parser = argparse.ArgumentParser(prog="seqloaders", description="Load, check and convert image datasets for Keras.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {}
    for name, spec in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        subparsers[name] = p
        if name == command:
            if spec.loads_tensorflow:  # its module may import TensorFlow (bench does): keep its start-up lines off
                from .common import tensorflow_quieted

                with tensorflow_quieted():
                    module = importlib.import_module(spec.module, __name__)
            else:
                module = importlib.import_module(spec.module, __name__)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser, subparsers


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first argument that is not an option), if it is one."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def _first_positional(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _unrecognized(subparser: argparse.ArgumentParser, extras: list[str]) -> str:
    """``unrecognized arguments: ...``, with the closest option of ``subparser`` for a mistyped one."""
    known = [s for action in subparser._actions for s in action.option_strings]
    hints = []
    for arg in extras:
        if arg.startswith("--"):
            close = difflib.get_close_matches(arg.partition("=")[0], known, n=1)
            if close:
                hints.append(f"{arg}: did you mean {close[0]}?")
    message = f"unrecognized arguments: {' '.join(extras)}"
    return message + (f" ({'; '.join(hints)})" if hints else "")


def main(argv: list[str] | None = None) -> int:
    """Run the ``seqloaders`` command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the subcommand found a problem, 2 for bad arguments
        (usage errors are printed with the usage of the subcommand they concern).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(argv)
    parser, subparsers = build_parser(command)
    try:
        name = _first_positional(argv)
        if command is None and name is not None:
            close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            parser.error(f"unknown command {name!r}{hint} (choose from {', '.join(SUBCOMMANDS)})")
        args, extras = parser.parse_known_args(argv)
        if extras:
            subparsers[args.command].error(_unrecognized(subparsers[args.command], extras))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call at import, no update notice
    if SUBCOMMANDS[args.command].loads_tensorflow:
        from .common import import_tensorflow_quietly

        import_tensorflow_quietly()
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
