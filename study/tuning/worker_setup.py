"""Ray worker_process_setup_hook: runs once in each worker process, before its trial actor.

It imports torch/transformers/peft, which the trial actor needs, and keeps the main thread's
torch to one thread (below). A local Ray starts no idle workers (tuning/cluster.py), so this
runs when Tune asks for a worker.
"""

from __future__ import annotations

import os


def preload() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401
    from transformers import BertModel, BertTokenizerFast  # noqa: F401

    import study.train.run  # noqa: F401

    # Tune runs each trial in a thread of its own. If this main thread ever ran a parallel op
    # with more threads, libgomp would keep its team alive, count more threads than CPUs and
    # from then on spin only briefly before sleeping between parallel regions, slowing the
    # trial's loop. One thread here keeps the main thread team-less; run_trial sets the trial's
    # own thread count (config.threads) in its thread.
    torch.set_num_threads(1)
