"""The minBERT data: files -> tokens (disk-cached) -> subsamples -> length-bucketed batches.

files.py        read the tab-separated files, with one-line errors for bad ones
batching.py     tokenized splits (flat arrays), training/evaluation batches, collate
token_cache.py  each data file tokenized once per tokenizer, on disk
splits.py       a trial's per-task train/dev subsamples
"""
