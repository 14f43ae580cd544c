"""Atomic file writes shared by every package: write to a temporary file beside the target, then rename.

A killed process therefore leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["OutputError", "atomic_path", "atomic_write_bytes", "atomic_write_text"]

_FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
         errno.EFBIG: "the file is larger than this system allows", errno.EROFS: "the file system is read-only"}  # fmt: skip


class OutputError(OSError, ValueError):
    """An output file cannot be written (its path is a folder, the disk is full, the file system is read-only).

    An ``OSError`` with the original ``errno`` for code that handles I/O errors, and a ``ValueError`` like every
    user-facing emovox error, so the command line reports it in one line."""

    def __str__(self) -> str:
        return str(self.strerror)


def _default_mode() -> int:
    """The permissions ``open()`` would give a new file (0o666 less the umask); mkstemp's are 0o600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _default_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is fsynced and renamed onto ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(errno.EISDIR, f"{path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix)
    except OSError as exc:
        error = _output_error(exc, path)
        if error is exc:
            raise
        raise error from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, _MODE)
        os.replace(tmp_path, path)
    except (OSError, RuntimeError) as exc:
        # libsndfile reports a full disk as a RuntimeError ("System error.") without an errno: ask the disk.
        error = _output_error(exc, path) if isinstance(exc, OSError) else exc
        sndfile = type(exc).__module__ == "soundfile"
        if error is exc and (sndfile or isinstance(exc, OSError)) and _nearly_full(path.parent):
            error = OutputError(
                errno.ENOSPC, f"cannot write {path}: {_FULL[errno.ENOSPC]} (nothing was written)"
            )
        if error is exc:
            raise
        raise error from exc
    finally:
        tmp_path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or a platform without signals: keep its file
        return True
    return True


def _sweep_stale(path: Path) -> None:
    """Delete the temporary files that killed writers of ``path`` left beside it (``.NAME.PID.XXXX``, PID no longer
    running), so interrupted runs cannot pile them up; a live writer's file is left alone."""
    prefix = f".{path.name}."
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for p in siblings:
        rest = p.name[len(prefix) :] if p.name.startswith(prefix) else ""
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                p.unlink()


def _nearly_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has less than 1 MiB left (a failed write there ran out of space)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs on Windows
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _output_error(exc: OSError, path: Path) -> OSError:
    """``exc`` as an :class:`OutputError` that names ``path`` and the reason in words, when it is one of the
    conditions a person can fix (full disk, quota, read-only, a folder in the way); otherwise ``exc`` itself."""
    if isinstance(exc, OutputError) or exc.errno is None:
        return exc
    if exc.errno in _FULL:
        return OutputError(exc.errno, f"cannot write {path}: {_FULL[exc.errno]} (nothing was written)")
    if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.EEXIST):
        return OutputError(exc.errno, f"cannot write {path}: a file or folder is in the way ({exc.strerror})")
    return exc


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
