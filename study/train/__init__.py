"""One trial, in this process: no Ray, no Optuna.

run.py         run_trial(config, report) -> TrialRecord, and the model a trial trains
loop.py        one training pass over a task's batches; the optimizer
evaluate.py    predictions and dev scores
checkpoint.py  a trial's run folder: config, peft adapters, heads (safetensors)
device.py      device, precision and threads
memory.py      peak memory per trial
"""
