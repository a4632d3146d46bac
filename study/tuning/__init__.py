"""Ray Tune + Optuna: the only package that imports ray and optuna (and only in its modules
that run a study; importing this package itself loads neither).

    execute.py     run_study(plan): Tuner, stage 1 of a merge study, study.json (describe)
    cluster.py     join a cluster or start a quiet local Ray (dashboard on 127.0.0.1)
    search.py      Optuna's space and sampler, ASHA
    trainable.py   the Tune trainable around run_trial / run_merge_trial
    recorder.py    the driver-side callback: trials.jsonl rows, running.json, the progress line
    reruns.py      which configurations get seed reruns (run after the search by execute.py)
    trackers.py    --log-to: Ray Tune's own TensorBoard / CSV / JSON / MLflow / W&B callbacks
    budget.py      the parameter budget: proposals over it are skipped
    training_thread.py  trials from Tune's threads train one at a time on one thread
"""
