"""One module per `mtl-keras` verb: `add_parser(subparsers)` and `run(args)`."""
