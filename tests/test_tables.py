"""`mtl_keras._tables.format_table`: plain and Markdown layouts, by hand."""

import pytest

from mtl_keras._tables import format_cell, format_table


def test_plain_table_pads_columns_and_rules_the_header():
    text = format_table(["task", "acc", "n"], [["species", 0.98765, 3], ["sex", None, 12]])
    assert text.splitlines() == [
        "task     acc     n",
        "-------  ------  --",
        "species  0.9877  3",
        "sex      -       12",
    ]


def test_right_alignment_and_float_format():
    text = format_table(["m", "v"], [["a", 1.5], ["bb", 10.25]], align=["left", "right"],
                        float_format=".1f")
    assert text.splitlines() == ["m      v", "--  ----", "a    1.5", "bb  10.2"]


def test_markdown_table():
    text = format_table(["method", "2 tasks"], [["pcgrad", "1.031"]], markdown=True,
                        align=["left", "right"])
    assert text == "| method | 2 tasks |\n|---|---:|\n| pcgrad | 1.031 |"


def test_cells():
    assert [format_cell(v) for v in (None, 1.0, 2, "x", True)] == ["-", "1.0000", "2", "x",
                                                                    "True"]


def test_bad_rows_and_alignments():
    with pytest.raises(ValueError, match=r"Expected every row to have 2 cells.*row 1"):
        format_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="Expected align"):
        format_table(["a", "b"], [], align=["left", "center"])
