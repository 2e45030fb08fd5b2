"""`mtl_keras._validators`: what each check accepts, returns and says."""

import numpy as np
import pytest

from mtl_keras._validators import check_choice, check_int, check_number, is_int, is_number


def test_check_int_accepts_ints_and_returns_python_ints():
    assert check_int(3, "n") == 3
    value = check_int(np.int64(5), "n", min_value=1, max_value=5)
    assert value == 5 and type(value) is int
    assert check_int(None, "n", allow_none=True) is None


@pytest.mark.parametrize("value, kwargs, message", [
    (0, {"min_value": 1}, "Expected n to be an int >= 1. Received: n=0"),
    (7, {"max_value": 6}, "Expected n to be an int <= 6. Received: n=7"),
    (7, {"min_value": 1, "max_value": 6}, r"Expected n to be an int in \[1, 6\]. Received: n=7"),
    (True, {"min_value": 1}, "Expected n to be an int >= 1. Received: n=True"),
    (2.0, {}, "Expected n to be an int. Received: n=2.0"),
    ("2", {}, "Expected n to be an int. Received: n='2'"),
    (None, {"min_value": 1}, "Received: n=None"),
    (0, {"min_value": 1, "allow_none": True}, "Expected n to be None or an int >= 1"),
])
def test_check_int_rejects(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_int(value, "n", **kwargs)


def test_check_number_accepts_and_returns_python_floats():
    value = check_number(np.float32(0.5), "x", min_value=0, max_value=1)
    assert value == 0.5 and type(value) is float
    assert check_number(2, "x") == 2.0
    assert check_number(0, "x", min_value=0) == 0.0          # inclusive bound
    assert check_number(None, "x", allow_none=True) is None


@pytest.mark.parametrize("value, kwargs, message", [
    (0.0, {"min_value": 0, "min_exclusive": True},
     "Expected x to be finite and > 0. Received: x=0.0"),
    (-1, {"min_value": 0}, "Expected x to be finite and >= 0. Received: x=-1"),
    (2.0, {"max_value": 1, "max_exclusive": True},
     "Expected x to be finite and < 1. Received: x=2.0"),
    (1.0, {"min_value": 0, "max_value": 1, "max_exclusive": True},
     "Expected 0 <= x < 1. Received: x=1.0"),
    (-0.5, {"min_value": 0, "max_value": 1}, "Expected 0 <= x <= 1. Received: x=-0.5"),
    (float("nan"), {}, "Expected x to be a finite number. Received: x=nan"),
    (float("inf"), {"min_value": 0}, "Expected x to be finite and >= 0. Received: x=inf"),
    ("0.5", {}, "Expected x to be a finite number. Received: x='0.5'"),
    (False, {}, "Received: x=False"),
    (-1.0, {"min_value": 0, "allow_none": True}, r"finite and >= 0 \(or None\)"),
])
def test_check_number_rejects(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "x", **kwargs)


def test_check_choice():
    assert check_choice(None, "normalize", ("mean", None)) is None
    assert check_choice("log", "sampling", ["log", "uniform"]) == "log"
    with pytest.raises(ValueError, match=r"Expected sampling to be one of \['log', 'uniform'\]. "
                                         "Received: sampling='exp'"):
        check_choice("exp", "sampling", ["log", "uniform"])
    with pytest.raises(ValueError, match="Received: k=True"):
        check_choice(True, "k", [1, 2])      # a bool is not the int 1


def test_predicates():
    assert [is_int(v) for v in (1, np.int32(1), True, 1.0, "1")] == [True, True, False, False,
                                                                        False]
    assert [is_number(v) for v in (1, 0.5, np.float16(2), float("inf"), True, "1", None)] == [
        True, True, True, False, False, False, False]
