"""The multi-task minBERT: encoder, task heads (Eq. 1-5), adapters, merging, speed-ups.

Knows nothing of studies: it takes plain arguments or the dataclasses of model/spec.py and
raises model/errors.py's errors.
"""
