"""Argument types for the `mtl-keras` verbs.

Each is an `argparse` `type=`: a bad value is rejected while the command line
is parsed, before TensorFlow is imported, with argparse's
`argument --flag: ...` prefix naming the flag.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["name_list", "non_negative_float", "non_negative_int", "number_pairs",
           "positive_float", "positive_int", "positive_int_list", "weighting"]


def _received(text: str) -> str:
    return f"Received: {text!r}"


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1. {_received(text)}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a seed)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0. {_received(text)}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0. {_received(text)}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0. {_received(text)}")
    return value


def positive_int_list(text: str) -> list[int]:
    """Comma-separated integers >= 1, such as `64,64`."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers >= 1, such as 64,64. {_received(text)}")
    return [int(p) for p in parts]


def name_list(text: str) -> list[str]:
    """Comma-separated non-empty names without repeats, such as `species,sex`."""
    names = [p.strip() for p in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated distinct names, such as species,sex. {_received(text)}")
    return names


def number_pairs(text: str) -> dict[str, float]:
    """Comma-separated `name=number` pairs, such as `species=2,sex=0.5`."""
    pairs = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not key or not math.isfinite(number) or key in pairs:
            raise argparse.ArgumentTypeError(
                "expected comma-separated name=number pairs, such as species=2,sex=0.5. "
                f"{_received(text)}")
        pairs[key] = number
    return pairs


def weighting(text: str) -> str | dict[str, float]:
    """A weighting method name (`uncertainty`), or `task=weight` pairs (`species=2,sex=1`)."""
    if "=" in text:
        return number_pairs(text)
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"expected a weighting method name or task=weight pairs. {_received(text)}")
    return text.strip()
