"""Ray worker_process_setup_hook: import the heavy libraries when a worker process starts.

Ray prestarts idle worker processes; with this hook they import torch/transformers/peft while
idle, so a new trial actor (one per trial, named after it in the dashboard) starts warm.
"""

from __future__ import annotations

import os


def preload() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import BertModel, BertTokenizerFast  # noqa: F401

    import study.trial  # noqa: F401
