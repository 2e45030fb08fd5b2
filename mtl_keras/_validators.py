"""Argument validators shared by the package: ints, numbers and choices.

Each check returns the value it accepted (an `int`, a `float`, or the choice)
and raises `ValueError` otherwise, with a message in Keras' style naming the
argument, what was expected and what was received:

    Expected num_experts to be an int >= 1. Received: num_experts=0
    Expected epsilon to be finite and > 0. Received: epsilon=-1.0
    Expected 0 <= dropout < 1. Received: dropout=1.5
    Expected sampling to be one of ['log', 'uniform']. Received: sampling='exp'

A value of the wrong type (a string, a bool, a float where an int is
expected) is reported the same way, as a `ValueError`: as in Keras' own
layers, the message states the one condition the argument must meet.
`bool` is never accepted as a number, though Python counts it as an int.

The predicates `is_int` and `is_number` answer the same questions without
raising, for checks over containers (a list of widths, a dict of weights).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

__all__ = ["check_choice", "check_int", "check_number", "is_int", "is_number"]


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (Python or NumPy), not a bool.

    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether `value` is a finite real number (Python or NumPy), not a bool.

    >>> is_number(0.5), is_number(float("inf")), is_number("0.5"), is_number(False)
    (True, False, False, False)
    """
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_int(value: Any, name: str, *, min_value: int | None = None,
              max_value: int | None = None, allow_none: bool = False) -> int | None:
    """Checks that `value` is an int in `[min_value, max_value]`.

    Args:
        value: The argument.
        name: Its name, as the caller spells it (`"num_experts"`).
        min_value, max_value: Optional inclusive bounds.
        allow_none: Also accept `None` (returned as is).

    Returns:
        `value` as a Python `int` (or `None`).

    Raises:
        ValueError: If `value` is not an int (a bool is not) or is out of bounds.

    Example:

    >>> check_int(4, "num_experts", min_value=1)
    4
    >>> check_int(0, "num_experts", min_value=1)
    Traceback (most recent call last):
    ...
    ValueError: Expected num_experts to be an int >= 1. Received: num_experts=0
    >>> check_int(None, "top_k", min_value=1, max_value=4, allow_none=True) is None
    True
    """
    if value is None and allow_none:
        return None
    ok = is_int(value) and (min_value is None or value >= min_value) and (
        max_value is None or value <= max_value)
    if not ok:
        expected = "an int" + _int_bounds(min_value, max_value)
        if allow_none:
            expected = "None or " + expected
        raise ValueError(f"Expected {name} to be {expected}. Received: {name}={value!r}")
    return int(value)


def check_number(value: Any, name: str, *, min_value: float | None = None,
                 max_value: float | None = None, min_exclusive: bool = False,
                 max_exclusive: bool = False, allow_none: bool = False) -> float | None:
    """Checks that `value` is a finite real number within optional bounds.

    Args:
        value: The argument (an int or float, Python or NumPy; not a bool or
            a string).
        name: Its name, as the caller spells it (`"learning_rate"`).
        min_value, max_value: Optional bounds, inclusive unless
            `min_exclusive` / `max_exclusive`.
        min_exclusive, max_exclusive: Make the bound strict (`> 0`, `< 1`).
        allow_none: Also accept `None` (returned as is).

    Returns:
        `value` as a Python `float` (or `None`).

    Raises:
        ValueError: If `value` is not a number, not finite, or out of bounds.

    Example:

    >>> check_number(1e-3, "learning_rate", min_value=0, min_exclusive=True)
    0.001
    >>> check_number(0.0, "learning_rate", min_value=0, min_exclusive=True)
    Traceback (most recent call last):
    ...
    ValueError: Expected learning_rate to be finite and > 0. Received: learning_rate=0.0
    >>> check_number(1.0, "dropout", min_value=0, max_value=1, max_exclusive=True)
    Traceback (most recent call last):
    ...
    ValueError: Expected 0 <= dropout < 1. Received: dropout=1.0
    """
    if value is None and allow_none:
        return None
    ok = is_number(value)
    if ok and min_value is not None:
        ok = value > min_value if min_exclusive else value >= min_value
    if ok and max_value is not None:
        ok = value < max_value if max_exclusive else value <= max_value
    if not ok:
        low = None if min_value is None else ("<" if min_exclusive else "<=")
        high = None if max_value is None else ("<" if max_exclusive else "<=")
        if low and high:
            expected = f"Expected {min_value} {low} {name} {high} {max_value}"
        elif low:
            expected = f"Expected {name} to be finite and {_flip(low)} {min_value}"
        elif high:
            expected = f"Expected {name} to be finite and {high} {max_value}"
        else:
            expected = f"Expected {name} to be a finite number"
        if allow_none:
            expected += " (or None)"
        raise ValueError(f"{expected}. Received: {name}={value!r}")
    return float(value)


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Checks that `value` is one of `choices`.

    Args:
        value: The argument.
        name: Its name, as the caller spells it.
        choices: The accepted values (compared with `==`).

    Returns:
        `value`.

    Raises:
        ValueError: If `value` is not among `choices`.

    Example:

    >>> check_choice("min", "direction", ("min", "max"))
    'min'
    >>> check_choice("up", "direction", ("min", "max"))
    Traceback (most recent call last):
    ...
    ValueError: Expected direction to be one of ['min', 'max']. Received: direction='up'
    """
    choices = list(choices)
    # `in` alone would accept True for 1 (and 1 for True).
    if not any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in choices):
        raise ValueError(f"Expected {name} to be one of {choices}. Received: {name}={value!r}")
    return value


def _int_bounds(min_value, max_value):
    if min_value is not None and max_value is not None:
        return f" in [{min_value}, {max_value}]"
    if min_value is not None:
        return f" >= {min_value}"
    if max_value is not None:
        return f" <= {max_value}"
    return ""


def _flip(op):
    return {"<": ">", "<=": ">="}[op]
