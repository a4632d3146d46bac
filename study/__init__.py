"""peft-study: hyperparameter studies of PEFT for a multi-task BERT (see README.md)."""

import os

# oneDNN keeps up to 1024 compiled primitives (each with its packed bf16 weights) per process by
# default; with dynamic padding every batch length is a new shape, so a CPU trial's resident
# memory grows by hundreds of MB of cached kernels. 32 keeps the hot ones at no cost in step
# time. oneDNN reads this at its first primitive, so setting it on import of `study` is early
# enough; a user's value wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32")

__all__ = ["load_epochs", "load_trials"]


def __getattr__(name: str):  # noqa: ANN202 - pandas loads only when a table is asked for
    if name in __all__:
        from study.records import frame

        return getattr(frame, name)
    raise AttributeError(f"module 'study' has no attribute {name!r}")
