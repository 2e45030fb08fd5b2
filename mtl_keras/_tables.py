"""The one table formatter of the package: aligned plain text, or Markdown.

Used by the `mtl-keras` verbs, the tuning summary and the benchmarks. Cells
are formatted by `format_cell`: `None` is `-`, a float has `float_format`
(4 decimals by default), anything else is `str(cell)`; pre-format a cell as a
string to choose its precision.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["format_cell", "format_table"]

ALIGNMENTS = ("left", "right")


def format_cell(value: Any, float_format: str = ".4f") -> str:
    """A table cell: `-` for None, `float_format` for floats, `str` otherwise.

    >>> format_cell(None), format_cell(0.25), format_cell(3), format_cell("a")
    ('-', '0.2500', '3', 'a')
    """
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, float_format)
    return str(value)


def format_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]], *,
                 markdown: bool = False, align: Sequence[str] | None = None,
                 float_format: str = ".4f") -> str:
    """Formats `rows` under `headers` as a table.

    Plain text (default): columns padded to their widest cell and separated
    by two spaces, a dashed rule under the header, no trailing spaces.
    Markdown: `| a | b |` rows with a `|---|---:|` rule.

    Args:
        headers: Column names.
        rows: One sequence of cells per row, as long as `headers`.
        markdown: Write a Markdown table instead of plain text.
        align: Optional `"left"` / `"right"` per column (default all left):
            plain text pads on the other side; Markdown writes `---` / `---:`.
        float_format: Format spec of float cells (see `format_cell`).

    Returns:
        The table, lines joined by newlines (no final newline).

    Raises:
        ValueError: A row or `align` whose length differs from `headers`,
            or an alignment other than `"left"` / `"right"`.

    Example:

    >>> print(format_table(["task", "mae"], [["a", 0.5], ["bb", None]]))
    task  mae
    ----  ------
    a     0.5000
    bb    -
    >>> print(format_table(["task", "mae"], [["a", 0.5]], markdown=True, align=["left", "right"]))
    | task | mae |
    |---|---:|
    | a | 0.5000 |
    """
    headers = [str(h) for h in headers]
    align = ["left"] * len(headers) if align is None else list(align)
    if len(align) != len(headers) or any(a not in ALIGNMENTS for a in align):
        raise ValueError(
            f"Expected align to be one of {list(ALIGNMENTS)} per column ({len(headers)} "
            f"columns). Received: align={align!r}")
    body = []
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(
                f"Expected every row to have {len(headers)} cells (one per header "
                f"{headers}). Received: row {i} = {list(row)!r}")
        body.append([format_cell(c, float_format) for c in row])
    if markdown:
        rule = "|" + "".join("---:|" if a == "right" else "---|" for a in align)
        lines = ["| " + " | ".join(r) + " |" for r in [headers] + body]
        return "\n".join([lines[0], rule] + lines[1:])
    cells = [headers] + body
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        padded = (c.rjust(w) if a == "right" else c.ljust(w)
                  for c, w, a in zip(row, widths, align))
        return "  ".join(padded).rstrip()

    lines = [line(r) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
