"""The `catdog` command: its parser and the one place user errors are printed. Each subcommand (a module
of this package) imports what it needs when it runs, so `catdog --help` and argument errors answer at once."""

import argparse
import os
import sys
from typing import List, Optional

from components.errors import CatdogError
from cli import kfp, predict, report, run, score, serve
from components.settings_core import attach_option_values
from pipeline.settings import RunSettings

# Each module adds its subcommands with add_parser(subparsers) and imports heavy modules only when run.
COMMANDS = [run, serve, predict, score, kfp, report]


def _error_message(exc: BaseException) -> Optional[str]:
    """The message of a CatdogError anywhere in the exception's chain (the runner may wrap it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, CatdogError):
            return str(exc)
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="catdog",
        description="A TFX pipeline for two-class image folders: train, gate, push and serve an image classifier.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    args = build_parser().parse_args(attach_option_values(sys.argv[1:] if argv is None else argv, [RunSettings]))
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
