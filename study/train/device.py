"""Device, precision and thread choices for one trial."""

from __future__ import annotations

import contextlib
import functools
import os

import torch


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def thread_nice() -> int | None:
    """The calling thread's nice value (Linux keeps one per thread; trials record their training
    thread's, since Ray lowers its workers' priority unless told not to), or None without one."""
    return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None


def gpu_name(device: torch.device) -> str | None:
    """The GPU's name on CUDA (what results record), else None."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """avx512_bf16 or AMX on x86 Linux (read from /proc/cpuinfo)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def resolve_precision(precision: str, device: torch.device) -> str:
    """auto -> bf16 on a CPU with fast bf16 (avx512_bf16/AMX), else fp32.

    bf16 is the default only where it is faster and the same trial's dev metrics stay within
    0.01 of fp32's (`study bench` checks both). On CUDA, MiniLM's steps are launch-bound, so
    autocast's extra cast kernels made bf16 slower, and its metrics were further than 0.01 from
    fp32's (study/bench/RESULTS.md); precision=bf16 opts in."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast, or a no-op for fp32. Weights and optimizer state stay fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_threads(threads: int) -> None:
    """torch intra-op threads = the trial's CPUs (0 keeps torch's default)."""
    if threads > 0:
        torch.set_num_threads(threads)
