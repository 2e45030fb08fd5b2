"""The `mtl-keras` command: `demo`, `train`, `evaluate`, `tune`, `export`.

Each verb lives in its own module under `mtl_keras.commands`, exposing
`add_parser(subparsers)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

VERBS = ("demo", "train", "evaluate", "tune", "export")


def _available_verbs():
    found = []
    for verb in VERBS:
        try:
            found.append((verb, importlib.import_module(f"mtl_keras.commands.{verb}")))
        except ModuleNotFoundError as e:
            if e.name != f"mtl_keras.commands.{verb}":
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtl-keras",
        description="Multi-task learning on Keras 3: train, evaluate, tune and export.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for _, module in _available_verbs():
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        print(f"mtl-keras {args.verb}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
