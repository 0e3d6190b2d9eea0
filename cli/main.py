"""The `catdog` command: its parser and the one place user errors are printed. Each subcommand (a module
of this package) imports what it needs when it runs, so `catdog --help` and argument errors answer at once."""

import argparse
import os
import sys

from cli import kfp, logs, predict, report, run, score, serve
from components.errors import CatdogError
from components.settings_core import attach_option_values
from pipeline.settings import RunSettings

# Each module adds its subcommands with add_parser(subparsers) and imports heavy modules only when run.
COMMANDS = [run, serve, predict, score, kfp, report]


def _error_message(exc: BaseException) -> str | None:
    """The message of a CatdogError anywhere in the exception's chain (the runner may wrap it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, CatdogError):
            return str(exc)
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _Parser(argparse.ArgumentParser):
    """A value argparse cannot take (`--epochs 1e20`, a missing argument) is one line, as every other user
    error is; the subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"catdog: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="catdog",
        description="A TFX pipeline for two-class image folders: train, gate, push and serve an image classifier.",
    )
    _add_verbose(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    _add_verbose_to_subcommands(parser)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="show every library's warnings and logs (TensorFlow's C++ logs, TFX's INFO lines)",
    )


def _add_verbose_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """`catdog run -v` as well as `catdog -v run`: a subcommand's flag leaves the top level's when absent."""
    for action in parser._actions:  # argparse keeps its subcommands' parsers only there
        for subparser in action.choices.values() if isinstance(action, argparse._SubParsersAction) else []:
            _add_verbose(subparser, default=argparse.SUPPRESS)
            _add_verbose_to_subcommands(subparser)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(attach_option_values(sys.argv[1:] if argv is None else argv, [RunSettings]))
    logs.configure(args.verbose)  # before a command imports TensorFlow
    # Keras 2 (tf_keras) from the start, as TFT sets it when imported (and the image's ENV): set before TensorFlow
    # loads, TensorFlow also imports Keras 2 eagerly, instead of Keras 3 that no command uses (3.6 s of each start).
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - bad input gets one line, anything else the traceback
        message = _error_message(e)
        if message is None:
            raise
        print(f"catdog: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
