"""Hub-ready exports of a trial: one self-contained folder per task (export.py), with a
standalone head.py that needs no peft-study."""
