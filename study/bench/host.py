"""What a bench run ran on: the host, its CPU and the library versions (the JSON's "meta")."""

from __future__ import annotations

import os
import platform
import time
from typing import Any


def host_meta(quick: bool) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        **cpu_name(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "load_average_before": os.getloadavg(),
    }


def cpu_name() -> dict[str, Any]:
    """The CPU's name and, from /proc/cpuinfo, its family and model: virtual machines often show
    only "AMD EPYC", yet hosts of one name differ (Zen 4, family 25, runs AVX-512 on 256-bit
    units, Zen 5, family 26, on 512-bit ones), and the GEMM peak with them."""
    out = {"cpu": platform.processor() or platform.machine(), "cpu_family": None, "cpu_model": None}
    fields = {"model name": "cpu", "cpu family": "cpu_family", "model": "cpu_model"}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                name = fields.pop(key.strip(), None)
                if name:
                    out[name] = value.strip()
                if not fields or not line.strip():  # the first processor's block is enough
                    break
    except OSError:
        pass
    return out
