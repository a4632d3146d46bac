"""One trial, in this process: no Ray, no Optuna.

run.py         run_trial(config, report) -> TrialRecord, and the model a trial trains
loop.py        one training pass over a task's batches (TrainingRun: what passes share); the optimizer
stats.py       RunStats: a trial's seconds, phases and peak memory (merge trials' too)
evaluate.py    predictions and dev scores
checkpoint.py  a trial's run folder: config, peft adapters, heads (safetensors)
device.py      device, precision and threads
memory.py      peak memory per trial
"""
