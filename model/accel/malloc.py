"""glibc malloc settings for a long-lived CPU training process.

glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so after the
first big activation tensor almost every allocation comes from its heaps, which fragment as
batch shapes change and never shrink. Pinning the threshold at 4 MiB sends the big activation
blocks to mmap, which returns them on free. Pinning it also pins the trim threshold at 128 KiB,
which hands a heap's top back on almost every free for the next step to fault in again, so the
trim threshold is raised too; memory is given back between task passes instead
(release_free_memory). Both calls do nothing where glibc is not in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 256 << 20  # free memory a heap's top keeps until release_free_memory


@functools.lru_cache(maxsize=1)
def libc() -> ctypes.CDLL | None:
    """glibc, or None (another libc or platform)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        lib.mallopt  # noqa: B018 - glibc only (musl has neither)
        lib.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return lib


def available() -> str | None:
    return None if libc() is not None else "glibc's mallopt is not available here"


@functools.lru_cache(maxsize=1)
def limit_heap_growth() -> bool:
    """Once per process: fixed 4 MiB mmap threshold and 256 MiB trim threshold."""
    lib = libc()
    return bool(
        lib is not None
        and lib.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and lib.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def release_free_memory() -> None:
    """Return the heaps' free pages to the system (cheap between task passes, not per step)."""
    lib = libc()
    if lib is not None:
        lib.malloc_trim(0)
