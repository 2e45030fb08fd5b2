"""One module per `mtl-keras` verb: `add_parser(subparsers)` and `run(args)`."""

__all__ = ["demo", "evaluate", "export", "train", "tune"]
