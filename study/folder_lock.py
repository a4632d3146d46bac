"""One study at a time per study folder: an exclusive lock held while a study runs in it.

The lock is fcntl.flock on OUT/.lock, which the kernel releases when the holding process dies,
`kill -9` included, so an interrupted study resumes without cleanup. The file names the holder
(pid, host, command) for the refusal message; its content is never trusted to mean "locked".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from study.errors import UserError

LOCK = ".lock"


@contextlib.contextmanager
def hold_study_folder(folder: str | Path) -> Iterator[None]:
    """Hold the folder's lock for the block; a UserError at once when another process holds it."""
    path = Path(folder) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise UserError(
                f"study folder {folder} is in use by {holder}; wait for it to end, or pass "
                "another --out"
            ) from None
        os.ftruncate(fd, 0)
        command = " ".join(sys.argv)[:200]
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} ({command})".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def holder(folder: str | Path) -> str | None:
    """Who holds the folder's lock now ("pid 123 on host (command)"); None when no live process
    does (never ran, ended, or died: the kernel released it). Takes and drops the lock itself,
    so it never blocks."""
    path = Path(folder) / LOCK
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
