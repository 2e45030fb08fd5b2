"""The `mtl-keras` command: `demo`, `train`, `evaluate`, `predict`, `tune`, `export`,
`affinity`, `compare`.

Each verb lives in its own module under `mtl_keras.commands`, exposing
`add_parser(subparsers)` and `run(args) -> int`. Those modules import no
TensorFlow at module level (`run` imports what it needs), and `import
mtl_keras` does not either (see the package docstring), so `--help` and
argument errors answer at once.

Errors: a bad flag is reported by argparse while parsing (exit status 2).
Any error while running is one line on stderr, `mtl-keras VERB: error:
...`, with exit status 2 for errors in what the command was given (a value,
a path, a file: `ValueError`, `TypeError`, `LookupError`, `OSError`) and 1
for anything else; Ctrl-C exits with 130 and one line. `--debug` shows the
Python traceback instead, and TensorFlow's start-up log lines.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["VERBS", "build_parser", "main", "one_line"]

VERBS = ("demo", "train", "evaluate", "tune", "export", "predict", "affinity", "compare")
_USER_ERRORS = (ValueError, TypeError, LookupError, OSError)
_MAX_MESSAGE = 600
_DEBUG_HELP = "Show Python tracebacks and TensorFlow's start-up log lines."


def build_parser() -> argparse.ArgumentParser:
    """The `mtl-keras` parser with one sub-parser per verb (imports no TensorFlow)."""
    parser = argparse.ArgumentParser(
        prog="mtl-keras",
        description="Multi-task learning on Keras 3: train, evaluate, tune and export.",
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        verb_parser = importlib.import_module(f"mtl_keras.commands.{verb}").add_parser(sub)
        # Also accepted after the verb; SUPPRESS keeps a --debug given before it.
        verb_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help=_DEBUG_HELP)
    return parser


def one_line(error: BaseException) -> str:
    """`error`'s message on one line (whitespace collapsed, long messages cut)."""
    message = " ".join(str(error).split())
    if isinstance(error, KeyError) or not message:
        message = f"{type(error).__name__}: {message}".rstrip(": ")
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE].rstrip() + " ... (--debug shows the whole message)"
    return message


def main(argv=None) -> int:
    """Runs `mtl-keras` with `argv` (default `sys.argv[1:]`); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug
    prefix = f"{parser.prog} {args.verb}"
    try:
        from mtl_keras.commands import _startup

        _startup.import_tensorflow(quiet=not debug)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the command's last line of defence.
        if debug:
            raise
        if isinstance(e, _USER_ERRORS):
            print(f"{prefix}: error: {one_line(e)}", file=sys.stderr)
            return 2
        print(f"{prefix}: error: {type(e).__name__}: {one_line(e)} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
