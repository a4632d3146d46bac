"""Peak memory of a trial, counted per trial even in a reused worker process."""

from __future__ import annotations

import gc

from model.accel.malloc import release_free_memory


def start_trial_memory() -> None:
    """Free what an earlier trial in this process left, then restart the peak-RSS count, so
    that a reused worker reports each trial's own peak (Linux: clear_refs 5 resets VmHWM)."""
    gc.collect()
    release_free_memory()
    import torch

    if torch.cuda.is_initialized():  # a reused worker's GPU peak too
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start_trial_memory (else since exec), in MiB:
    VmHWM of /proc/self/status (ru_maxrss would carry the RSS of the parent that forked us)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_gpu_mb() -> float | None:
    """Peak GPU memory torch allocated since start_trial_memory, in MiB (None without CUDA)."""
    import torch

    if not torch.cuda.is_initialized():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)
