"""Model-side names (inputs, tasks) derived from table column names."""

from __future__ import annotations

import re


def safe_name(column: str) -> str:
    """A name made of letters, digits and underscores, starting with a letter.

    Runs of other characters become one underscore; a name that would start
    with a digit or be empty gets a `c_` prefix.

    Example:

    >>> from mtl_keras.data.tables.names import safe_name
    >>> safe_name("Color intensity"), safe_name("OD280/OD315"), safe_name("2nd")
    ('Color_intensity', 'OD280_OD315', 'c_2nd')
    """
    name = re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_")
    if not name or not name[0].isalpha():
        name = "c_" + name
    return name


def check_unique(names: dict[str, str], what: str) -> None:
    """Raises if two columns map to the same model name.

    Args:
        names: `{column: name}`.
        what: `"input"` or `"task"`, for the message.
    """
    seen: dict[str, str] = {}
    for column, name in names.items():
        if name in seen:
            raise ValueError(
                f"Expected each column to get its own {what} name. Received: columns "
                f"{seen[name]!r} and {column!r} both map to {name!r}; set `{what}` for one "
                "of them in the spec."
            )
        seen[name] = column


def check_inputs_and_tasks(inputs: dict[str, str], tasks: dict[str, str]) -> None:
    """Raises if an input and a task get the same name (they would name two layers).

    Args:
        inputs: `{column: input name}` of the features.
        tasks: `{column: task name}` of the targets.
    """
    by_name = {name: column for column, name in inputs.items()}
    for column, task in tasks.items():
        if task in by_name:
            raise ValueError(
                f"Expected different names for inputs and tasks. Received: feature column "
                f"{by_name[task]!r} and target column {column!r} both map to {task!r}; set "
                "`input` for the feature or `task` for the target in the spec."
            )
