"""Merging per-task LoRA adapters into one model.

methods.py holds the merge rules as pure tensor functions (λ-weighted sums, TIES, DARE);
saved.py reads saved adapters and builds a merged model from them.
"""
