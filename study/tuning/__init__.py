"""Ray Tune + Optuna: the only package that imports ray and optuna (and only in its modules
that run a study; importing this package itself loads neither).

    study_plan.py  StudyPlan, what a study needs (built by study/plan.py)
    execute.py     run or resume a study: Tuner, stage 1 of a merge study
    cluster.py     join a cluster or start a quiet local Ray (dashboard on 127.0.0.1)
    search.py      Optuna's space and sampler, ASHA
    trainable.py   the Tune trainable around run_trial / run_merge_trial
    recorder.py    the driver-side callback: trials.jsonl rows and the progress line
    study_meta.py  study.json
"""
