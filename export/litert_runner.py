"""Runs a `.tflite` file written by `mtl_keras.exporters` with the LiteRT interpreter.

Needs only `ai-edge-litert` and NumPy (no TensorFlow), as on a device.

    python export/litert_runner.py penguins_float32.tflite --list
    python export/litert_runner.py penguins_int8.tflite --signature species \\
        --inputs '{"measurements": [[39.1, 18.7, 181.0]], "island": [[0, 0, 1]]}'

Every file has the signature `serving_default` (all tasks, keyed by task name)
and one per task (that head only), or, for per-task files, just `<task>`.
Inputs and outputs are float32 in every quantization mode (int8 files quantize
and dequantize inside the model).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DEFAULT_SIGNATURE = "serving_default"


class LiteRTRunner:
    """Signature runners of one `.tflite` file.

    Args:
        path: The `.tflite` file.
        num_threads: Interpreter threads (None: LiteRT's default).

    Example:

    >>> runner = LiteRTRunner("penguins_float32.tflite")     # doctest: +SKIP
    >>> runner.predict({"measurements": m, "island": i}, "species")  # doctest: +SKIP
    {'species': array([[...]], dtype=float32)}
    """

    def __init__(self, path: str, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.signatures = self.interpreter.get_signature_list()
        self._runners = {}

    def input_names(self, signature: str = DEFAULT_SIGNATURE) -> list[str]:
        return list(self._check(signature)["inputs"])

    def output_names(self, signature: str = DEFAULT_SIGNATURE) -> list[str]:
        return list(self._check(signature)["outputs"])

    def _check(self, signature):
        if signature not in self.signatures:
            raise ValueError(
                f"Expected a signature among {sorted(self.signatures)}. "
                f"Received: signature={signature!r}")
        return self.signatures[signature]

    def predict(self, inputs: dict, signature: str = DEFAULT_SIGNATURE) -> dict:
        """`{task: np.ndarray}` for `{input_name: batch}` (any batch size)."""
        names = self.input_names(signature)
        missing = sorted(set(names) - set(inputs))
        if missing:
            raise ValueError(f"Expected inputs {sorted(names)}. Missing: {missing}")
        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        feed = {k: np.asarray(inputs[k], np.float32) for k in names}
        return dict(self._runners[signature](**feed))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--signature", default=DEFAULT_SIGNATURE)
    p.add_argument("--inputs", help="JSON: {input_name: batch}.")
    p.add_argument("--list", action="store_true", help="Print the signatures and exit.")
    p.add_argument("--benchmark", type=int, default=0, metavar="N",
                   help="Also time N calls and print the median latency.")
    args = p.parse_args(argv)
    runner = LiteRTRunner(args.model)
    if args.list or not args.inputs:
        json.dump(runner.signatures, sys.stdout, indent=1)
        print()
        return 0
    inputs = json.loads(args.inputs)
    out = runner.predict(inputs, args.signature)
    json.dump({k: v.tolist() for k, v in out.items()}, sys.stdout, indent=1)
    print()
    if args.benchmark:
        times = []
        for _ in range(args.benchmark):
            t0 = time.perf_counter()
            runner.predict(inputs, args.signature)
            times.append(time.perf_counter() - t0)
        print(f"median latency: {1e6 * float(np.median(times)):.1f} us over {args.benchmark} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
