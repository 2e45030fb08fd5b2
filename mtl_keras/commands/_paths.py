"""Output-path checks for the `mtl-keras` verbs, run before any training or export.

A run must not train for minutes and then fail to save: every verb checks
each path it will write (a directory it will create or fill, a file it will
create) before it loads data or a model.
"""

from __future__ import annotations

import os

__all__ = ["check_new_path", "check_output_dir", "check_output_file"]


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _check_creatable(path: str, flag: str) -> None:
    """`path` does not exist yet: its nearest existing ancestor is a writable directory."""
    ancestor = _nearest_existing(path)
    if not os.path.isdir(ancestor):
        raise NotADirectoryError(
            f"Expected {flag} under a directory. Received: {flag}={path!r}, but {ancestor!r} "
            "is a file.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Expected {flag} in a writable location. Received: {flag}={path!r}, but "
            f"{ancestor!r} is not writable.")


def check_output_dir(path: str, flag: str) -> None:
    """Checks that `path` is a writable directory, or can be created as one.

    Args:
        path: The directory a verb will create (if missing) and write into.
        flag: The command-line flag that gave it, for the message (`"--out"`).

    Raises:
        ValueError: An empty path.
        FileExistsError: `path` is an existing file.
        NotADirectoryError: An ancestor of `path` is a file.
        PermissionError: `path` (or its nearest existing ancestor) is not writable.
    """
    if not path:
        raise ValueError(f"Expected {flag} to be a directory path. Received: {flag}={path!r}")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise FileExistsError(
                f"Expected {flag} to be a directory. Received: {flag}={path!r} is an existing "
                "file.")
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(
                f"Expected {flag} to be writable. Received: {flag}={path!r} is not writable.")
        return
    _check_creatable(path, flag)


def check_new_path(path: str, flag: str, what: str = "file") -> None:
    """Checks that `path` does not exist and can be created (nothing is overwritten).

    Args:
        path: A file (or directory) the verb will create.
        flag: The flag that decides where it goes, for the message.
        what: What will be written there, for the message (`"model"`).

    Raises:
        FileExistsError: `path` exists.
        NotADirectoryError, PermissionError: As in `check_output_dir`.
    """
    if os.path.lexists(path):
        raise FileExistsError(
            f"Expected a new location for the {what}. Received: {path!r} already exists "
            f"(choose another {flag}; nothing was overwritten).")
    _check_creatable(path, flag)


def check_output_file(path: str, flag: str) -> None:
    """Checks that `path` can be written as a file (replacing a file is allowed).

    Raises:
        IsADirectoryError: `path` is a directory.
        NotADirectoryError, PermissionError: As in `check_output_dir`.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Expected {flag} to be a file path. Received: {flag}={path!r} is a directory.")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise PermissionError(
                f"Expected {flag} to be writable. Received: {flag}={path!r} is not writable.")
        return
    _check_creatable(path, flag)
