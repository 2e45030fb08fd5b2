"""Staging of export artifacts: written aside, verified, then published by renames.

Every exporter builds its artifact under a hidden name starting with
`.tmp-export-` next to where it will live (a SavedModel version directory, a
`.tflite` / `.onnx` file, `models.config`), and only renames it into place
once it is complete and verified. `export_all` stages every artifact first
and publishes them together, so a failure in one format publishes nothing.

A process killed mid-export leaves its `.tmp-export-*` directory or file
behind. The process that creates one holds an advisory lock (`flock`) on it
until it is renamed or removed; the kernel drops the lock when the process
dies, however it dies. `remove_stale` (run by every export on the
directories it writes to) removes only entries with our prefix whose lock it
can take, i.e. whose creator is gone, and that are older than
`STALE_AFTER_SECONDS` (an entry exists for a moment before its creator locks
it; 10 s covers that moment on a loaded machine).
Where locks are not available (no `fcntl`, or a file system that refuses
them) nothing is removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import time

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, no stale cleanup
    fcntl = None

__all__ = [
    "STALE_AFTER_SECONDS",
    "TMP_PREFIX",
    "StagedFile",
    "TempDir",
    "check_directory",
    "remove_stale",
    "write_atomic",
]

TMP_PREFIX = ".tmp-export-"
STALE_AFTER_SECONDS = 10.0


def _open_locked(path: str) -> int | None:
    """An fd of `path` holding an exclusive lock, or None if held elsewhere / unsupported."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _lock_fd(fd: int) -> None:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:  # a file system without locks: the entry is just never reaped
            if e.errno not in (errno.ENOLCK, errno.EBADF, errno.EINVAL, errno.EOPNOTSUPP):
                raise


class TempDir:
    """A locked `.tmp-export-*` directory in `parent`, published by `rename_to`."""

    def __init__(self, parent: str):
        os.makedirs(parent, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=parent)
        self.published = False
        self._fd = os.open(self.path, os.O_RDONLY)
        _lock_fd(self._fd)

    def rename_to(self, final: str) -> None:
        """Renames the directory to `final` (raises `OSError` if `final` exists)."""
        os.rename(self.path, final)
        self.path = final
        self.published = True
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Removes the directory, unless it was published."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)
        self.release()


class StagedFile:
    """File content to publish at `target`: `write` it aside, then `commit` or `discard`."""

    def __init__(self, target: str, content: bytes):
        self.target = target
        self.content = content
        self._tmp = None
        self._fd = None

    def write(self) -> None:
        """Writes the content to a locked temporary file next to the target."""
        directory = os.path.dirname(self.target)
        os.makedirs(directory, exist_ok=True)
        suffix = os.path.splitext(self.target)[1]
        fd, self._tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=directory)
        self._fd = fd
        _lock_fd(fd)
        try:
            view = memoryview(self.content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        """Renames the temporary file over the target (atomic on one file system)."""
        os.replace(self._tmp, self.target)
        self._tmp = None
        self._close()

    def discard(self) -> None:
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass
            self._tmp = None
        self._close()

    def _close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_atomic(target: str, content: bytes) -> None:
    """Writes `content` to `target` through a locked temporary file and a rename."""
    staged = StagedFile(target, content)
    staged.write()
    try:
        staged.commit()
    except BaseException:
        staged.discard()
        raise


def check_directory(path: str) -> None:
    """Raises `FileExistsError` unless `path` is a directory or can be created as one.

    `path` and every existing ancestor must be directories, not files.
    """
    path = os.path.abspath(path)
    current = path
    while True:
        if os.path.exists(current):
            if not os.path.isdir(current):
                where = "" if current == path else f" (a parent of {path})"
                raise FileExistsError(
                    f"Expected a directory (or nothing) at {current}{where}. Received: a "
                    "file. Nothing was exported."
                )
            return
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent


def remove_stale(directory: str) -> list[str]:
    """Removes `.tmp-export-*` entries in `directory` left by dead exports.

    Args:
        directory: A directory exports write to (nothing happens if it does
            not exist).

    Returns:
        The paths removed.
    """
    if fcntl is None or not os.path.isdir(directory):
        return []
    removed = []
    now = time.time()
    for name in sorted(os.listdir(directory)):
        if not name.startswith(TMP_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or now - info.st_mtime < STALE_AFTER_SECONDS:
            continue
        fd = _open_locked(path)
        if fd is None:  # a live export holds it (or locks are unavailable)
            continue
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
            removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
