"""Cell values: missing markers, numbers, whole numbers and text, the same for every source."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.data.tables.values import (
    DEFAULT_NA_VALUES,
    check_na_values,
    parse_integers,
    parse_numbers,
    to_text,
)


def test_parse_numbers_from_text():
    raw = tf.constant([" 1.5", "-2", "1e3", ".5", "", "NA", "abc", "1e999", "inf", "3,5"])
    values, invalid = parse_numbers(raw, DEFAULT_NA_VALUES)
    values = values.numpy()
    np.testing.assert_array_equal(values[:4], [1.5, -2.0, 1000.0, 0.5])
    assert np.all(np.isnan(values[4:]))
    # Missing ("", "NA") is not invalid; text, overflow, "inf" and a decimal comma are.
    assert invalid.numpy().tolist() == [False] * 6 + [True] * 4


def test_missing_markers_are_literal_compared_stripped_and_may_be_numbers():
    markers = ("-999", "?", "N/A", "(none)", "a.b", "\u2014", " x ")
    raw = tf.constant(["-999", " -999 ", "-9990", "?", "N/A", "NA", "(none)", "axb",
                       "a.b", "\u2014", "x", "\t", "", " 4 "])
    values, invalid = parse_numbers(raw, markers)
    missing = np.isnan(values.numpy()) & ~invalid.numpy()
    # Markers are literal ("a.b" does not match "axb", "?" is no regex), compared
    # with the stripped cell (so " x " marks "x"), and "" (or only spaces) is missing.
    assert missing.tolist() == [True, True, False, True, True, False, True, False,
                                True, True, True, True, True, False]
    assert invalid.numpy().tolist() == [False, False, False, False, False, True, False, True,
                                        False, False, False, False, False, False]
    assert values.numpy()[[2, 13]].tolist() == [-9990.0, 4.0]
    assert to_text(raw, markers).numpy().tolist()[:8] == [
        b"", b"", b"-9990", b"", b"", b"NA", b"", b"axb"]


def test_parse_numbers_from_float_column():
    values, invalid = parse_numbers(tf.constant([1.0, np.nan, np.inf], tf.float64), ())
    np.testing.assert_array_equal(values.numpy()[:1], [1.0])
    assert np.isnan(values.numpy()[1:]).all()
    assert invalid.numpy().tolist() == [False, False, True]


def test_parse_integers_marks_fractions_invalid():
    values, missing, invalid = parse_integers(tf.constant(["3", "3.0", "2.5", "", "x"]), ("",))
    assert values.numpy().tolist() == [3, 3, 0, 0, 0]
    assert missing.numpy().tolist() == [False, False, False, True, False]
    assert invalid.numpy().tolist() == [False, False, True, False, True]


def test_to_text_strips_marks_missing_and_writes_whole_numbers_as_integers():
    assert to_text(tf.constant([" Oslo ", "NA", "null"]), DEFAULT_NA_VALUES).numpy().tolist() \
        == [b"Oslo", b"", b""]
    got = to_text(tf.constant([3.0, -17.0, 0.25, np.nan], tf.float64), ()).numpy().tolist()
    assert got == [b"3", b"-17", b"0.25", b""]


def test_na_values_must_be_strings():
    assert check_na_values(["?", ""]) == ("?", "")
    with pytest.raises(TypeError, match="list of strings"):
        check_na_values("NA")
    with pytest.raises(TypeError, match="list of strings"):
        check_na_values(["NA", 0])


def _reference(cells, markers):
    """The module's rules in plain Python: `(number or None, invalid, text)` per cell."""
    import math
    import re

    literal = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    space = " \t\n\v\f\r"
    marks = {m.strip(space) for m in markers} - {""}
    out = []
    for cell in cells:
        text = cell.strip(space)
        missing = text == "" or text in marks
        number = None
        if not missing and re.fullmatch(literal, text) and math.isfinite(float(text)):
            number = float(text)
        out.append((number, not missing and number is None, "" if missing else text))
    return out


@pytest.mark.parametrize("markers", [DEFAULT_NA_VALUES, ("", "-1", "x"), ()])
def test_whole_column_shortcuts_agree_with_the_rules_cell_by_cell(markers):
    # Clean columns take the shortcuts (one regex over the joined column); any
    # column with one odd cell must read exactly as if every cell were checked:
    # separators (NUL) inside cells, spaces, markers, line breaks, overflow.
    rng = np.random.default_rng(0)
    odd = ["", " ", "1\x002", "\x00", "1\x00", "NA", " 1", "1 ", "\n1", "1\n", "-1", "x",
           "x\x00", "1e999", "+.5e-3", "nan", "a b", "3.", "a"]
    columns = [["1", "2.5", "", "-3e2"], ["a", "bc", "", "d e"], ["1", "1e999", ""]]
    for _ in range(60):
        clean = [str(v) for v in np.round(rng.normal(0, 10, 6), 2)]
        columns.append(clean + [odd[int(rng.integers(len(odd)))]])
        columns.append(["".join(rng.choice(list("a1 \n\x00-.x"), int(rng.integers(0, 4))))
                        for _ in range(5)])
    for cells in columns:
        raw = tf.constant(cells)
        values, invalid = parse_numbers(raw, markers)
        text = to_text(raw, markers).numpy().tolist()
        want = _reference(cells, markers)
        for i, (number, bad, string) in enumerate(want):
            got = values.numpy()[i]
            assert (np.isnan(got) if number is None else got == number), (cells, i)
            assert bool(invalid.numpy()[i]) == bad, (cells, i)
            assert text[i] == string.encode(), (cells, i)
    # Which columns take the shortcuts (so both branches above were compared).
    from mtl_keras.data.tables.values import _all_bare_numbers, _needs_text_check

    assert bool(_all_bare_numbers(tf.constant(["1", "", "-2.5e3", ".5"])))
    for cells in (["1", " 2"], ["1", "NA"], ["1\x002"], ["1", "\x00"]):
        assert not bool(_all_bare_numbers(tf.constant(cells))), cells
    assert not bool(_needs_text_check(tf.constant(["a", "", "b c", "1\x00x"]), ("", "NA")))
    for cells in (["a", " b"], ["a\n"], ["NA"], ["a", "x\x00 "], ["\x00NA"]):
        assert bool(_needs_text_check(tf.constant(cells), ("", "NA"))), cells
